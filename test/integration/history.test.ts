/**
 * History (issue 14) over the wire: one change row per observed version of a record, exactly once whatever reads it
 * again (lookback, sweep, a resumed pass, a kill, two runs at once), and the risky users' history equal to Graph's.
 */
import type { TableClient } from '@azure/data-tables';
import { generateRiskDetections, generateRiskyUsers, lateOfflineDetections, seedRiskyUsers } from '../../tools/emulator';
import { eventually, quietLogger, startHarness, type Harness } from '../support/harness';

const HOUR = 3_600_000;
const now = Date.now();
const users = generateRiskyUsers(25, { seed: 41, from: new Date(now - 20 * 86_400_000), to: new Date(now - 3 * HOUR) });
const detections = generateRiskDetections(300, { seed: 41, users, from: new Date(now - 20 * 86_400_000), to: new Date(now - 3 * HOUR) });

async function rowsOf(table: TableClient): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  try {
    for await (const row of table.listEntities<Record<string, unknown>>()) rows.push(row);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return rows;
}

/** Change rows by record id, in time order. */
async function changes(h: Harness, table: string): Promise<Map<string, Record<string, unknown>[]>> {
  const byRecord = new Map<string, Record<string, unknown>[]>();
  for (const row of await rowsOf(h.table(table))) {
    const list = byRecord.get(String(row.recordId)) ?? [];
    list.push(row);
    byRecord.set(String(row.recordId), list);
  }
  for (const list of byRecord.values()) list.sort((a, b) => String(a.rowKey).localeCompare(String(b.rowKey)));
  return byRecord;
}

const stamp = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString().replace('Z', '1234Z');

