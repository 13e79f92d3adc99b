/**
 * Pass planning and the watermark rule, as pure functions over a `PassPlan` (the checkpoint a run saves).
 *
 * A pass reads `cursor ge from` (the watermark minus a lag, or everything) in cursor windows `[from, to)`, one after
 * the other, oldest first; the last window is open above. A window commits on its own: once all of its pages are
 * stored the watermark moves to what the window makes safe, so a backfill that takes many runs keeps its progress even
 * when Graph no longer accepts the next link a run stopped at. As Airbyte's cursor keeps "highest observed" apart from
 * "safe to emit", `observe()` only records what was seen and `closeWindow()` alone moves the watermark.
 *
 * The watermark rule (the invariant every function here keeps, property-tested in test/unit/plan.test.ts):
 *   every record Graph served before the pass began (`cap`, Graph's own clock) with a cursor below the watermark is
 *   stored, or will be read by the next pass's `cursor ge watermark - lag`; and the watermark never moves backwards
 *   and never passes `cap`.
 */
import { formatTicks, maxDateTime, minDateTime, minusMinutes, normalizeDateTime, ticksOf, ticksOfDate } from '../domain/datetime';
import type { CursorWindow, PassKind, PassPlan } from '../domain/pass';

export type { CursorWindow, PassKind, PassPlan } from '../domain/pass';

export interface PassOptions {
  watermark?: string;
  kind: PassKind;
  lookbackMinutes: number;
  sweepLookbackHours: number;
  initialDays?: number;
  pageSize?: number;
  now: number;
  runId: string;
}

/**
 * The lower bound of a pass: the watermark moved back by the lag (dlt's `apply_lag`). Invariant: the result is never
 * after the watermark, so a record that surfaced late by less than the lag is read again.
 */
export function applyLag(watermark: string, lagMinutes: number): string {
  return minusMinutes(watermark, Math.max(0, lagMinutes));
}

/** Which kind of pass a run begins. */
export function passKind(input: {
  watermark?: string;
  readStyle: 'incremental' | 'full';
  full?: boolean;
  sweepRequested?: boolean;
  lastSweepAt?: string;
  sweepHours: number;
  now: number;
}): PassKind {
  if (input.full || input.readStyle === 'full') return input.watermark ? 'full' : 'backfill';
  if (!input.watermark) return 'backfill';
  if (input.sweepRequested) return 'sweep';
  if (input.sweepHours > 0 && (!input.lastSweepAt || input.now - Date.parse(input.lastSweepAt) >= input.sweepHours * 3_600_000)) return 'sweep';
  return 'incremental';
}

export function startPass(options: PassOptions): PassPlan {
  let from: string | undefined;
  if (options.kind === 'incremental' && options.watermark) from = applyLag(options.watermark, options.lookbackMinutes);
  else if (options.kind === 'sweep' && options.watermark) from = applyLag(options.watermark, options.sweepLookbackHours * 60);
  else if (options.initialDays) from = formatTicks(ticksOfDate(options.now - options.initialDays * 86_400_000));
  return {
    kind: options.kind,
    startedAt: new Date(options.now).toISOString(),
    from,
    window: { from },
    pageSize: options.pageSize,
    pages: 0,
    records: 0,
    windowPages: 0,
    restarts: 0,
    windowRunId: options.runId,
    found: 0,
    runId: options.runId,
  };
}

/** The `$filter` of the current window (absent: the whole collection). Datetime literals go unquoted, as Graph wants. */
export function windowFilter(window: CursorWindow, cursor: string): string | undefined {
  const parts: string[] = [];
  if (window.from) parts.push(`${cursor} ge ${window.from}`);
  if (window.to) parts.push(`${cursor} lt ${window.to}`);
  return parts.length ? parts.join(' and ') : undefined;
}

/** Sets the cap from Graph's answer to the pass's first request; later answers leave it. */
export function setCap(plan: PassPlan, graphTime: string | undefined, fallback: string): void {
  plan.cap ??= graphTime ?? fallback;
}

/** Records what a stored page held: its highest cursor, and counts. Moves nothing that is committed. */
export function observe(plan: PassPlan, page: { maxCursor?: string; minCursor?: string; records: number; nextLink?: string }): void {
  plan.observed = maxDateTime(plan.observed, page.maxCursor);
  plan.lowestObserved = minDateTime(plan.lowestObserved, page.minCursor);
  plan.pages++;
  plan.windowPages++;
  plan.records += page.records;
  plan.nextLink = page.nextLink;
}

/**
 * A pass saved by an earlier run, taken up by this one. A window none of whose pages were read yet begins in this run
 * (closeWindow lets only a window read within one run make the next one larger).
 */
