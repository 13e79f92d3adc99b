/**
 * The snapshot API under load (issue 15): the local Functions host (`risk-sync serve`, its own process, the same
 * handlers as in Azure) over 5,000 stored detections and 400 risky users; a load generator (bench/loadChild.ts, its
 * own process) at a fixed rate per route, one route at a time; then the same while a sync writes into the same
 * tables. The sync is a `risk-sync sync` process at Graph's budget (1 request/s, 500 new records a page), as the timer
 * runs on its own instances on Flex Consumption. On Azure neither the sync nor the storage account shares the API's
 * CPU; here all of them share 2 cores, so while the sync writes it and Azurite run at a lower priority (`syncingNice`,
 * 0 for equal terms) and the host and the load generator get the CPU first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { generateRiskDetections, generateRiskyUsers } from '../tools/emulator';
import type { LoadChildResult } from './childProtocol';
import { BARE_CWD, CLI, cliSync } from './processes';
import { loadavg } from './startup';
import { CLI_NODE_FLAGS, runChild, startWorld, track, type World } from './world';

const DAY_MS = 86_400_000;

export const ROUTES = ['/api/snapshot', '/api/snapshot/riskDetections?riskLevel=high&top=100', '/api/health'] as const;

export interface RouteLoad {
  route: string;
  /** The request before the load (ms): it reads storage when the route's cached state is too old to answer from. */
  firstMs: number;
  requests: number;
  latencyMs: LoadChildResult['latencyMs'];
  sendLagMs: LoadChildResult['sendLagMs'];
  errors: number;
  timeouts: number;
  non2xx: number;
  statuses: Record<string, number>;
}

export interface SnapshotLoadFigures {
  detections: number;
  users: number;
  rate: number;
  seconds: number;
  idle: RouteLoad[];
  /** While a sync wrote: its pages and records during the measurements, and whether it was still writing at the end. */
  syncing: RouteLoad[];
  sync: { pagesDuring: number; stillWritingAtEnd: boolean; nice: number };
  loadAverage: { idle: number[]; syncing: number[] };
}

interface Host {
  url: string;
  child: ChildProcess;
  close(): Promise<void>;
}

