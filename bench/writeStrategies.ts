/**
 * Diagnostic: the storage path alone, written several ways, each into its own fresh Azurite, to see what the engine's
 * write loop costs against the ideal and what a change would gain. `node dist/bench/writeStrategies.js [--n 10000]
 * [--rounds 2]`. Not part of `npm run bench`; see docs/benchmark.md ("Where the time goes").
 *
 * The rows are what the sync stores: the emulator's Graph-shaped detections, in a shuffled order (Graph returns them
 * in no order), mapped with the engine's toEntity, cut into pages of 500. No Graph here: only mapping and writing.
 *
 * - ceiling: every row mapped beforehand (untimed), grouped by partition, 100 per transaction, 4 in flight;
 * - per-page: the engine before issue 5's changes: map a page, write it (EntityWriter, 4 in flight), wait for all of
 *   it, save a checkpoint (CollectionStateStore.save), next page;
 * - engine: what src/sync/engine.ts does: one EntityWriter across pages (4 transactions in flight across page
 *   boundaries, full transactions across pages, at most two pages unfinished) and a background checkpoint
 *   (CollectionStateStore.checkpoint) whenever the pages up to one are stored;
 * - engine-no-checkpoint: the same without the checkpoints.
 */
import { systemClock } from '../src/domain/clock';
import { startPass } from '../src/sync/plan';
import { randomUUID } from 'node:crypto';
import { TableClient, type TransactionAction } from '@azure/data-tables';
import { Command, InvalidArgumentError } from 'commander';
import { generateRiskDetections, startGraphEmulator, Prng } from '../tools/emulator';
import { startAzurite, type Azurite } from '../tools/azurite/azurite';
import { emptyAggregates } from '../src/domain/aggregates';
import { toEntity, type Entity } from '../src/store/entityMapping';
import { EntityWriter } from '../src/store/entityWriter';
import { CollectionStateStore, type CollectionState } from '../src/store/syncState';
import { COLLECTIONS } from '../src/domain/collections';
import { fromDate } from '../src/domain/datetime';
import { ownCpuMs, processCpuMs } from './cpu';

const PAGE = 500;
const BATCH = 100;
const IN_FLIGHT = 4;
const TENANT = '5b0a4a4e-8d1c-4f7a-9e61-3c3f1e0d2a11';
const collection = COLLECTIONS.riskDetections;

type Record_ = Record<string, unknown>;
type StrategyName = 'ceiling' | 'per-page' | 'engine' | 'engine-no-checkpoint';
const STRATEGIES: StrategyName[] = ['ceiling', 'per-page', 'engine', 'engine-no-checkpoint'];

interface Outcome {
  ms: number;
  transactions: number;
  checkpoints: number;
}

interface Ctx {
  data: TableClient;
  store: CollectionStateStore;
  state: CollectionState;
  pages: Record_[][];
}

const map = (record: Record_): Entity => toEntity(collection, record, TENANT, fromDate(new Date())).entity;

/** Same partition, at most 100: the cut the engine's writer makes (without its byte limit, never reached here). */
function toBatches(entities: Entity[]): Entity[][] {
  const byPartition = new Map<string, Entity[]>();
  for (const e of entities) {
    const list = byPartition.get(e.partitionKey) ?? [];
    list.push(e);
    byPartition.set(e.partitionKey, list);
  }
  const batches: Entity[][] = [];
  for (const list of byPartition.values()) for (let i = 0; i < list.length; i += BATCH) batches.push(list.slice(i, i + BATCH));
  return batches;
}

const checkpointOf = (ctx: Ctx, page: number): CollectionState => ({
  ...ctx.state,
  pass: {
    ...startPass({ kind: 'backfill', lookbackMinutes: 30, sweepLookbackHours: 72, pageSize: PAGE, now: Date.now(), runId: 'bench' }),
    nextLink: `https://graph.example/next/${page}`,
    pages: page + 1,
    records: (page + 1) * PAGE,
  },
});