describe('change tables and risky user history', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    seedRiskyUsers(h.emulator, users, { seed: 41 });
    h.emulator.upsert('riskDetections', detections);
  });
  afterAll(() => h?.close());

  const sync = (options: { sweep?: boolean } = {}) => h.service().runAll([], { trigger: 'test', ...options }, quietLogger);

  it('a first sync: one `created` row per record, and every user history as Graph serves it', async () => {
    const runs = await sync();
    expect(runs.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const detectionChanges = await changes(h, 'RiskDetectionChanges');
    expect(detectionChanges.size).toBe(300);
    expect([...detectionChanges.values()].every((list) => list.length === 1 && list[0]!.change === 'created')).toBe(true);
    const userChanges = await changes(h, 'RiskyUserChanges');
    expect(userChanges.size).toBe(25);
    expect(await h.stored('riskyUserHistory')).toEqual(h.expected('riskyUserHistory'));
    expect(h.expected('riskyUserHistory').length).toBeGreaterThan(25); // the seeded users have histories of several items
    expect(runs[0]).toMatchObject({ new: 300, updated: 0 });
  });

  it('updates and dismissals: one `changed` row per version with the previous values; a re-read adds nothing', async () => {
    const dismissed = detections
      .filter((d) => d.riskState === 'atRisk')
      .slice(0, 5)
      .map((d) => ({ ...d, riskState: 'dismissed', riskDetail: 'adminDismissedAllRiskForUser', lastUpdatedDateTime: stamp(2) }));
    h.emulator.upsert('riskDetections', dismissed);
    const user = h.expected('riskyUsers').find((u) => u.riskState === 'atRisk')!;
    h.emulator.upsert(
      'riskyUsers',
      { ...user, riskState: 'dismissed', riskLevel: 'none', riskDetail: 'adminDismissedAllRiskForUser', riskLastUpdatedDateTime: stamp(1) } as never,
      { history: { initiatedBy: '7d6e5f4a-3b2c-4d1e-8f9a-0b1c2d3e4f5a', riskEventTypes: [], detail: 'adminDismissedAllRiskForUser' } },
    );
    // An untracked change (the IP address): the row is updated, no change row.
    const untracked = detections.find((d) => !dismissed.some((x) => x.id === d.id))!;
    h.emulator.upsert('riskDetections', { ...untracked, ipAddress: '203.0.113.9', lastUpdatedDateTime: stamp(1) });

    const runs = await sync();
    expect(runs.find((r) => r.collection === 'riskDetections')).toMatchObject({ new: 0, updated: 6 });
    const detectionChanges = await changes(h, 'RiskDetectionChanges');
    for (const d of dismissed) {
      const list = detectionChanges.get(d.id)!;
      expect(list.map((c) => c.change)).toEqual(['created', 'changed']);
      expect(list[1]).toMatchObject({ riskState: 'dismissed', previousRiskState: detections.find((x) => x.id === d.id)!.riskState });
    }
    expect(detectionChanges.get(untracked.id)).toHaveLength(1);
    expect((await h.stored('riskDetections')).find((r) => r.id === untracked.id)!.ipAddress).toBe('203.0.113.9');
    const userChanges = (await changes(h, 'RiskyUserChanges')).get(String(user.id))!;
    expect(userChanges.map((c) => [c.change, c.riskState, c.previousRiskState ?? null])).toEqual([
      ['created', 'atRisk', null],
      ['changed', 'dismissed', 'atRisk'],
    ]);
    expect(await h.stored('riskyUserHistory')).toEqual(h.expected('riskyUserHistory'));

    // Read again (the lookback covers them): nothing new anywhere.
    const before = (await rowsOf(h.table('RiskDetectionChanges'))).length;
    const again = await sync();
    expect(again.find((r) => r.collection === 'riskDetections')).toMatchObject({ new: 0, updated: 0 });
    expect((await rowsOf(h.table('RiskDetectionChanges'))).length).toBe(before);
  });

  it('a late record and a late re-score: the sweep observes them once', async () => {
    const late = lateOfflineDetections(2, { users, lateByMs: 40 * HOUR, seed: 42 });
    h.emulator.upsert('riskDetections', late);
    const ordinary = await sync();
    expect(ordinary[0]).toMatchObject({ new: 0 });
    const swept = await sync({ sweep: true });
    expect(swept[0]).toMatchObject({ sweep: true, new: 2, sweepFound: 2 });
    const detectionChanges = await changes(h, 'RiskDetectionChanges');
    for (const d of late) expect(detectionChanges.get(d.id)!.map((c) => c.change)).toEqual(['created']);
    await sync({ sweep: true }); // a second sweep reads them again: no row added
    expect((await changes(h, 'RiskDetectionChanges')).get(late[0]!.id)).toHaveLength(1);
  });

  it('a kill in the middle and two runs at once: still exactly one change row per version', async () => {
    const changed = detections
      .slice(100, 260)
      .map((d, i) => ({ ...d, riskLevel: d.riskLevel === 'high' ? 'low' : 'high', lastUpdatedDateTime: stamp(3 + i / 100) }));
    h.emulator.upsert('riskDetections', changed);
    h.emulator.setThrottling({ enabled: true, rps: 4 });
    const child = h.spawnCli(['sync', '--dataset', 'riskDetections'], { GRAPH_MAX_RPS: '4', SYNC_CHECKPOINT_SECONDS: '0' });
    await eventually(
      async () => (await rowsOf(h.table('RiskDetectionChanges'))).some((r) => r.change === 'changed' && changed.some((c) => c.id === r.recordId)),
      30_000,
      'a change written',
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    h.emulator.setThrottling({ enabled: false });
    const [a, b] = await Promise.all([h.cli(['sync', '--json']), h.cli(['sync', '--json'])]);
    // Each ran, or found a collection's lease held by the other (exit 3): whichever the timing, never a failure.
    for (const result of [a, b]) expect([0, 3]).toContain(result.code);
    const detectionChanges = await changes(h, 'RiskDetectionChanges');
    for (const c of changed) {
      const list = detectionChanges.get(c.id)!;
      expect(list.filter((x) => x.change === 'changed')).toHaveLength(1);
      expect(list.at(-1)).toMatchObject({ riskLevel: c.riskLevel });
    }
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
  }, 120_000);

  it('Graph returning only the current history item (#16407): what comes is stored, our change rows keep the rest', async () => {
    h.emulator.configure({ historyOnlyCurrent: true });
    const user = h.expected('riskyUsers')[3]!;
    h.emulator.upsert('riskyUsers', { ...user, riskLevel: 'high', riskState: 'atRisk', riskLastUpdatedDateTime: stamp(1) } as never, {
      history: { initiatedBy: null, riskEventTypes: ['unfamiliarFeatures'], detail: null },
    });
    await sync();
    const served = h.emulator.history(String(user.id), { asServed: true })!;
    expect(served).toHaveLength(1);
    const stored = (await h.stored('riskyUserHistory')).filter((r) => r.userId === user.id);
    expect(stored.some((r) => r.id === served[0]!.id && r.riskLevel === 'high')).toBe(true);
    expect((await changes(h, 'RiskyUserChanges')).get(String(user.id))!.at(-1)).toMatchObject({ riskLevel: 'high' });
    h.emulator.configure({ historyOnlyCurrent: false });
  });
});
