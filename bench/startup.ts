/**
 * Start-up, idle runs and a short paced run, each a real process timed from its spawn (issue 15):
 * - the built Functions entry point loaded in a fresh process, 5 times;
 * - `risk-sync sync -d <collection>` with nothing new, 5 times per top-level collection, as the one timer's ticks run
 *   them (each collection has its own schedule, so a tick normally runs one): spawn -> first Graph request at the
 *   emulator (start-up), spawn -> exit, and the Graph requests the run made; then once with every collection;
 * - a first sync of 12 pages at 1 request/s through the CLI, spawn -> exit: graphRatio = (pages - 1) s / that time.
 */
import os from 'node:os';
import { generateRiskDetections, generateRiskyUsers } from '../tools/emulator';
import { detectionsOver90Days } from './data';
import { cliSync, loadEntry, median, type CliSummary, type EntryLoad } from './processes';
import { startWorld, type World } from './world';

const DAY_MS = 86_400_000;
/** Between two runs, as between two timer ticks: the next process does not start inside the last request's window. */
const PAUSE_MS = 1100;

export interface EntryFigures {
  runs: EntryLoad[];
  medianRequireMs: number;
  medianSinceStartMs: number;
  modules: number;
}

export interface IdleRun {
  collections: string[];
  /** Spawn -> the first Graph request at the emulator; spawn -> the token request; spawn -> exit (ms). */
  firstRequestMs: number;
  tokenRequestMs: number;
  wallMs: number;
  graphRequests: number;
  /** Graph requests by route (riskDetections, riskyUsers, riskyUsers/history). */
  byRoute: Record<string, number>;
  graph429: number;
  summaries: Pick<CliSummary, 'collection' | 'requests' | 'pages' | 'read' | 'new' | 'updated' | 'unchanged'>[];
}

export interface StartupFigures {
  entry: EntryFigures;
  /** 5 idle runs of each top-level collection, alternating; then one run of every collection. */
  idle: Record<string, IdleRun[]>;
  all: IdleRun;
  medianFirstRequestMs: number;
  medianIdleWallMs: Record<string, number>;
  loadAverage: number[];
}

export interface EndToEndFigures {
  records: number;
  pages: number;
  requests: number;
  wallMs: number;
  /** (pages - 1) s / spawn -> exit. */
  graphRatio: number;
  firstRequestMs: number;
  /** First -> last Graph request at the emulator, and last request -> exit. */
  pacingMs: number;
  afterLastRequestMs: number;
  graph429: number;
  loadAverage: number[];
}

const round = (n: number) => Math.round(n * 10) / 10;

function graphEntries(world: World, since: number) {
  return world.emulator.requestLog().filter((e) => Date.parse(e.at) >= since);
}

async function idleRun(world: World, collections: string[]): Promise<IdleRun> {
  world.emulator.resetStats();
  const args = collections.flatMap((c) => ['-d', c]);
  const run = await cliSync(args, world.env());
  const log = graphEntries(world, run.spawnedAt);
  const graph = log.filter((e) => e.listener === 'graph');
  const token = log.find((e) => e.listener === 'token');
  const byRoute: Record<string, number> = {};
  for (const e of graph) byRoute[e.route] = (byRoute[e.route] ?? 0) + 1;
  return {
    collections: run.summaries.map((s) => s.collection),
    firstRequestMs: graph.length ? Date.parse(graph[0]!.at) - run.spawnedAt : NaN,
    tokenRequestMs: token ? Date.parse(token.at) - run.spawnedAt : NaN,
    wallMs: run.wallMs,
    graphRequests: graph.length,
    byRoute,
    graph429: graph.filter((e) => e.status === 429).length,
    summaries: run.summaries.map(({ collection, requests, pages, read, new: created, updated, unchanged }) => ({
      collection,
      requests,
      pages,
      read,
      new: created,
      updated,
      unchanged,
    })),
  };
}

