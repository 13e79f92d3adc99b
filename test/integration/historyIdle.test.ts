/**
 * A history pass reads the users whose rows changed, not the ones it has just read: the child watermark is two
 * seconds behind Table Storage's time, so without the fingerprints it keeps (src/sync/children.ts) the first run after a
 * first sync read every user's history again (one Graph request each, at 1 request/s for the tenant).
 */
import { generateRiskyUsers, seedRiskyUsers, type RiskyUser } from '../../tools/emulator';
import { quietLogger, servedRecords, startHarness, type Harness } from '../support/harness';

describe('history passes after a first sync', () => {
  let h: Harness;
  const historyRequests = (since: number) =>
    h.emulator
      .requestLog()
      .slice(since)
      .filter((r) => r.route === 'riskyUsers/history');
  beforeAll(async () => {
    h = await startHarness();
    const now = Date.now();
    seedRiskyUsers(h.emulator, generateRiskyUsers(30, { seed: 83, from: new Date(now - 5 * 86_400_000), to: new Date(now - 3_600_000) }));
  });
  afterAll(() => h?.close());

  it('read no history when nothing changed, and only the changed user after a change', async () => {
    const service = h.service();
    const first = await service.runAll(['riskyUsers'], { trigger: 'test' }, quietLogger);
    expect(first.map((s) => s.outcome)).toEqual(['succeeded', 'succeeded']);
    expect(historyRequests(0).length).toBeGreaterThanOrEqual(30);

    let mark = h.emulator.requestLog().length;
    const idle = await service.runAll(['riskyUsers'], { trigger: 'test' }, quietLogger);
    expect(idle.map((s) => s.outcome)).toEqual(['succeeded', 'succeeded']);
    expect(historyRequests(mark)).toEqual([]);

    const [user] = servedRecords(h.emulator, 'riskyUsers') as RiskyUser[];
    h.emulator.upsert(
      'riskyUsers',
      [
        {
          ...user!,
          riskState: 'dismissed',
          riskLevel: 'none',
          riskDetail: 'adminDismissedAllRiskForUser',
          riskLastUpdatedDateTime: new Date().toISOString(),
        },
      ],
      { history: { initiatedBy: '9c3e1f5a-0000-4000-8000-000000000001', riskEventTypes: [], detail: 'adminDismissedAllRiskForUser' } },
    );
    mark = h.emulator.requestLog().length;
    await service.runAll(['riskyUsers'], { trigger: 'test' }, quietLogger);
    expect(historyRequests(mark)).toHaveLength(1);
    expect(await h.stored('riskyUserHistory')).toEqual(h.expected('riskyUserHistory'));

    // Right after that pass the changed user's row is within the watermark's two seconds: still not read again.
    mark = h.emulator.requestLog().length;
    await service.runAll(['riskyUsers'], { trigger: 'test' }, quietLogger);
    expect(historyRequests(mark)).toEqual([]);
  });
});
