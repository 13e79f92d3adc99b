/**
 * The figures issues 10 and 14 ask of the bench:
 * - change tracking: the same 10,000-record backfill with the default catalog and with a catalog whose collections
 *   track no property (no change rows; bench-only switch of syncChild), in fresh worlds, alternating; overhead =
 *   tracked / untracked - 1 on the median times;
 * - a history pass: 2,000 risky users whose risk changed since the last run, at a tenant budget of `rps` requests/s
 *   (emulator throttling on at that rate, GRAPH_MAX_RPS the same): graphRatio over the history requests;
 * - the sweep: a tenant with `perDay` detections a day, synced; then `risk-sync sync --sweep` at 1 request/s reads
 *   the 72 hours behind the watermark: its requests and seconds.
 */
import { generateRiskDetections, generateRiskyUsers, seedRiskyUsers, type RequestLogEntry } from '../tools/emulator';
import type { SyncChildResult } from './childProtocol';
import { cliSync, median } from './processes';
import { loadavg } from './startup';
import { runChild, startWorld, type World } from './world';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export interface TrackingRun {
  tracked: boolean;
  durationMs: number;
  records: number;
  transactions: number;
  peakRssMB: number;
}

export interface TrackingFigures {
  n: number;
  runs: TrackingRun[];
  medianTrackedMs: number;
  medianUntrackedMs: number;
  /** medianTracked / medianUntracked - 1. */
  overhead: number;
  loadAverage: number[];
}

/** A 10,000-detection backfill, unthrottled, with and without change tracking: `repeat` pairs, alternating order. */
export async function changeTracking(n: number, seed: number, repeat: number, log: (m: string) => void): Promise<TrackingFigures> {
  const loadAverage = loadavg();
  const runs: TrackingRun[] = [];
  const to = new Date();
  const records = generateRiskDetections(n, { seed, from: new Date(to.getTime() - 90 * DAY_MS), to: new Date(to.getTime() - HOUR_MS) });
  for (let i = 0; i < repeat; i++) {
    for (const tracked of i % 2 === 0 ? [true, false] : [false, true]) {
      const world = await startWorld({ throttling: false, seed, settings: { GRAPH_MAX_RPS: '100' } });
      try {
        world.emulator.upsert('riskDetections', records);
        const run = await runChild<SyncChildResult>(
          'syncChild',
          ['--collections', 'riskDetections', ...(tracked ? [] : ['--untracked'])],
          world.env(),
          600_000,
        );
        const [summary] = run.result.summaries;
        if (run.exitCode !== 0 || summary!.outcome !== 'succeeded' || summary!.read !== n) {
          throw new Error(`change tracking (${tracked ? 'on' : 'off'}): ${summary?.outcome} ${summary?.read} records\n${run.stderr}`);
        }
        runs.push({
          tracked,
          durationMs: summary!.durationMs!,
          records: summary!.read,
          transactions: summary!.transactions,
          peakRssMB: Math.round((run.result.maxRssKB / 1024) * 10) / 10,
        });
        log(`  ${tracked ? 'tracked  ' : 'untracked'} ${n} records in ${summary!.durationMs} ms`);
      } finally {
        await world.close();
      }
    }
  }
  const medianTrackedMs = median(runs.filter((r) => r.tracked).map((r) => r.durationMs));
  const medianUntrackedMs = median(runs.filter((r) => !r.tracked).map((r) => r.durationMs));
  return { n, runs, medianTrackedMs, medianUntrackedMs, overhead: medianTrackedMs / medianUntrackedMs - 1, loadAverage };
}

/** Every Graph request the emulator logs while `during` runs (its log keeps the last 1,000: read every second). */
async function collectRequests<T>(world: World, during: () => Promise<T>): Promise<{ value: T; log: RequestLogEntry[] }> {
  const seen = new Map<string, RequestLogEntry>();
  const take = () => {
    for (const e of world.emulator.requestLog()) seen.set(`${e.at}|${e.url}|${e.status}|${e.clientRequestId ?? ''}`, e);
  };
  const timer = setInterval(take, 1000);
  try {
    const value = await during();
    take();
    return { value, log: [...seen.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at)) };
  } finally {
    clearInterval(timer);
  }
}

export interface HistoryFigures {
  users: number;
  rps: number;
  historyRequests: number;
  historyRows: number;
  /** First -> last history request at the emulator (ms). */
  historyMs: number;
  /** (history requests - 1) / rps / (first -> last history request). */
  graphRatio: number;
  graph429: number;
  /** The whole run: Graph requests, spawn -> exit. */
  requests: number;
  wallMs: number;
  loadAverage: number[];
}