export function resumePass(saved: PassPlan, runId: string): PassPlan {
  return { ...saved, runId, ...(saved.windowPages === 0 && { windowRunId: runId }) };
}

/**
 * What a complete window makes safe to commit: the highest cursor among its stored records, never past the cap. Every
 * record with a cursor at or below that value was in this window or an earlier one of the pass (windows are read
 * oldest first and each to its end), or changed after the pass began and so carries a cursor above the cap. Undefined
 * when there is nothing to commit (an empty window).
 */
export function safeWatermark(observed: string | undefined, cap: string | undefined): string | undefined {
  return observed === undefined ? undefined : minDateTime(observed, cap);
}

/**
 * The current window is read to its end (every page stored). Returns the watermark to commit (never lower than the
 * one given) and the next window's plan, or undefined when the pass is complete.
 */
export function closeWindow(plan: PassPlan, watermark: string | undefined, runId: string): { watermark: string | undefined; next?: PassPlan } {
  const committed = maxDateTime(watermark, safeWatermark(plan.observed, plan.cap));
  if (plan.window.to === undefined) return { watermark: committed };
  let spanTicks = plan.spanTicks!;
  // A window that took at most half of what a run was seen to read may be followed by one twice its span. A run is
  // counted as reading at least two pages: one that read only one must not pin the span for the rest of the pass (a
  // doubled window that then does not fit is split again).
  if (plan.windowRunId === runId && plan.windowPages * 2 <= Math.max(plan.pagesPerRun ?? Infinity, 2)) spanTicks *= 2;
  const next: PassPlan = {
    ...plan,
    window: nextWindow(plan.window.to, spanTicks, plan.cap),
    spanTicks,
    observed: undefined,
    lowestObserved: undefined,
    nextLink: undefined,
    windowPages: 0,
    windowRunId: runId,
  };
  return { watermark: committed, next };
}

function nextWindow(from: string, spanTicks: number, cap: string | undefined): CursorWindow {
  const to = formatTicks(ticksOf(from) + BigInt(Math.max(1, Math.round(spanTicks))));
  // The last window is open above: records changed while the pass runs land there or in the next pass.
  return cap === undefined || to >= cap ? { from } : { from, to };
}

/** Lower bound for splitting a window that is open below (the window itself stays open below: nothing is excluded). */
const EARLIEST_SPLIT = '2000-01-01T00:00:00.0000000Z';

export type RestartReason =
  /** The refused link followed a page of exactly `$top` records: it may be Graph's phantom last link (#16332). */
  | 'phantom-suspect'
  /** Graph no longer accepts a next link saved by an earlier run: the window did not fit in one run. */
  | 'expired-across-runs'
  /** A next link expired while this run was reading. */
  | 'expired';

/**
 * Starts the current window over after Graph refused one of its next links. Safe whatever the refusal was: the
 * window is read again from its first page (rows are upserted by id, so nothing doubles), and nothing was committed
 * for it. A suspected phantom link is confirmed by that re-read with another page size (its last page can then not
 * hold exactly `$top` records again, unless the window holds a multiple of both sizes); a window that did not fit in
 * a run is split in two, so the first half fits better.
 */
export function restartWindow(plan: PassPlan, reason: RestartReason, runId: string): PassPlan {
  const next: PassPlan = {
    ...plan,
    nextLink: undefined,
    observed: undefined,
    lowestObserved: undefined,
    windowPages: 0,
    restarts: plan.restarts + 1,
    windowRunId: runId,
  };
  if (reason === 'phantom-suspect' && plan.pageSize !== undefined) next.pageSize = plan.pageSize > 2 ? plan.pageSize - 1 : plan.pageSize + 1;
  if (reason === 'expired-across-runs') {
    // Open below: split where the records read so far began (the window stays open below: nothing is excluded).
    const lower = plan.window.from ?? (plan.lowestObserved && plan.lowestObserved > EARLIEST_SPLIT ? plan.lowestObserved : EARLIEST_SPLIT);
    const upper = plan.window.to ?? plan.cap ?? normalizeDateTime(plan.startedAt)!;
    if (upper > lower) {
      const mid = formatTicks((ticksOf(lower) + ticksOf(upper)) / 2n);
      if (mid > lower && mid < upper) {
        next.window = { ...plan.window, to: mid };
        next.spanTicks = Number(ticksOf(mid) - ticksOf(lower));
      }
    }
  }
  return next;
}

/** A run stopped by its time budget read this many pages: bounded windows stay under what fits in a run. */
export function notePagesPerRun(plan: PassPlan, pagesThisRun: number): void {
  if (pagesThisRun > 0) plan.pagesPerRun = Math.min(plan.pagesPerRun ?? Infinity, pagesThisRun);
}
