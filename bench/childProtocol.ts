/**
 * What the bench's child processes print: one line `BENCH_RESULT <json>` on stdout. Shared by the children and the
 * orchestrator (types and the parser only; no side effects, cheap to load).
 */
import type { RunSummary } from '../src/domain/runs';
import type { FixedRateResult } from './fixedRateLoad';

export const RESULT_PREFIX = 'BENCH_RESULT ';

/** Times are `performance.now()` of the child: milliseconds since its process started (performance.timeOrigin). */
export interface FetchTiming {
  start: number;
  end: number;
  records: number;
  ok: boolean;
}

export interface TransactionTiming {
  /** 'data' (the collection's table), 'state' (SyncState: checkpoints, lease, release), 'runs' (SyncRuns). */
  table: 'data' | 'state' | 'runs';
  start: number;
  end: number;
  actions: number;
  /** The kind of the first action (create, upsert, update...). */
  kind: string;
  ok: boolean;
  /** Pages whose onProgress had fired when the transaction started (data: it belongs to page `progressBefore + 1`). */
  progressBefore: number;
}

export interface ProgressTiming {
  at: number;
  pages: number;
  records: number;
}

export interface OtherTableCall {
  table: 'data' | 'state' | 'runs';
  method: string;
  start: number;
  end: number;
}

export interface SyncChildResult {
  kind: 'sync';
  summaries: RunSummary[];
  /** process.resourceUsage().maxRSS: peak resident set of the child, in KB (Linux). */
  maxRssKB: number;
  /** CPU time of the child during run()/runAll() (ms). */
  cpuMs: number;
  /** Largest RSS seen by a 50 ms sampler (MB), and samples every ~250 ms [ms since start, MB]. */
  sampledPeakRssMB: number;
  rssSeries: [number, number][];
  peakHeapUsedMB: number;
  /** RSS and heap used once the modules were loaded, before the sync (MB): what the process costs before any data. */
  atLoadMB: { rss: number; heapUsed: number };
  timings: {
    /** performance.timeOrigin of the child (ms since the epoch): converts its times to wall-clock time. */
    timeOrigin: number;
    /** When the child's script started executing (Node itself booted), ms since process start. */
    scriptStartMs: number;
    /** When the project's modules (and the SDKs) were loaded. */
    loadedMs: number;
    /** When run()/runAll() was called and when it resolved (ms since process start). */
    syncStartMs: number;
    syncEndMs: number;
  };
  fetches: FetchTiming[];
  transactions: TransactionTiming[];
  otherTableCalls: OtherTableCall[];
  progress: ProgressTiming[];
}

export interface CeilingChildResult {
  kind: 'ceiling';
  rows: number;
  partitions: number;
  transactions: number;
  readMs: number;
  writeMs: number;
  maxRssKB: number;
  /** CPU time of the ceiling child while writing, and of Azurite (when its pid was given) while writing (ms). */
  cpuMs: number;
  azuriteCpuMs?: number;
}

/** What bench/fixedRateLoad.ts measured (timeouts: no answer 10 s after a request was due), and where. */
export interface LoadChildResult extends FixedRateResult {
  kind: 'load';
  url: string;
  rate: number;
  seconds: number;
}

export type ChildResult = SyncChildResult | CeilingChildResult | LoadChildResult;

export function parseChildResult(stdout: string): ChildResult | undefined {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(RESULT_PREFIX));
  return line ? (JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult) : undefined;
}
