/**
 * One sync in its own process, for the benchmark: `node dist/bench/syncChild.js [--collections a,b] [--full]`.
 *
 * Settings come from the environment (the orchestrator sets them and NODE_EXTRA_CA_CERTS, which Node reads only at
 * start). The sync is the production one: `createSyncService(loadSettings(process.env)).runAll()`. The only
 * additions are timestamps: GraphReader.prototype.getPage and the TableClients' submitTransaction (and the few other
 * calls the engine makes) are wrapped to record when they start and end; that costs microseconds per call, against
 * milliseconds per request. Prints one line `BENCH_RESULT <json>` (see childProtocol.ts) and exits.
 */
const scriptStartAt = performance.now(); // TypeScript keeps statement order: this runs before the requires below

import type { TableClient, TransactionAction } from '@azure/data-tables';
import { Command } from 'commander';
import { loadSettings } from '../src/config/settings';
import { GraphReader } from '../src/graph/graphReader';
import { catalogOf } from '../src/domain/collection';
import { COLLECTION_NAMES, DEFAULT_CATALOG, isCollectionName, type CollectionName } from '../src/domain/collections';
import type { Logger } from '../src/domain/logger';
import type { RunSummary } from '../src/domain/runs';
import { createSyncService } from '../src/sync/service';
import {
  RESULT_PREFIX,
  type FetchTiming,
  type OtherTableCall,
  type ProgressTiming,
  type SyncChildResult,
  type TransactionTiming,
} from './childProtocol';
import { ownCpuMs } from './cpu';

const loadedAt = performance.now(); // the project's modules (SDKs included) are loaded
const rssAtLoad = process.memoryUsage.rss();
const heapAtLoad = process.memoryUsage().heapUsed;

interface Options {
  collections: CollectionName[];
  full?: boolean;
  untracked?: boolean;
  verbose?: boolean;
}

const fetches: FetchTiming[] = [];
const transactions: TransactionTiming[] = [];
const otherTableCalls: OtherTableCall[] = [];
const progress: ProgressTiming[] = [];

function instrumentGraph(): void {
  const original = GraphReader.prototype.getPage;
  GraphReader.prototype.getPage = async function (this: GraphReader, url: string) {
    const entry: FetchTiming = { start: performance.now(), end: 0, records: 0, ok: false };
    fetches.push(entry);
    try {
      const page = await original.call(this, url);
      entry.records = page.records.length;
      entry.ok = true;
      return page;
    } finally {
      entry.end = performance.now();
    }
  };
}

const OTHER_METHODS = ['createTable', 'createEntity', 'updateEntity', 'upsertEntity', 'getEntity', 'deleteEntity'] as const;

