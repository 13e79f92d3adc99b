import type { CollectionName } from '../../src/domain/collections';
import type { CollectionState } from '../../src/store/syncState';
import { normalizeDateTime } from '../../src/domain/datetime';
import { truncationMarker } from '../../src/store/entityMapping';
import { checkAfterRun, checkFinal, countsOfRows, sameRecord, type RunRecordOfTest } from './invariants';
import type { World } from './world';

/**
 * The reliability suite's checkers are themselves tested (issue 12.5): fed the tables of a world where a row was lost,
 * doubled or left stale, a count is off or the watermark passed data that was not stored, each reports it; the same
 * world without the fault reports nothing.
 */
type Row = Record<string, unknown>;

const MINUTE = 60_000;
const T0 = Date.parse('2026-11-20T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * MINUTE).toISOString();
/** A watermark as the state keeps it (7 fractional digits). */
const watermark = (minutes: number) => normalizeDateTime(at(minutes))!;

function detection(n: number, minutes: number, overrides: Row = {}): Row {
  return {
    id: `det-${String(n).padStart(3, '0')}`,
    riskLevel: n % 2 ? 'high' : 'low',
    riskState: n % 3 ? 'atRisk' : 'dismissed',
    lastUpdatedDateTime: at(minutes),
    userDisplayName: `user ${n}`,
    ...overrides,
  };
}

interface FakeTables {
  expected: Row[];
  stored: Row[];
  state: Partial<CollectionState>;
  runs?: Row[];
}

/** A world whose riskDetections are the given tables; the other collections are empty and consistent. */
function worldOf(tables: FakeTables): World {
  const fake = {
    state: async (collection: CollectionName): Promise<CollectionState> =>
      collection === 'riskDetections'
        ? ({ aggregates: { total: 0, by: {} }, ...tables.state } as CollectionState)
        : { aggregates: { total: 0, by: {} } },
    stored: async (collection: CollectionName) => (collection === 'riskDetections' ? tables.stored.map((r) => ({ ...r })) : []),
    expected: (collection: CollectionName) => (collection === 'riskDetections' ? tables.expected.map((r) => ({ ...r })) : []),
    runs: async (collection: CollectionName) => (collection === 'riskDetections' ? (tables.runs ?? []) : []),
  };
  return fake as unknown as World;
}

/** 10 records, all stored, exact counts, the watermark at the newest cursor. */
function healthy(): FakeTables {
  const expected = Array.from({ length: 10 }, (_, i) => detection(i, i * 10));
  const stored = expected.map((r) => ({ ...r }));
  return { expected, stored, state: { watermark: watermark(90), aggregates: countsOfRows('riskDetections', stored) } };
}

async function findings(tables: FakeTables, lookbackMinutes = 0, runs: RunRecordOfTest[] = []): Promise<string[]> {
  const world = worldOf(tables);
  const found = [...(await checkAfterRun(world, lookbackMinutes, {}, 'after run')), ...(await checkFinal(world, runs, 'final'))];
  // The other collections are empty, without a watermark: the final check says so; only riskDetections is under test.
  return found.filter((f) => f.includes('riskDetections'));
}

describe('the invariant checkers', () => {
  it('report nothing for exact tables', async () => {
    expect(await findings(healthy())).toEqual([]);
  });

  it('report a lost row: the table differs, and a watermark past it would never read it again', async () => {
    const t = healthy();
    t.stored.splice(3, 1);
    t.state.aggregates = countsOfRows('riskDetections', t.stored);
    const found = await findings(t);
    expect(found).toContainEqual(expect.stringMatching(/riskDetections table differs from Graph: 9 rows for 10 records; 1 missing/));
    expect(found).toContainEqual(expect.stringMatching(/watermark .* passed 1 record\(s\) not stored, e\.g\. "det-003" .*missing/));
  });

  it('report a doubled row', async () => {
    const t = healthy();
    t.stored.splice(5, 0, { ...t.stored[4]! });
    const found = await findings(t);
    expect(found).toContainEqual(expect.stringMatching(/id "det-004" is stored twice/));
    expect(found).toContainEqual(expect.stringMatching(/11 rows for 10 records/));
  });

  it('report a row no record of Graph has', async () => {
    const t = healthy();
    t.stored.push(detection(99, 5));
    expect(await findings(t)).toContainEqual(expect.stringMatching(/row "det-099" is not a record Graph has/));
  });

  it('report a stale row (an older version kept), and the watermark past it', async () => {
    const t = healthy();
    t.expected[2] = detection(2, 85, { riskState: 'remediated' }); // Graph has a newer version of det-002
    const found = await findings(t);
    expect(found).toContainEqual(expect.stringMatching(/1 differing \(e\.g\. "det-002": riskState: stored "atRisk" vs Graph "remediated"\)/));
    // Its newer cursor (85) is below the watermark (90) with lookback 0: it would never be read again.
    expect(found).toContainEqual(expect.stringMatching(/passed 1 record\(s\) not stored, e\.g\. "det-002" .*stale/));
    // With a lookback that reaches it, the next pass reads it again: only the final check reports the difference.
    const withLookback = await checkAfterRun(worldOf(t), 30, {}, 'after run');
    expect(withLookback.filter((f) => f.includes('riskDetections'))).toEqual([]);
  });

  it('report a count off, in the total and by value', async () => {
    const t = healthy();
    const counts = countsOfRows('riskDetections', t.stored);
    t.state.aggregates = {
      total: counts.total - 1,
      by: { ...counts.by, riskState: { ...counts.by.riskState, atRisk: counts.by.riskState!.atRisk! + 2 } },
    };
    const found = await findings(t);
    expect(found).toContainEqual('final: riskDetections aggregates.total is 9, the table has 10 rows');
    expect(found).toContainEqual(expect.stringMatching(/aggregates by riskState \{"atRisk":8,"dismissed":4\} != rows \{"atRisk":6,"dismissed":4\}/));
    expect(found.filter((f) => f.includes('aggregates by riskLevel'))).toEqual([]);
  });

  it('report a watermark past the data stored, and one that moved backwards', async () => {
    const t = healthy();
    t.state.watermark = watermark(120);
    expect(await findings(t)).toContainEqual(
      expect.stringMatching(/watermark 2026-11-20T12:00:00\.0+Z is past the largest stored cursor 2026-11-20T11:30:00/),
    );
    const back = await checkAfterRun(worldOf(healthy()), 0, { riskDetections: at(100) }, 'after run');
    expect(back).toContainEqual(expect.stringMatching(/watermark moved backwards from 2026-11-20T11:40:00.000Z to 2026-11-20T11:30:00\.0+Z/));
  });

  it('report what a clean run left pending, and runs without their SyncRuns row', async () => {
    const t = healthy();
    t.state = { ...t.state, recountNeeded: true, activeRunId: 'run-x' };
    t.runs = [{ rowKey: `${'0'.repeat(14)}run-a`, outcome: 'running' }];
    const runs: RunRecordOfTest[] = [
      { collection: 'riskDetections', runId: 'run-a', outcome: 'succeeded', label: 'a' },
      { collection: 'riskDetections', runId: 'run-b', outcome: 'failed', error: 'boom', label: 'b' },
    ];
    const found = await findings(t, 0, runs);
    expect(found).toContainEqual(expect.stringMatching(/still needs a recount/));
    expect(found).toContainEqual(expect.stringMatching(/still names an active run \(run-x\)/));
    expect(found).toContainEqual(expect.stringMatching(/SyncRuns row of run run-a has outcome 'running'/));
    expect(found).toContainEqual(expect.stringMatching(/run run-b \(b, failed\) left no SyncRuns row/));
  });

  it('accept a string cut to fit 1 MiB (its prefix and the marker with the full length), and nothing else', () => {
    const record = detection(1, 0, { additionalInfo: 'x'.repeat(5000) });
    const cut = { ...record, additionalInfo: 'x'.repeat(1200) + truncationMarker(5000) };
    expect(sameRecord(cut, record)).toBe(true);
    expect(sameRecord({ ...record, additionalInfo: 'y'.repeat(1200) + truncationMarker(5000) }, record)).toBe(false);
    expect(sameRecord({ ...record, additionalInfo: 'x'.repeat(1200) + truncationMarker(4999) }, record)).toBe(false);
    expect(sameRecord({ ...cut, riskState: 'remediated' }, record)).toBe(false);
  });
});
