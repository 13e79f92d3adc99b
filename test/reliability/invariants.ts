import { isDeepStrictEqual } from 'node:util';
import { MISSING_AGGREGATE } from '../../src/domain/aggregates';
import { COLLECTIONS, COLLECTION_NAMES, TOP_LEVEL_NAMES, type CollectionName } from '../../src/domain/collections';
import { minusMinutes, normalizeDateTime } from '../../src/domain/datetime';
import { truncationMarker } from '../../src/store/entityMapping';
import type { World } from './world';

/**
 * The invariants of the reliability suite. Each check returns the violations it found, as sentences (empty: none).
 *
 * After every run (nothing running, nothing changing):
 *  - the watermark never moves backwards;
 *  - the watermark is never past the stored data: it is at most the largest cursor stored, and no record Graph serves
 *    is missing (or stale) in the table while lying below the next pass's filter (watermark - lookback): such a record
 *    would never be read again;
 *  - no row is doubled (one row per id) and no row exists that Graph does not have.
 *  (The watermark rules are checked for the top-level collections; a child collection's watermark is a time on its
 *  parent's rows.)
 * After the faults stop and one clean run:
 *  - the tables equal what Graph serves, exactly;
 *  - the counts in SyncState equal counts of the stored rows; no pass, lease holder or recount is left pending;
 *  - every run that ended has its SyncRuns row with its outcome (killed runs: `interrupted`), failed ones their error;
 *    no row is left `running`.
 */

export interface RunRecordOfTest {
  collection: CollectionName;
  runId: string;
  outcome: string;
  error?: string;
  label: string;
  /** The store was down for longer than the SDK retries during this run: its row may be missing (not a violation). */
  storeDown?: boolean;
}

const OUTCOMES = new Set(['succeeded', 'partial', 'failed', 'skipped', 'interrupted', 'unlicensed', 'forbidden']);

export type Watermarks = Partial<Record<CollectionName, string>>;

function cursorOf(collection: CollectionName, record: Record<string, unknown>): string | undefined {
  return normalizeDateTime(record[COLLECTIONS[collection].cursor]);
}

export async function checkAfterRun(world: World, lookbackMinutes: number, last: Watermarks, label: string): Promise<string[]> {
  const violations: string[] = [];
  // A child collection's watermark is a time on the parent rows, not a cursor: the cursor rules are for the others.
  for (const collection of TOP_LEVEL_NAMES) {
    const [state, stored] = await Promise.all([world.state(collection), world.stored(collection)]);
    const expected = world.expected(collection);
    const w = state.watermark;
    const before = last[collection];
    if (before && (!w || w < before)) violations.push(`${label}: ${collection} watermark moved backwards from ${before} to ${w ?? '(none)'}`);
    if (w) last[collection] = w;

    const storedById = new Map<string, Record<string, unknown>>();
    for (const row of stored) {
      if (storedById.has(String(row.id))) violations.push(`${label}: ${collection} id ${short(row.id)} is stored twice`);
      storedById.set(String(row.id), row);
    }
    const expectedIds = new Set(expected.map((r) => String(r.id)));
    for (const row of stored)
      if (!expectedIds.has(String(row.id))) violations.push(`${label}: ${collection} row ${short(row.id)} is not a record Graph has`);

    let maxStored: string | undefined;
    for (const row of stored) {
      const c = cursorOf(collection, row);
      if (c && (!maxStored || c > maxStored)) maxStored = c;
    }
    if (w && (!maxStored || w > maxStored))
      violations.push(`${label}: ${collection} watermark ${w} is past the largest stored cursor ${maxStored ?? '(no rows)'}`);
    if (w) {
      const from = minusMinutes(w, lookbackMinutes);
      let lost = 0;
      let example = '';
      for (const record of expected) {
        const row = storedById.get(String(record.id));
        if (row && sameRecord(row, record)) continue;
        const c = cursorOf(collection, record);
        if (c && c < from) {
          lost++;
          example ||= `${short(record.id)} (cursor ${c}, ${row ? 'stale' : 'missing'})`;
        }
      }
      if (lost > 0) {
        violations.push(
          `${label}: ${collection} watermark ${w} (next pass reads from ${from}) passed ${lost} record(s) not stored, e.g. ${example}: they would never be read again`,
        );
      }
    }
  }
  return violations;
}