/** A run after `users` risky users changed: their history read at a budget of `rps` requests/s. */
export async function historyPass(users: number, rps: number, seed: number, log: (m: string) => void): Promise<HistoryFigures> {
  const world = await startWorld({ throttling: false, seed, settings: { GRAPH_MAX_RPS: '100' } });
  try {
    const to = new Date(Date.now() - 2 * HOUR_MS);
    const seeded = generateRiskyUsers(users, { seed, from: new Date(to.getTime() - 30 * DAY_MS), to });
    seedRiskyUsers(world.emulator, seeded, { seed });
    await cliSync(['-d', 'riskyUsers'], world.env(), 900_000);
    // Every user dismissed by an admin a minute ago: a new version and a new history item each.
    const at = new Date(Date.now() - 60_000).toISOString();
    world.emulator.upsert(
      'riskyUsers',
      seeded.map((u) => ({
        ...u,
        riskState: 'dismissed',
        riskLevel: 'none',
        riskDetail: 'adminDismissedAllRiskForUser',
        riskLastUpdatedDateTime: at,
      })),
      { history: { initiatedBy: '9c3e1f5a-0000-4000-8000-000000000001', riskEventTypes: [], detail: 'adminDismissedAllRiskForUser' } },
    );
    world.emulator.setThrottling({ enabled: true, rps });
    world.emulator.resetStats();
    const loadAverage = loadavg();
    log(`  history pass over ${users} changed users at ${rps} requests/s (~${Math.ceil(users / rps)} s)...`);
    const { value: run, log: requests } = await collectRequests(world, () =>
      cliSync(['-d', 'riskyUsers'], world.env({ GRAPH_MAX_RPS: String(rps) }), 120_000 + (users / rps) * 3000),
    );
    const history = requests.filter((e) => e.listener === 'graph' && e.route === 'riskyUsers/history');
    const graph = requests.filter((e) => e.listener === 'graph');
    const first = Date.parse(history[0]!.at);
    const last = Date.parse(history[history.length - 1]!.at);
    const summary = run.summaries.find((s) => s.collection === 'riskyUserHistory');
    const figures: HistoryFigures = {
      users,
      rps,
      historyRequests: history.length,
      historyRows: summary?.read ?? 0,
      historyMs: last - first,
      graphRatio: (history.length - 1) / rps / ((last - first) / 1000),
      graph429: graph.filter((e) => e.status === 429).length,
      requests: graph.length,
      wallMs: run.wallMs,
      loadAverage,
    };
    log(`  ${figures.historyRequests} history requests in ${figures.historyMs} ms: graphRatio ${figures.graphRatio.toFixed(3)}`);
    return figures;
  } finally {
    await world.close();
  }
}

export interface SweepFigures {
  perDay: number;
  lookbackHours: number;
  records: number;
  requests: number;
  pages: number;
  read: number;
  sweepFound: number;
  /** Spawn -> exit of the sweeping run, and first -> last Graph request. */
  wallMs: number;
  pacingMs: number;
  graph429: number;
  /** At the default SYNC_SWEEP_HOURS (6): 4 sweeps a day. */
  requestsPerDay: number;
  loadAverage: number[];
}

/** A tenant with `perDay` detections a day over the last 72 h, synced; then a sweep at 1 request/s. */
export async function sweepCost(perDay: number, seed: number, log: (m: string) => void): Promise<SweepFigures> {
  const lookbackHours = 72;
  const world = await startWorld({ throttling: false, seed, settings: { GRAPH_MAX_RPS: '100' } });
  try {
    const now = Date.now();
    const records = Math.round((perDay * lookbackHours) / 24);
    // Detected and last updated within the 72 h (an hour clear of now), as such a tenant's last three days.
    const detections = generateRiskDetections(records, {
      seed,
      from: new Date(now - lookbackHours * HOUR_MS + HOUR_MS),
      to: new Date(now - HOUR_MS),
    });
    world.emulator.upsert('riskDetections', detections);
    log(`  ${records} detections (${perDay} a day for ${lookbackHours} h): first sync...`);
    await cliSync(['-d', 'riskDetections'], world.env(), 900_000);
    world.emulator.setThrottling({ enabled: true, rps: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    world.emulator.resetStats();
    const loadAverage = loadavg();
    log(`  sweep at 1 request/s...`);
    const { value: run, log: requests } = await collectRequests(world, () =>
      cliSync(['--sweep', '-d', 'riskDetections'], world.env({ GRAPH_MAX_RPS: '1' }), 120_000 + (records / 500) * 3000),
    );
    const [summary] = run.summaries;
    const graph = requests.filter((e) => e.listener === 'graph');
    if (!summary!.sweep) throw new Error('sweep: the run did not sweep');
    const figures: SweepFigures = {
      perDay,
      lookbackHours,
      records,
      requests: summary!.requests,
      pages: summary!.pages,
      read: summary!.read,
      sweepFound: summary!.sweepFound ?? 0,
      wallMs: run.wallMs,
      pacingMs: Date.parse(graph[graph.length - 1]!.at) - Date.parse(graph[0]!.at),
      graph429: graph.filter((e) => e.status === 429).length,
      requestsPerDay: summary!.requests * 4,
      loadAverage,
    };
    log(`  sweep: ${figures.requests} requests, ${figures.read} records re-read, ${figures.wallMs} ms`);
    return figures;
  } finally {
    await world.close();
  }
}
