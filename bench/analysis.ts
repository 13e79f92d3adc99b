/**
 * Where a sync's time went, from the child's timestamps (one collection per child, no restarts).
 *
 * The engine's loop for page k: await page k (fetched while page k-1 was written) -> map -> writeRecords (data
 * transactions, 4 in flight) -> onProgress -> checkpoint (one SyncState transaction) -> page k+1. Its critical path
 * is split into:
 * - setup: run() called -> first Graph request (tables, lease, SyncRuns row, first state save);
 * - waitGraph: checkpoint of page k-1 done -> page k arrived (0 when the prefetch was already there);
 * - map: page k available -> its first data transaction starts (toEntity of 500 records, batching);
 * - write: first data transaction starts -> writeRecords done (onProgress);
 * - checkpoint: onProgress -> the SyncState transaction done;
 * - finish: the last page stored -> run() resolved (release of the lease, the SyncRuns row).
 */
import type { SyncChildResult } from './childProtocol';

export interface Breakdown {
  pages: number;
  totalMs: number;
  setupMs: number;
  waitGraphMs: number;
  mapMs: number;
  writeMs: number;
  checkpointMs: number;
  finishMs: number;
  /** Pages whose next page was not there yet when their checkpoint was done. */
  pagesWaitingForGraph: number;
  graphRequestMs: { avg: number; p50: number; p95: number; max: number };
  dataTransactions: number;
  /** Data transactions with fewer than 100 actions. */
  partialTransactions: number;
  avgActionsPerTransaction: number;
  avgTransactionsPerPage: number;
  dataTransactionMs: { avg: number; p50: number; p95: number; max: number };
  /** State transactions: checkpoints after pages, plus the first save and the release. */
  stateTransactions: number;
  checkpointTransactionMs: { avg: number; p50: number; p95: number; max: number };
  runsTableCalls: number;
  otherTableCalls: Record<string, number>;
  /** Average data transactions in flight while the engine was writing (ideal: 4). */
  avgInFlightWhileWriting: number;
}

export function analyse(child: SyncChildResult): Breakdown | undefined {
  const { fetches, transactions, progress, timings } = child;
  if (progress.length === 0 || fetches.length < progress.length) return undefined;
  const data = transactions.filter((t) => t.table === 'data');
  const state = transactions.filter((t) => t.table === 'state');
  let waitGraph = 0;
  let map = 0;
  let write = 0;
  let checkpoint = 0;
  let pagesWaiting = 0;
  let inFlightArea = 0;
  const setup = fetches[0]!.start - timings.syncStartMs;
  let prevEnd = fetches[0]!.start;
  for (let k = 1; k <= progress.length; k++) {
    const ready = fetches[k - 1]!.end;
    const written = progress[k - 1]!.at;
    const tx = data.filter((t) => t.progressBefore === k - 1);
    const firstWrite = tx.length > 0 ? Math.min(...tx.map((t) => t.start)) : written;
    const available = Math.max(prevEnd, ready);
    if (ready > prevEnd && k > 1) pagesWaiting++;
    waitGraph += Math.max(0, ready - prevEnd);
    map += Math.max(0, firstWrite - available);
    write += written - firstWrite;
    inFlightArea += tx.reduce((sum, t) => sum + (t.end - t.start), 0);
    if (k < progress.length) {
      const save = state.find((t) => t.progressBefore === k);
      const end = save ? save.end : written;
      checkpoint += end - written;
      prevEnd = end;
    } else {
      prevEnd = written;
    }
  }
  const finish = timings.syncEndMs - prevEnd;
  const other: Record<string, number> = {};
  for (const c of child.otherTableCalls) other[`${c.table}.${c.method}`] = (other[`${c.table}.${c.method}`] ?? 0) + 1;
  const dataActions = data.reduce((s, t) => s + t.actions, 0);
  const checkpoints = state.filter((t) => t.progressBefore >= 1 && t.progressBefore < progress.length);
  return {
    pages: progress.length,
    totalMs: timings.syncEndMs - timings.syncStartMs,
    setupMs: setup,
    waitGraphMs: waitGraph,
    mapMs: map,
    writeMs: write,
    checkpointMs: checkpoint,
    finishMs: finish,
    pagesWaitingForGraph: pagesWaiting,
    graphRequestMs: stats(fetches.map((f) => f.end - f.start)),
    dataTransactions: data.length,
    partialTransactions: data.filter((t) => t.actions < 100).length,
    avgActionsPerTransaction: data.length ? dataActions / data.length : 0,
    avgTransactionsPerPage: data.length / progress.length,
    dataTransactionMs: stats(data.map((t) => t.end - t.start)),
    stateTransactions: state.length,
    checkpointTransactionMs: stats(checkpoints.map((t) => t.end - t.start)),
    runsTableCalls: child.otherTableCalls.filter((c) => c.table === 'runs').length + transactions.filter((t) => t.table === 'runs').length,
    otherTableCalls: other,
    avgInFlightWhileWriting: write > 0 ? inFlightArea / write : 0,
  };
}

function stats(values: number[]): { avg: number; p50: number; p95: number; max: number } {
  if (values.length === 0) return { avg: 0, p50: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { avg: values.reduce((a, b) => a + b, 0) / values.length, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1]! };
}
