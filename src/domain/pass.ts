/**
 * A pass as data: what the sync engine checkpoints in SyncState while it reads one collection. The rules that move
 * it (planning, windows, the watermark) are pure functions in src/sync/plan.ts.
 */

/**
 * - `backfill`: the first pass, nothing stored yet (everything Graph holds, or SYNC_INITIAL_DAYS);
 * - `full`: a re-read of everything asked for (`--full`) or a collection Graph only lets us read whole;
 * - `sweep`: `cursor ge watermark - SYNC_SWEEP_LOOKBACK_HOURS`, every SYNC_SWEEP_HOURS, for records that surface late;
 * - `incremental`: `cursor ge watermark - SYNC_LOOKBACK_MINUTES`.
 */
export type PassKind = 'backfill' | 'full' | 'sweep' | 'incremental';

/** `[from, to)` in normalized cursor values; an absent end is open. */
export interface CursorWindow {
  from?: string;
  to?: string;
}

export interface PassPlan {
  kind: PassKind;
  /** When the pass began, by our clock (for the run rows). */
  startedAt: string;
  /**
   * Graph's time when it answered the pass's first request, less that request's round trip and a second (its Date
   * header has whole seconds): no record changed after it can be missing from a window read after it. The watermark
   * never passes it. Absent until the first answer.
   */
  cap?: string;
  /** The pass's lower bound; absent for everything. */
  from?: string;
  window: CursorWindow;
  /** Span of the bounded windows in ticks (100 ns); absent while the pass is one open window. */
  spanTicks?: number;
  /** `$top` of the current window's requests (absent: Graph's default). */
  pageSize?: number;
  /** Next page of the current window; absent: the window's first page is next. */
  nextLink?: string;
  /** Highest cursor among the stored records of the current window. */
  observed?: string;
  /** Lowest cursor among them: where a window open below is split when it did not fit in a run. */
  lowestObserved?: string;
  /** Records Graph returned so far in the pass, and pages (all windows). */
  pages: number;
  records: number;
  windowPages: number;
  /** Windows started over because Graph refused a next link. */
  restarts: number;
  /** The run that began the current window (a window begun by an earlier run that must start over did not fit in one). */
  windowRunId: string;
  /** The fewest pages a run read before its time budget stopped it: bounded windows are sized to fit. */
  pagesPerRun?: number;
  /** A child pass: every parent up to this one (`<PartitionKey>\n<RowKey>`, in table order) has its children stored. */
  afterKey?: string;
  /** Rows this pass stored new or changed (for a sweep: what the ordinary runs had missed). */
  found: number;
  runId: string;
}