function instrumentTable(client: TableClient, table: TransactionTiming['table']): void {
  const submit = client.submitTransaction.bind(client);
  client.submitTransaction = async (actions: TransactionAction[], options?: Parameters<TableClient['submitTransaction']>[1]) => {
    const entry: TransactionTiming = {
      table,
      start: performance.now(),
      end: 0,
      actions: actions.length,
      kind: String(actions[0]?.[0] ?? ''),
      ok: false,
      progressBefore: progress.length,
    };
    transactions.push(entry);
    try {
      const result = await submit(actions, options);
      entry.ok = true;
      return result;
    } finally {
      entry.end = performance.now();
    }
  };
  for (const method of OTHER_METHODS) {
    const target = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const original = target[method]!.bind(client);
    target[method] = async (...args: unknown[]) => {
      const entry: OtherTableCall = { table, method, start: performance.now(), end: 0 };
      otherTableCalls.push(entry);
      try {
        return await original(...args);
      } finally {
        entry.end = performance.now();
      }
    };
  }
  const list = client.listEntities.bind(client);
  client.listEntities = ((options?: Parameters<TableClient['listEntities']>[0]) => {
    otherTableCalls.push({ table, method: 'listEntities', start: performance.now(), end: performance.now() });
    return list(options);
  }) as TableClient['listEntities'];
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('syncChild')
    .option(
      '--collections <names>',
      `comma-separated: ${COLLECTION_NAMES.join(', ')}`,
      (value: string) =>
        value.split(',').map((name) => {
          if (!isCollectionName(name)) throw new Error(`unknown collection ${name}`);
          return name;
        }),
      ['riskDetections'] as CollectionName[],
    )
    .option('--full', 'ignore the watermark')
    .option('--untracked', 'bench only: the default catalog without tracked properties (no change rows), to measure what change tracking costs')
    .option('--verbose', 'a line on stderr per page stored')
    .parse(argv);
  const opts = program.opts<Options>();

  // Peak RSS sampled as well (resourceUsage().maxRSS is the authoritative figure; the series shows its shape).
  let sampledPeak = 0;
  let peakHeap = 0;
  const rssSeries: [number, number][] = [];
  let lastKept = -Infinity;
  const sample = () => {
    const rss = process.memoryUsage.rss();
    sampledPeak = Math.max(sampledPeak, rss);
    const now = performance.now();
    if (now - lastKept >= 250) {
      const heap = process.memoryUsage().heapUsed;
      peakHeap = Math.max(peakHeap, heap);
      rssSeries.push([Math.round(now), round(rss / 2 ** 20)]);
      lastKept = now;
    }
  };
  const sampler = setInterval(sample, 50);
  sampler.unref();

  instrumentGraph();
  const catalog = opts.untracked ? catalogOf(DEFAULT_CATALOG.collections.map((c) => ({ ...c, tracked: [] }))) : DEFAULT_CATALOG;
  const service = createSyncService(loadSettings(process.env, catalog));
  for (const name of COLLECTION_NAMES) instrumentTable(service.tables.collections[name], 'data');
  instrumentTable(service.tables.state, 'state');
  instrumentTable(service.tables.runs, 'runs');

  const log: Logger = {
    info: (m) => process.stderr.write(`${m}\n`),
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
    error: (m) => process.stderr.write(`error: ${m}\n`),
  };
  const runOptions = {
    trigger: 'bench',
    full: opts.full,
    onProgress: (p: { collection: string; pages: number; read: number; elapsedMs: number }) => {
      progress.push({ at: performance.now(), pages: p.pages, records: p.read });
      if (opts.verbose) process.stderr.write(`progress ${p.collection} ${p.pages} pages ${p.read} records ${p.elapsedMs} ms\n`);
    },
  };
  const cpuBefore = ownCpuMs();
  const syncStartMs = performance.now();
  // As `risk-sync sync -d <collection>` and the timer: each collection followed by its children (riskyUsers by its
  // history), so a first pass here leaves the next run nothing to read.
  const summaries: RunSummary[] = await service.runAll(opts.collections, runOptions, log);
  const syncEndMs = performance.now();
  const cpuMs = ownCpuMs() - cpuBefore;
  clearInterval(sampler);
  sample();

  const result: SyncChildResult = {
    kind: 'sync',
    summaries,
    maxRssKB: process.resourceUsage().maxRSS,
    cpuMs,
    sampledPeakRssMB: round(sampledPeak / 2 ** 20),
    rssSeries,
    peakHeapUsedMB: round(peakHeap / 2 ** 20),
    atLoadMB: { rss: round(rssAtLoad / 2 ** 20), heapUsed: round(heapAtLoad / 2 ** 20) },
    timings: { timeOrigin: performance.timeOrigin, scriptStartMs: scriptStartAt, loadedMs: loadedAt, syncStartMs, syncEndMs },
    fetches,
    transactions,
    otherTableCalls,
    progress,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  return summaries.every((s) => s.outcome === 'succeeded') ? 0 : 1;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

main(process.argv).then(
  // Exit once the result line is flushed: a pipe takes a large write in several chunks.
  (code) => void process.stdout.write('', () => process.exit(code)),
  (error: unknown) => {
    process.stderr.write(`syncChild failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(2);
  },
);