async function ceiling(ctx: Ctx): Promise<Outcome> {
  const batches = toBatches(ctx.pages.flat().map(map));
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < batches.length) await ctx.data.submitTransaction(batches[next++]!.map((e): TransactionAction => ['create', e]));
    }),
  );
  return { ms: performance.now() - start, transactions: batches.length, checkpoints: 0 };
}

const mapPage = (page: Record_[]) => page.map((r) => toEntity(collection, r, TENANT, fromDate(new Date())));

async function perPage(ctx: Ctx): Promise<Outcome> {
  const start = performance.now();
  const writer = new EntityWriter(ctx.data, { collection, parallelism: IN_FLIGHT });
  let saves = 0;
  for (let p = 0; p < ctx.pages.length; p++) {
    await writer.add(mapPage(ctx.pages[p]!));
    await writer.flush();
    if (p < ctx.pages.length - 1) {
      await ctx.store.save(checkpointOf(ctx, p));
      saves++;
    }
  }
  return { ms: performance.now() - start, transactions: writer.transactions, checkpoints: saves };
}

async function engine(ctx: Ctx, checkpoints: boolean): Promise<Outcome> {
  const start = performance.now();
  let saves = 0;
  const writer = new EntityWriter(ctx.data, {
    collection,
    parallelism: IN_FLIGHT,
    onStored: (p) => {
      if (!checkpoints || p === ctx.pages.length - 1) return;
      saves++;
      ctx.store.checkpoint(checkpointOf(ctx, p));
    },
  });
  for (let p = 0; p < ctx.pages.length; p++) await writer.add(mapPage(ctx.pages[p]!));
  await writer.flush();
  return { ms: performance.now() - start, transactions: writer.transactions, checkpoints: saves };
}

async function runStrategy(name: StrategyName, pages: Record_[][]): Promise<Outcome & { azuriteCpuMs?: number; ownCpuMs: number }> {
  const azurite: Azurite = await startAzurite();
  try {
    const client = (table: string) => TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });
    const data = client(collection.defaultTable);
    const stateTable = client('SyncState');
    await Promise.all([data.createTable(), stateTable.createTable()]);
    const store = new CollectionStateStore(stateTable, TENANT, collection.name, { leaseMs: 120_000, clock: systemClock });
    const lease = await store.tryAcquire(randomUUID());
    if (!lease.acquired) throw new Error('lease not acquired');
    const ctx: Ctx = { data, store, state: { ...lease.state, aggregates: emptyAggregates() }, pages };
    const azBefore = processCpuMs(azurite.process.pid);
    const cpuBefore = ownCpuMs();
    let outcome: Outcome;
    if (name === 'ceiling') outcome = await ceiling(ctx);
    else if (name === 'per-page') outcome = await perPage(ctx);
    else outcome = await engine(ctx, name === 'engine');
    const azAfter = processCpuMs(azurite.process.pid);
    await store.release(ctx.state);
    let stored = 0;
    for await (const page of data.listEntities({ queryOptions: { select: ['RowKey'] } }).byPage({ maxPageSize: 1000 })) stored += page.length;
    const expected = pages.reduce((sum, p) => sum + p.length, 0);
    if (stored !== expected) throw new Error(`${name}: ${stored} rows stored, ${expected} expected`);
    return {
      ...outcome,
      ownCpuMs: ownCpuMs() - cpuBefore,
      azuriteCpuMs: azBefore !== undefined && azAfter !== undefined ? azAfter - azBefore : undefined,
    };
  } finally {
    await azurite.stop();
  }
}

