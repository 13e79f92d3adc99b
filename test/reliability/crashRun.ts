import type { ChildProcess } from 'node:child_process';
import { COLLECTION_NAMES, type CollectionName } from '../../src/domain/collections';
import type { ProxiedRequest } from '../../tools/storage-proxy/storageProxy';
import { checkAfterRun, checkFinal, type RunRecordOfTest, type Watermarks } from './invariants';
import { applyMutations, Clock, Prng, seedTenant } from './mutations';
import { completion, sleep, TABLES, type CliResult, type World } from './world';

/**
 * Kill -9 of a CLI sync at seeded moments, then runs again until one succeeds: the tables must be exact every time.
 *
 * Moments, by time or by what the sync is doing (seen by the storage proxy, which holds the request while the process
 * is killed, then drops it or its answer):
 *  - `time`: after a random delay;
 *  - `checkpoint`: right after the first checkpoint of a pass at or past page k is committed;
 *  - `page-write`: in the middle of a page's transactions (one committed, the next one in flight);
 *  - `watermark-before` / `watermark-after`: while committing the end of a pass (the SyncState transaction that moves
 *    the watermark and drops the checkpoint), before it reaches the store, or after it committed;
 *  - `run-row`: right after the run wrote its `running` SyncRuns row.
 */
export const KILL_MODES = ['time', 'checkpoint', 'page-write', 'watermark-before', 'watermark-after', 'run-row'] as const;
export type KillMode = (typeof KILL_MODES)[number];

export interface CrashResult {
  seed: number;
  kills: number;
  runs: number;
  modes: Partial<Record<KillMode, number>>;
  violations: string[];
  log: string[];
}

const LEASE_SECONDS = 3;
const ENV = {
  SYNC_LEASE_SECONDS: String(LEASE_SECONDS),
  GRAPH_MAX_RPS: '40',
  GRAPH_REQUEST_TIMEOUT_SECONDS: '2',
  GRAPH_RETRY_BASE_MS: '20',
  SYNC_LOOKBACK_MINUTES: '0',
  SYNC_CHECKPOINT_SECONDS: '0', // a checkpoint after every page: the 'checkpoint' kills can pick any of the first four
};

/** A state transaction of a collection (the SyncState row in a $batch). */
const stateBatch = (r: ProxiedRequest, collection: string) =>
  r.kind === 'batch' && r.tables.includes(TABLES.state) && r.body.includes(`"RowKey":"${collection}"`);

