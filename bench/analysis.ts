/**
 * Where a sync's time went, from the child's timestamps (one collection per child, no restarts).
 *
 * The engine runs one pool of data transactions (4 in flight) across pages, fed by the pages as they arrive; the
 * checkpoints go in the background. So the run splits into:
 * - setup: run() called -> first Graph request (tables, lease, SyncRuns row, first state save);
 * - first page: first Graph request -> its answer (nothing can be written before it);
 * - writing: first data transaction starts -> last one ends; within it, `storeIdle` is the time with no data
 *   transaction in flight (the engine waiting for Graph, or mapping a page with nothing queued), and
 *   `avgInFlight` the mean number of transactions in flight;
 * - finish: last data transaction ends -> run() resolved (the last page's bookkeeping, the release, the run row).
 */
import type { SyncChildResult } from './childProtocol';

type Stats = { avg: number; p50: number; p95: number; max: number };

export interface Breakdown {
  pages: number;
  totalMs: number;
  setupMs: number;
  firstPageMs: number;
  writingMs: number;
  /** Within `writing`: no data transaction in flight. */
  storeIdleMs: number;
  finishMs: number;
  /** Mean data transactions in flight over `writing` (ideal: 4). */
  avgInFlight: number;
  /** Pages that arrived after the engine had written everything before them (the store waited for Graph). */
  pagesLate: number;
  graphRequestMs: Stats;
  dataTransactions: number;
  /** Data transactions with fewer than 100 actions. */
  partialTransactions: number;
  avgActionsPerTransaction: number;
  avgTransactionsPerPage: number;
  dataTransactionMs: Stats;
  /** State transactions: checkpoints, plus the first save and the release. */
  stateTransactions: number;
  checkpoints: number;
  checkpointTransactionMs: Stats;
  runsTableCalls: number;
  otherTableCalls: Record<string, number>;
}

export function analyse(child: SyncChildResult): Breakdown | undefined {
  const { fetches, transactions, progress, timings } = child;
  const data = transactions.filter((t) => t.table === 'data').sort((x, y) => x.start - y.start);
  if (progress.length === 0 || fetches.length === 0 || data.length === 0) return undefined;
  const state = transactions.filter((t) => t.table === 'state');
  const writeStart = data[0]!.start;
  const writeEnd = Math.max(...data.map((t) => t.end));

  // Sweep over start/end events: time with none in flight, and the area under "in flight".
  const events = data.flatMap(
    (t) =>
      [
        [t.start, 1],
        [t.end, -1],
      ] as [number, number][],
  );
  events.sort((x, y) => x[0] - y[0] || y[1] - x[1]);
  let inFlight = 0;
  let last = writeStart;
  let idle = 0;
  let area = 0;
  for (const [at, step] of events) {
    if (inFlight === 0) idle += at - last;
    area += inFlight * (at - last);
    inFlight += step;
    last = at;
  }
  // A page is late when it arrives while nothing is in flight (every row before it was stored).
  const pagesLate = fetches.slice(1).filter((f) => !data.some((t) => t.start < f.end && t.end > f.end)).length;
  const other: Record<string, number> = {};
  for (const c of child.otherTableCalls) other[`${c.table}.${c.method}`] = (other[`${c.table}.${c.method}`] ?? 0) + 1;
  const dataActions = data.reduce((s, t) => s + t.actions, 0);
  // The first save (before any page) and the release (after the last) are not checkpoints.
  const checkpoints = state.filter((t) => t.start > fetches[0]!.start && t.start < writeEnd);
  return {
    pages: progress.length,
    totalMs: timings.syncEndMs - timings.syncStartMs,
    setupMs: fetches[0]!.start - timings.syncStartMs,
    firstPageMs: fetches[0]!.end - fetches[0]!.start,
    writingMs: writeEnd - writeStart,
    storeIdleMs: idle,
    finishMs: timings.syncEndMs - writeEnd,
    avgInFlight: area / Math.max(1, writeEnd - writeStart),
    pagesLate,
    graphRequestMs: stats(fetches.map((f) => f.end - f.start)),
    dataTransactions: data.length,
    partialTransactions: data.filter((t) => t.actions < 100).length,
    avgActionsPerTransaction: dataActions / data.length,
    avgTransactionsPerPage: data.length / progress.length,
    dataTransactionMs: stats(data.map((t) => t.end - t.start)),
    stateTransactions: state.length,
    checkpoints: checkpoints.length,
    checkpointTransactionMs: stats(checkpoints.map((t) => t.end - t.start)),
    runsTableCalls: child.otherTableCalls.filter((c) => c.table === 'runs').length + transactions.filter((t) => t.table === 'runs').length,
    otherTableCalls: other,
  };
}

function stats(values: number[]): Stats {
  if (values.length === 0) return { avg: 0, p50: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { avg: values.reduce((a, b) => a + b, 0) / values.length, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1]! };
}