/** Entry point loads and idle CLI runs, in one world at Graph's budget. */
export async function startup(seed: number, log: (m: string) => void, repeat = 5): Promise<StartupFigures> {
  const loadAverage = loadavg();
  const world = await startWorld({ throttling: false, seed, settings: { GRAPH_MAX_RPS: '100' } });
  try {
    const entryRuns: EntryLoad[] = [];
    for (let i = 0; i < repeat; i++) entryRuns.push(await loadEntry(world.env()));
    log(`  Functions entry point: require ${Math.round(median(entryRuns.map((r) => r.requireMs)))} ms (median of ${repeat})`);

    const to = new Date();
    const users = generateRiskyUsers(50, { seed, from: new Date(to.getTime() - 30 * DAY_MS), to: new Date(to.getTime() - 3_600_000) });
    world.emulator.upsert('riskyUsers', users);
    // Not clamped on one instant (see detectionsOver90Days): the lookback re-reads what a tenant's would.
    world.emulator.upsert('riskDetections', detectionsOver90Days(2000, seed, new Date(to.getTime() - 3_600_000), users));
    // The first sync (unthrottled: it reads every user's history) gives every collection a watermark.
    await cliSync([], world.env());
    world.emulator.setThrottling({ enabled: true, rps: 1 });
    const idleEnv = world.env({ GRAPH_MAX_RPS: '1' });
    const idle: Record<string, IdleRun[]> = { riskDetections: [], riskyUsers: [] };
    const idleWorld = { ...world, env: () => idleEnv };
    for (let i = 0; i < repeat; i++) {
      for (const collection of Object.keys(idle)) {
        await sleep(PAUSE_MS);
        idle[collection]!.push(await idleRun(idleWorld, [collection]));
      }
    }
    await sleep(PAUSE_MS);
    const all = await idleRun(idleWorld, []);
    const medianIdleWallMs = Object.fromEntries(Object.entries(idle).map(([c, runs]) => [c, median(runs.map((r) => r.wallMs))]));
    const medianFirstRequestMs = median(Object.values(idle).flatMap((runs) => runs.map((r) => r.firstRequestMs)));
    log(
      `  idle runs: first Graph request ${Math.round(medianFirstRequestMs)} ms after spawn (median), done ${Object.entries(medianIdleWallMs)
        .map(([c, ms]) => `${c} ${Math.round(ms)} ms`)
        .join(', ')}`,
    );
    return {
      entry: {
        runs: entryRuns.map((r) => ({ ...r, requireMs: round(r.requireMs), sinceStartMs: round(r.sinceStartMs) })),
        medianRequireMs: round(median(entryRuns.map((r) => r.requireMs))),
        medianSinceStartMs: round(median(entryRuns.map((r) => r.sinceStartMs))),
        modules: entryRuns[0]!.modules,
      },
      idle,
      all,
      medianFirstRequestMs,
      medianIdleWallMs,
      loadAverage,
    };
  } finally {
    await world.close();
  }
}

/** A first sync of `records` detections (12 pages of 500 by default) at 1 request/s, through the CLI. */
export async function endToEnd(seed: number, records: number, log: (m: string) => void): Promise<EndToEndFigures> {
  const loadAverage = loadavg();
  const world = await startWorld({ throttling: true, rps: 1, seed });
  try {
    const to = new Date();
    world.emulator.upsert(
      'riskDetections',
      generateRiskDetections(records, { seed, from: new Date(to.getTime() - 60 * DAY_MS), to: new Date(to.getTime() - 3_600_000) }),
    );
    world.emulator.resetStats();
    const run = await cliSync(['-d', 'riskDetections'], world.env(), 120_000 + records * 10);
    const [summary] = run.summaries;
    if (summary!.read !== records) throw new Error(`end to end: ${summary!.read} records stored, ${records} were seeded`);
    const graph = world.emulator.requestLog().filter((e) => e.listener === 'graph');
    const first = Date.parse(graph[0]!.at);
    const last = Date.parse(graph[graph.length - 1]!.at);
    const figures: EndToEndFigures = {
      records,
      pages: summary!.pages,
      requests: summary!.requests,
      wallMs: run.wallMs,
      graphRatio: (summary!.pages - 1) / (run.wallMs / 1000),
      firstRequestMs: first - run.spawnedAt,
      pacingMs: last - first,
      afterLastRequestMs: run.exitedAt - last,
      graph429: graph.filter((e) => e.status === 429).length,
      loadAverage,
    };
    log(`  ${figures.pages} pages, spawn -> exit ${figures.wallMs} ms: graphRatio ${figures.graphRatio.toFixed(3)}`);
    return figures;
  } finally {
    await world.close();
  }
}

export function loadavg(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
