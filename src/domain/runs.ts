/**
 * A run: one pass (or the rest of one) of one collection of one tenant, as SyncRuns rows, the run summary in
 * Application Insights, the CLI and the local host report it.
 */
export type RunOutcome =
  | 'running'
  | 'succeeded'
  /** Stopped at its time budget or on request: the pass resumes from its checkpoint on the next run. */
  | 'partial'
  | 'failed'
  /** Another run holds the collection's lease. */
  | 'skipped'
  /** The run's process went away without recording its end (killed, timed out); marked by the next run. */
  | 'interrupted'
  /** The tenant lacks the licence the collection needs (Entra ID P2, Workload ID Premium). */
  | 'unlicensed'
  /** The identity lacks the Graph permission the collection needs. */
  | 'forbidden';

/** Outcomes after which the collection is as synced as the tenant allows: the CLI exits 0, health stays green. */
export const COMPLETED_OUTCOMES: readonly RunOutcome[] = ['succeeded', 'unlicensed', 'forbidden'];

export interface RunRecord {
  runId: string;
  tenantId: string;
  collection: string;
  trigger: string;
  startedAt: string;
  finishedAt?: string;
  outcome: RunOutcome;
  full: boolean;
  /** The pass read `cursor ge watermark - SYNC_SWEEP_LOOKBACK_HOURS` (a sweep) instead of the ordinary lookback. */
  sweep: boolean;
  pages: number;
  /** Records Graph returned (a re-read of the lookback window counts here, not as new data). */
  read: number;
  /** Rows stored for the first time. */
  new: number;
  /** Rows replaced by a different version of their record. */
  updated: number;
  /** Records read again as they are stored (nothing written). */
  unchanged: number;
  /** Records stored in a documented adjusted form (split strings, overflow columns, escaped ids, truncation). */
  adjusted: number;
  /** Records that could not be stored and went to quarantine. */
  quarantined: number;
  transactions: number;
  requests: number;
  retries: number;
  throttles: number;
  /** Windows of the pass started over after Graph refused a next link. */
  restarts: number;
  durationMs?: number;
  watermarkBefore?: string;
  watermarkAfter?: string;
  filterFrom?: string;
  error?: string;
  errorCode?: string;
  /** What the user should do about an `unlicensed` or `forbidden` outcome (the permission to grant, the licence). */
  action?: string;
  /** A sweep that completed: the rows it stored new or changed, which the ordinary runs had missed. */
  sweepFound?: number;
  /** `P1` when the pass saw the data as Entra ID P1 serves it: premium detections `generic`, risk `hidden`. */
  dataShape?: string;
}

export type RunSummary = RunRecord;

export interface Progress {
  collection: string;
  pages: number;
  read: number;
  elapsedMs: number;
}

/**
 * The options of a child collection's run that follows its parent's. When the parent was skipped because another live
 * run holds its lease, the child is skipped too: that run syncs the child after the parent, with every parent it
 * stored; a child read now would list only the parents stored so far, and that run would then find the child's lease
 * taken and leave the rest for the next tick.
 */
export function afterParent<T extends object>(parent: RunSummary, options: T): T & { skip?: string } {
  if (parent.outcome !== 'skipped') return options;
  return { ...options, skip: `its parent ${parent.collection} is being synced by another run, which syncs it next` };
}
