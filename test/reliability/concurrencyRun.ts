import { fixedServices } from '../../src/app/services';
import { buildFunctions } from '../../src/app/functions';
import { startLocalHost } from '../../tools/host/localHost';
import { COLLECTION_NAMES, type CollectionName } from '../../src/domain/collections';
import { startStorageProxy, type StorageProxy } from '../../tools/storage-proxy/storageProxy';
import { checkFinal, type RunRecordOfTest } from './invariants';
import { applyMutations, Clock, Prng, seedTenant } from './mutations';
import { completion, quietLogger, sleep, TABLES, type CliResult, type World } from './world';

/**
 * Several syncs of the same tenant and collections started together (CLI processes), and a timer run of the local
 * Functions host overlapping a manual `risk-sync sync`: every process exits cleanly (0), one writer at a time per
 * collection, the tables are exact. Each sync talks to Azurite through a proxy of its own that records when it wrote
 * rows of each collection: the spans from first to last write of two syncs never overlap.
 */
export interface ConcurrencyResult {
  seed: number;
  runs: number;
  violations: string[];
}

const ENV = { SYNC_LEASE_SECONDS: '3', GRAPH_MAX_RPS: '25', GRAPH_REQUEST_TIMEOUT_SECONDS: '2', GRAPH_RETRY_BASE_MS: '20' };

interface Summary {
  collection: CollectionName;
  runId: string;
  outcome: string;
  error?: string;
}

export async function runConcurrency(world: World, seed: number, processes?: number): Promise<ConcurrencyResult> {
  const rng = new Prng(`concurrency:${seed}`);
  const result: ConcurrencyResult = { seed, runs: 0, violations: [] };
  const label = (s: string) => `seed ${seed} concurrency ${s}`;
  const records: RunRecordOfTest[] = [];
  await world.reset(seed, { pageSize: rng.pick([20, 50]) });
  seedTenant(world.emulator, seed, { users: rng.int(20, 60), detections: rng.int(500, 1200) });

  const read = (name: string, outcome: CliResult): Summary[] => {
    try {
      const summaries = JSON.parse(outcome.stdout) as Summary[];
      // 3: a live run held a collection's lease (the CLI says so); anything else but 0 is a failure.
      const expected = summaries.some((s) => s.outcome === 'skipped') ? 3 : 0;
      if (outcome.code !== expected)
        result.violations.push(
          `${label(name)}: exited ${outcome.code} (${outcome.signal ?? ''}), expected ${expected}: ${outcome.stderr.slice(-300)}`,
        );
      for (const s of summaries) records.push({ ...s, label: name });
      return summaries;
    } catch {
      result.violations.push(`${label(name)}: printed no JSON summary: ${outcome.stderr.slice(-300)}`);
      return [];
    }
  };

  // 1. N CLI syncs started together.
  const n = processes ?? rng.int(3, 4);
  const proxies: StorageProxy[] = [];
  const own = async () => {
    const proxy = await startStorageProxy({ port: world.azurite.port }, { record: true, azureLimits: true });
    proxies.push(proxy);
    return { ...ENV, TABLES_CONNECTION_STRING: proxy.connectionString };
  };
  try {
    const envs = await Promise.all(Array.from({ length: n }, own));
    const outcomes = await Promise.all(envs.map((env) => completion(world.spawnCli(['sync', '--json'], env))));
    result.runs += n * COLLECTION_NAMES.length;
    const summaries = outcomes.flatMap((o, i) => read(`cli ${i + 1}/${n}`, o));
    for (const collection of COLLECTION_NAMES) {
      const mine = summaries.filter((s) => s.collection === collection);
      if (!mine.some((s) => s.outcome === 'succeeded'))
        result.violations.push(`${label('together')}: no run of ${collection} succeeded: ${mine.map((s) => s.outcome).join(', ')}`);
      const bad = mine.filter((s) => s.outcome !== 'succeeded' && s.outcome !== 'skipped');
      if (bad.length > 0) result.violations.push(`${label('together')}: ${collection} outcomes ${mine.map((s) => s.outcome).join(', ')}`);
    }
    result.violations.push(...oneWriterAtATime(proxies, label('together')));
    result.violations.push(...(await checkFinal(world, records, label('together'))));
    for (const p of proxies.splice(0)) await p.close();

    // 2. A timer run of the local host overlapping a manual sync (new data first, so both have work).
    applyMutations(
      world.emulator,
      [
        { kind: 'add', n: rng.int(100, 400) },
        { kind: 'update', collection: 'riskyUsers', n: 10 },
      ],
      rng,
      new Clock(),
    );
    // Every collection is due at every tick: the one timer runs them all.
    const service = world.service({ ...(await own()), SYNC_SCHEDULE_RISK_DETECTIONS: '* * * * * *', SYNC_SCHEDULE_RISKY_USERS: '* * * * * *' });
    const host = await startLocalHost({ functions: buildFunctions(service.settings, fixedServices(service)), port: 0, log: quietLogger });
    try {
      const timer = host.runTimer('sync');
      await sleep(rng.int(0, 400));
      const cli = completion(world.spawnCli(['sync', '--json'], await own()));
      const [, manual] = await Promise.all([timer, cli]);
      result.runs += 1 + COLLECTION_NAMES.length;
      read('manual sync overlapping the timer', manual);
    } finally {
      await host.close();
    }
    // The timer's own run is in SyncRuns (trigger 'timer'); its outcome is checked with the others.
    for (const row of await world.runs('riskDetections')) {
      if (row.trigger === 'timer')
        records.push({
          collection: 'riskDetections',
          runId: String(row.runId),
          outcome: String(row.outcome),
          error: row.error as string | undefined,
          label: 'timer',
        });
    }
    const timerRuns = records.filter((r) => r.label === 'timer');
    if (timerRuns.length !== 1 || !['succeeded', 'skipped'].includes(timerRuns[0]!.outcome)) {
      result.violations.push(
        `${label('timer')}: expected one timer run that succeeded or stepped aside, got ${timerRuns.map((r) => r.outcome).join(', ') || 'none'}`,
      );
    }
    const manualDetections = records.filter((r) => r.label.startsWith('manual') && r.collection === 'riskDetections');
    if (![...timerRuns, ...manualDetections].some((r) => r.outcome === 'succeeded'))
      result.violations.push(`${label('timer')}: neither the timer nor the manual sync wrote riskDetections`);
    result.violations.push(...oneWriterAtATime(proxies, label('timer + manual')));
    result.violations.push(...(await checkFinal(world, records, label('timer + manual'))));
  } finally {
    for (const p of proxies) await p.close();
  }
  return result;
}

/** Per collection, the spans from first to last row write of each sync (one proxy each) never overlap. */
function oneWriterAtATime(proxies: StorageProxy[], label: string): string[] {
  const violations: string[] = [];
  for (const collection of COLLECTION_NAMES) {
    const table = TABLES[collection as keyof typeof TABLES];
    const spans = proxies
      .map((p, i) => {
        const writes = p.log.filter((e) => e.kind === 'batch' && e.tables.includes(table) && e.status < 300).map((e) => e.at);
        return writes.length > 0 ? { writer: i + 1, from: Math.min(...writes), to: Math.max(...writes) } : undefined;
      })
      .filter((s) => s !== undefined)
      .sort((a, b) => a.from - b.from);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i]!.from < spans[i - 1]!.to) {
        violations.push(`${label}: ${collection} was written by syncs ${spans[i - 1]!.writer} and ${spans[i]!.writer} at the same time`);
      }
    }
  }
  return violations;
}