async function startHost(world: World): Promise<Host> {
  const child = spawn(process.execPath, [...CLI_NODE_FLAGS, CLI, 'serve', '--port', '0'], {
    env: world.env(),
    cwd: BARE_CWD,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const untrack = track(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-10_000)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the local host did not listen within 30 s:\n${stderr}`)), 30_000);
    child.on('message', (m: { type?: string; url?: string }) => {
      if (m.type === 'listening' && m.url) {
        clearTimeout(timer);
        resolve(m.url);
      }
    });
    child.once('exit', (code) => reject(new Error(`the local host exited (${code}):\n${stderr}`)));
  });
  return {
    url,
    child,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => {
          untrack();
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/**
 * One route at a fixed rate. One request goes first, as a warm instance's traffic would have made it: the route's
 * cached state may have been read more than MAX_STALE_MS before its measurement begins (no request read it meanwhile), and that
 * first request then waits for a fresh read, as a monitor that polls every minute does. Its time is reported
 * (`firstMs`), not mixed into the load's figures: the load counts each request's latency from when it was due, so one
 * second of waiting would count as 200 late requests.
 */
async function load(host: Host, route: string, rate: number, seconds: number, env: NodeJS.ProcessEnv): Promise<RouteLoad> {
  const sentAt = performance.now();
  const first = await fetch(`${host.url}${route}`);
  await first.arrayBuffer();
  const firstMs = Math.round(performance.now() - sentAt);
  const run = await runChild<LoadChildResult>(
    'loadChild',
    ['--url', `${host.url}${route}`, '--rate', String(rate), '--seconds', String(seconds)],
    env,
    seconds * 1000 + 60_000,
  );
  const r = run.result;
  return {
    route,
    firstMs,
    requests: r.requests,
    latencyMs: r.latencyMs,
    sendLagMs: r.sendLagMs,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    statuses: r.statuses,
  };
}

export async function snapshotLoad(
  seed: number,
  options: { rate: number; seconds: number; detections: number; users: number; syncingNice: number },
  log: (m: string) => void,
): Promise<SnapshotLoadFigures> {
  const { rate, seconds } = options;
  const world = await startWorld({ throttling: false, seed, settings: { GRAPH_MAX_RPS: '100' } });
  let host: Host | undefined;
  let sync: ChildProcess | undefined;
  try {
    const to = new Date();
    const from = new Date(to.getTime() - 90 * DAY_MS);
    const users = generateRiskyUsers(options.users, { seed, from, to: new Date(to.getTime() - 7_200_000) });
    world.emulator.upsert('riskyUsers', users);
    world.emulator.upsert(
      'riskDetections',
      generateRiskDetections(options.detections, { seed, users, from, to: new Date(to.getTime() - 7_200_000) }),
    );
    await cliSync([], world.env(), 600_000);
    host = await startHost(world);
    // The first request of each route loads its modules and the clients: not what a warm instance answers with.
    for (const route of ROUTES) {
      const response = await fetch(`${host.url}${route}`);
      await response.arrayBuffer();
      if (route !== '/api/health' && response.status !== 200) throw new Error(`${route} answered ${response.status} before the load`);
    }
    const env = world.env();
    const idleLoad = loadavg();
    const idle: RouteLoad[] = [];
    for (const route of ROUTES) {
      idle.push(await load(host, route, rate, seconds, env));
      log(`  idle ${route}: p99 ${idle[idle.length - 1]!.latencyMs.p99} ms`);
    }

    // Enough new records for a sync that writes through all three measurements at 1 page (500 records) a second.
    const pagesNeeded = Math.ceil((ROUTES.length * (seconds + 3) + 15) * 1.1);
    const now = Date.now();
    world.emulator.upsert(
      'riskDetections',
      generateRiskDetections(pagesNeeded * 500, { seed: seed + 1, users, from: new Date(now - 30 * DAY_MS), to: new Date(now - 60_000) }).map(
        (d) => ({
          ...d,
          lastUpdatedDateTime: new Date(now - 30_000).toISOString(),
        }),
      ),
    );
    world.emulator.setThrottling({ enabled: true, rps: 1 });
    world.emulator.resetStats();
    sync = spawn(process.execPath, [...CLI_NODE_FLAGS, CLI, 'sync', '-d', 'riskDetections'], {
      env: world.env({ GRAPH_MAX_RPS: '1' }),
      cwd: BARE_CWD,
      stdio: 'ignore',
    });
    const untrackSync = track(sync);
    if (options.syncingNice > 0) for (const pid of [sync.pid, world.azurite.process.pid]) if (pid) os.setPriority(pid, options.syncingNice);
    const accepted = () => world.emulator.stats().accepted;
    // Writing: the first page is stored and the next ones keep coming.
    while (accepted() < 3) {
      if (sync.exitCode !== null) throw new Error(`the sync that was to write during the load exited (${sync.exitCode}) before its third page`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const pagesBefore = accepted();
    const syncingLoad = loadavg();
    const syncing: RouteLoad[] = [];
    for (const route of ROUTES) {
      syncing.push(await load(host, route, rate, seconds, env));
      log(`  syncing ${route}: p99 ${syncing[syncing.length - 1]!.latencyMs.p99} ms`);
    }
    const stillWritingAtEnd = sync.exitCode === null;
    const pagesDuring = accepted() - pagesBefore;
    sync.kill('SIGTERM');
    await new Promise<void>((resolve) => (sync!.exitCode !== null ? resolve() : sync!.once('exit', () => resolve())));
    untrackSync();
    return {
      detections: options.detections,
      users: options.users,
      rate,
      seconds,
      idle,
      syncing,
      sync: { pagesDuring, stillWritingAtEnd, nice: options.syncingNice },
      loadAverage: { idle: idleLoad, syncing: syncingLoad },
    };
  } finally {
    if (sync && sync.exitCode === null) sync.kill('SIGKILL');
    await host?.close();
    await world.close();
  }
}