export async function checkFinal(world: World, runs: RunRecordOfTest[], label: string): Promise<string[]> {
  const violations: string[] = [];
  for (const collection of COLLECTION_NAMES) {
    const [state, stored, runRows] = await Promise.all([world.state(collection), world.stored(collection), world.runs(collection)]);
    const expected = world.expected(collection);
    if (stored.length !== expected.length || stored.some((row, i) => !sameRecord(row, expected[i]!))) {
      const storedById = new Map(stored.map((r) => [String(r.id), r]));
      const expectedIds = new Set(expected.map((r) => String(r.id)));
      const missing = expected.filter((r) => !storedById.has(String(r.id)));
      const differing = expected.filter((r) => storedById.has(String(r.id)) && !sameRecord(storedById.get(String(r.id))!, r));
      const extra = stored.filter((r) => !expectedIds.has(String(r.id)));
      const firstDiff = differing[0] ? diffOf(storedById.get(String(differing[0].id))!, differing[0]) : '';
      violations.push(
        `${label}: ${collection} table differs from Graph: ${stored.length} rows for ${expected.length} records; ${missing.length} missing` +
          `${missing[0] ? ` (e.g. ${short(missing[0].id)})` : ''}, ${differing.length} differing${firstDiff ? ` (e.g. ${short(differing[0]!.id)}: ${firstDiff})` : ''}, ${extra.length} extra`,
      );
    }

    // Counts kept by the sync = counts of the rows.
    const { total, by } = countsOfRows(collection, stored);
    if (state.aggregates.total !== total)
      violations.push(`${label}: ${collection} aggregates.total is ${state.aggregates.total}, the table has ${total} rows`);
    for (const column of COLLECTIONS[collection].aggregateBy) {
      if (!isDeepStrictEqual(sorted(state.aggregates.by[column] ?? {}), sorted(by[column]!))) {
        violations.push(
          `${label}: ${collection} aggregates by ${column} ${JSON.stringify(sorted(state.aggregates.by[column] ?? {}))} != rows ${JSON.stringify(sorted(by[column]!))}`,
        );
      }
    }
    if (state.pass) violations.push(`${label}: ${collection} still has a pass in progress after a clean run`);
    if (state.activeRunId) violations.push(`${label}: ${collection} still names an active run (${state.activeRunId}) after a clean run`);
    if (state.recountNeeded) violations.push(`${label}: ${collection} still needs a recount after a clean run`);
    if (!state.watermark) violations.push(`${label}: ${collection} has no watermark after a clean run`);

    // SyncRuns: every row has an outcome; every run that ended has its row.
    const rowsByRun = new Map<string, Record<string, unknown>>();
    for (const row of runRows) {
      const runId = String(row.rowKey).slice(14);
      rowsByRun.set(runId, row);
      const outcome = String(row.outcome);
      if (!OUTCOMES.has(outcome)) violations.push(`${label}: ${collection} SyncRuns row of run ${runId} has outcome '${outcome}'`);
      if ((outcome === 'failed' || outcome === 'interrupted' || outcome === 'skipped') && !row.error) {
        violations.push(`${label}: ${collection} SyncRuns row of ${outcome} run ${runId} has no error`);
      }
    }
    for (const run of runs.filter((r) => r.collection === collection)) {
      const row = rowsByRun.get(run.runId);
      if (!row && !run.storeDown) violations.push(`${label}: ${collection} run ${run.runId} (${run.label}, ${run.outcome}) left no SyncRuns row`);
      if (!row) continue;
      if (row.outcome !== run.outcome && row.outcome !== 'interrupted') {
        violations.push(
          `${label}: ${collection} run ${run.runId} (${run.label}) ended ${run.outcome} but its SyncRuns row says ${String(row.outcome)}`,
        );
      }
      if (run.outcome === 'failed' && !run.error) violations.push(`${label}: ${collection} run ${run.runId} failed without an error`);
    }
  }
  return violations;
}

/**
 * A stored row is the record Graph serves: equal, or equal but for strings the sync cut to fit a record too large for
 * one entity (1 MiB): a cut string is a prefix of Graph's value followed by the marker that gives the full length.
 */
export function sameRecord(stored: Record<string, unknown>, record: Record<string, unknown>): boolean {
  if (isDeepStrictEqual(stored, record)) return true;
  const keys = new Set([...Object.keys(stored), ...Object.keys(record)]);
  for (const key of keys) if (!sameValue(stored[key], record[key])) return false;
  return true;
}

function sameValue(stored: unknown, value: unknown): boolean {
  if (isDeepStrictEqual(stored, value)) return true;
  if (typeof stored === 'string' && typeof value === 'string') {
    const marker = truncationMarker(value.length);
    return stored.endsWith(marker) && value.startsWith(stored.slice(0, stored.length - marker.length));
  }
  return false;
}

/** The counts the sync should keep, from the stored rows (as World.stored gives them). */
export function countsOfRows(
  collection: CollectionName,
  stored: Record<string, unknown>[],
): { total: number; by: Record<string, Record<string, number>> } {
  const by: Record<string, Record<string, number>> = {};
  for (const column of COLLECTIONS[collection].aggregateBy) {
    const counts: Record<string, number> = {};
    for (const row of stored) {
      const v = typeof row[column] === 'string' && row[column] !== '' ? (row[column] as string) : MISSING_AGGREGATE;
      counts[v] = (counts[v] ?? 0) + 1;
    }
    by[column] = counts;
  }
  return { total: stored.length, by };
}

function sorted(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function short(id: unknown): string {
  const s = JSON.stringify(String(id));
  return s.length > 40 ? `${s.slice(0, 37)}..."` : s;
}

function diffOf(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (!isDeepStrictEqual(a[k], b[k])) return `${k}: stored ${JSON.stringify(a[k])?.slice(0, 60)} vs Graph ${JSON.stringify(b[k])?.slice(0, 60)}`;
  }
  return '';
}