export async function runCrashSeed(world: World, seed: number, kills: number, modes: readonly KillMode[] = KILL_MODES): Promise<CrashResult> {
  const rng = new Prng(`crash:${seed}`);
  const result: CrashResult = { seed, kills: 0, runs: 0, modes: {}, violations: [], log: [] };
  const log = (line: string) => result.log.push(line);
  await world.reset(seed, { pageSize: rng.pick([20, 50, 100]) });
  seedTenant(world.emulator, seed, { users: rng.int(20, 80), detections: rng.int(400, 1500) });
  const clock = new Clock();
  const watermarks: Watermarks = {};
  const records: RunRecordOfTest[] = [];
  const label = (s: string) => `seed ${seed} crash ${s}`;

  const collect = (name: string, outcome: CliResult) => {
    result.runs += COLLECTION_NAMES.length;
    let summaries: { collection: CollectionName; runId: string; outcome: string; error?: string }[];
    try {
      summaries = JSON.parse(outcome.stdout);
    } catch {
      result.violations.push(
        `${label(name)}: the CLI printed no JSON summary (exit ${outcome.code}, ${outcome.signal ?? 'no signal'}): ${outcome.stderr.slice(-400)}`,
      );
      return [];
    }
    for (const s of summaries) records.push({ collection: s.collection, runId: s.runId, outcome: s.outcome, error: s.error, label: name });
    const failed = summaries.filter((s) => s.outcome !== 'succeeded' && s.outcome !== 'skipped');
    const expectedCode = failed.length > 0 ? 1 : 0;
    if (outcome.code !== expectedCode)
      result.violations.push(
        `${label(name)}: the CLI exited ${outcome.code} for outcomes ${summaries.map((s) => `${s.outcome}${s.error ? ` (${s.error})` : ''}`).join(', ')}`,
      );
    return summaries;
  };

  for (let k = 1; k <= kills; k++) {
    if (k > 1 && rng.chance(0.7))
      applyMutations(
        world.emulator,
        [
          { kind: 'update', collection: 'riskDetections', n: rng.int(1, 30) },
          { kind: 'add', n: rng.int(1, 40) },
        ],
        rng,
        clock,
      );
    const mode = rng.pick(modes);
    const child = world.spawnCli(['sync', '--json'], ENV);
    const done = completion(child);
    let killed = false;
    const kill = () => {
      if (!killed && child.exitCode === null) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    arm(world, child, mode, rng, kill);
    const outcome = await done;
    world.proxy.clearHooks();
    await world.proxy.idle();
    if (outcome.signal === 'SIGKILL') {
      result.kills++;
      result.modes[mode] = (result.modes[mode] ?? 0) + 1;
      log(`kill ${k}: ${mode}`);
    } else {
      log(`kill ${k}: ${mode} did not fire (exit ${outcome.code})`);
      collect(`kill ${k} (${mode}, not killed)`, outcome);
    }
    result.violations.push(...(await checkAfterRun(world, 0, watermarks, label(`after kill ${k} (${mode})`))));
    await sleep(LEASE_SECONDS * 1000 + 150); // the killed run's lease runs out
  }

  for (let attempt = 1; ; attempt++) {
    const outcome = await completion(world.spawnCli(['sync', '--json'], ENV));
    const summaries = collect(`rerun ${attempt}`, outcome);
    result.violations.push(...(await checkAfterRun(world, 0, watermarks, label(`rerun ${attempt}`))));
    if (summaries.length > 0 && summaries.every((s) => s.outcome === 'succeeded')) break;
    if (attempt >= 3) {
      result.violations.push(
        `${label('rerun')}: no successful run after ${attempt} attempts: ${summaries.map((s) => `${s.outcome} ${s.error ?? ''}`).join('; ')}`,
      );
      break;
    }
    await sleep(LEASE_SECONDS * 1000 + 150);
  }
  result.violations.push(...(await checkFinal(world, records, label('final'))));
  return result;
}

function arm(world: World, child: ChildProcess, mode: KillMode, rng: Prng, kill: () => void): void {
  const collection = rng.pick(COLLECTION_NAMES);
  const killThen = (decision: 'drop') => {
    kill();
    return new Promise<'drop'>((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve(decision) : child.once('exit', () => resolve(decision)),
    );
  };
  switch (mode) {
    case 'time': {
      const timer = setTimeout(kill, rng.int(100, 2500));
      child.once('exit', () => clearTimeout(timer));
      break;
    }
    case 'checkpoint': {
      const at = rng.int(1, 4);
      world.proxy.addHook({
        // Checkpoints are written in the background and coalesce (pages stored together, or while one is being
        // written, give one checkpoint): the first one at or past page `at`.
        match: (r) =>
          stateBatch(r, 'riskDetections') && r.body.includes('"passJson"') && Number(/"passPages":(\d+)[,}]/.exec(r.body)?.[1] ?? 0) >= at,
        after: () => killThen('drop'),
      });
      break;
    }
    case 'page-write': {
      let seen = 0;
      const nth = rng.int(1, 6);
      world.proxy.addHook({
        match: (r) => r.kind === 'batch' && r.tables.includes(TABLES.riskDetections) && ++seen >= nth,
        before: () => killThen('drop'),
      });
      break;
    }
    case 'watermark-before':
    case 'watermark-after': {
      world.proxy.addHook({
        // The release of a successful pass: no checkpoint, no active run, the outcome of this run.
        match: (r) =>
          stateBatch(r, collection) &&
          !r.body.includes('"passJson"') &&
          !r.body.includes('"activeRunId"') &&
          r.body.includes('"lastOutcome":"succeeded"'),
        ...(mode === 'watermark-before' ? { before: () => killThen('drop') } : { after: () => killThen('drop') }),
      });
      break;
    }
    case 'run-row': {
      world.proxy.addHook({
        match: (r) => r.kind === 'write' && r.tables.includes(TABLES.runs) && r.body.includes('"outcome":"running"'),
        after: () => killThen('drop'),
      });
      break;
    }
  }
}