async function main(argv: string[]): Promise<void> {
  const positive = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
    return n;
  };
  const opts = new Command('writeStrategies')
    .option('--n <count>', 'rows', positive, 10_000)
    .option('--rounds <count>', 'rounds (strategies rotate their order each round)', positive, 2)
    .option('--seed <n>', 'seed', positive, 1)
    .option('--json', 'JSON on stdout')
    .parse(argv)
    .opts<{ n: number; rounds: number; seed: number; json?: boolean }>();

  const emulator = await startGraphEmulator({ throttling: false });
  let records: Record_[];
  try {
    const to = new Date();
    emulator.upsert('riskDetections', generateRiskDetections(opts.n, { seed: opts.seed, from: new Date(to.getTime() - 90 * 86_400_000), to }));
    records = new Prng(opts.seed).shuffle(emulator.list('riskDetections', { visibleOnly: true }) as unknown as Record_[]);
  } finally {
    await emulator.close();
  }
  const pages: Record_[][] = [];
  for (let i = 0; i < records.length; i += PAGE) pages.push(records.slice(i, i + PAGE));

  // Warm-up (JIT, sockets), discarded: otherwise the first strategy of the first round pays for it.
  await runStrategy('engine', pages.slice(0, 4));
  const results = new Map<StrategyName, (Outcome & { azuriteCpuMs?: number; ownCpuMs: number })[]>();
  for (let round = 0; round < opts.rounds; round++) {
    const order = STRATEGIES.map((_, i) => STRATEGIES[(i + round) % STRATEGIES.length]!);
    for (const name of order) {
      const outcome = await runStrategy(name, pages);
      process.stderr.write(`round ${round + 1} ${name}: ${Math.round(outcome.ms)} ms, ${outcome.transactions} transactions\n`);
      results.set(name, [...(results.get(name) ?? []), outcome]);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const ceilingMs = median(results.get('ceiling')!.map((o) => o.ms));
  const ceilingMin = Math.min(...results.get('ceiling')!.map((o) => o.ms));
  const rows = STRATEGIES.map((name) => {
    const runs = results.get(name)!;
    const ms = median(runs.map((o) => o.ms));
    return {
      strategy: name,
      medianMs: Math.round(ms),
      minMs: Math.round(Math.min(...runs.map((o) => o.ms))),
      runsMs: runs.map((o) => Math.round(o.ms)),
      ratio: Math.round((ceilingMs / ms) * 1000) / 1000,
      ratioOfMins: Math.round((ceilingMin / Math.min(...runs.map((o) => o.ms))) * 1000) / 1000,
      transactions: runs[0]!.transactions,
      checkpoints: runs[0]!.checkpoints,
      azuriteCpuMs: median(runs.map((o) => o.azuriteCpuMs ?? NaN)),
      writerCpuMs: Math.round(median(runs.map((o) => o.ownCpuMs))),
    };
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ n: opts.n, rounds: opts.rounds, rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`\nStorage path only, N=${opts.n}, ${opts.rounds} round(s); ratio = ceiling / strategy (of medians, of minimums)\n`);
  process.stdout.write(
    `${'strategy'.padEnd(32)}${'median'.padStart(9)}${'min'.padStart(9)}${'ratio'.padStart(7)}${'r(min)'.padStart(7)}${'tx'.padStart(5)}${'ckpt'.padStart(5)}${'Azurite CPU'.padStart(12)}${'writer CPU'.padStart(11)}   runs (ms)\n`,
  );
  for (const r of rows) {
    process.stdout.write(
      `${r.strategy.padEnd(32)}${`${r.medianMs} ms`.padStart(9)}${`${r.minMs} ms`.padStart(9)}${r.ratio.toFixed(3).padStart(7)}${r.ratioOfMins.toFixed(3).padStart(7)}${String(r.transactions).padStart(5)}${String(r.checkpoints).padStart(5)}${`${r.azuriteCpuMs} ms`.padStart(12)}${`${r.writerCpuMs} ms`.padStart(11)}   ${r.runsMs.join(', ')}\n`,
    );
  }
}

main(process.argv).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`writeStrategies failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
