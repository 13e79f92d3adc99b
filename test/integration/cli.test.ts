import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { startHarness, type Harness } from '../support/harness';

/** The acceptance path, through the CLI as an operator runs it, with throttling and faults switched on. */
describe('risk-sync sync and status (CLI, throttling and faults on)', () => {
  let h: Harness;
  const now = Date.now();
  const users = generateRiskyUsers(80, { seed: 21, from: new Date(now - 20 * 86_400_000), to: new Date(now - 7_200_000) });
  const detections = generateRiskDetections(1600, { seed: 21, users, from: new Date(now - 20 * 86_400_000), to: new Date(now - 7_200_000) });
  const env = { GRAPH_MAX_RPS: '8' };

  beforeAll(async () => {
    h = await startHarness({ emulator: { throttling: true, rps: 6, seed: 21 } });
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
    h.emulator.faults.add({ kind: 'status', status: 503, probability: 0.2 });
    h.emulator.faults.add({ kind: 'status', status: 504, retryAfterSeconds: 0, probability: 0.1 });
    // Graph's 429s without Retry-After, whatever the speed of this machine (the 6 req/s budget may or may not be met).
    h.emulator.faults.add({ kind: 'status', status: 429, count: 3 });
  });
  afterAll(() => h?.close());

  const sync = async () => {
    const result = await h.cli(['sync', '--json'], env);
    expect(result.stderr).not.toMatch(/AccountKey|access_token/);
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as {
      collection: string;
      outcome: string;
      read: number;
      requests: number;
      pages: number;
      throttles: number;
    }[];
  };

  it('stores exactly the emulator records, makes the tables exact again after changes, then reads only the lookback', async () => {
    const first = await sync();
    expect(first.map((s) => s.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(first.reduce((n, s) => n + s.throttles, 0)).toBeGreaterThanOrEqual(3);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));

    const stamp = new Date(Date.now() - 60_000).toISOString().replace('Z', '1234Z');
    h.emulator.upsert('riskDetections', {
      ...detections[5]!,
      riskState: 'dismissed',
      riskDetail: 'adminDismissedAllRiskForUser',
      lastUpdatedDateTime: stamp,
    });
    h.emulator.upsert('riskyUsers', {
      ...users[3]!,
      riskState: 'dismissed',
      riskLevel: 'none',
      riskDetail: 'adminDismissedAllRiskForUser',
      riskLastUpdatedDateTime: stamp,
    });
    // Surfaces late, with a timestamp 10 minutes older than the changes above: inside the lookback.
    const lateStamp = new Date(Date.now() - 11 * 60_000).toISOString().replace('Z', '0000Z');
    const late = {
      ...generateRiskDetections(1, { seed: 77, users, from: new Date(now - 86_400_000), to: new Date(now - 3_600_000) })[0]!,
      lastUpdatedDateTime: lateStamp,
    };
    h.emulator.upsert('riskDetections', late, { visibleAfterMs: 1500 });
    const second = await sync();
    expect(second.every((s) => s.outcome === 'succeeded')).toBe(true);
    await new Promise((r) => setTimeout(r, 1600));
    const third = await sync();
    expect(third.every((s) => s.outcome === 'succeeded')).toBe(true);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));
    expect(await h.stored('riskyUserHistory')).toEqual(h.expected('riskyUserHistory'));
    expect((await h.stored('riskDetections')).some((r) => r.id === late.id)).toBe(true);

    // Nothing new, faults off and our budget within the tenant's: one request per collection, only the lookback.
    h.emulator.faults.clear();
    h.emulator.setThrottling({ rps: 8 });
    h.emulator.resetStats();
    const quiet = await sync();
    // One page each; a request again only for a 429 (the emulator runs in this loaded test process, where event
    // loop lag can squeeze two arrivals closer than they were sent).
    expect(quiet.filter((s) => s.collection !== 'riskyUserHistory').map((s) => [s.outcome, s.pages, s.requests - s.throttles])).toEqual([
      ['succeeded', 1, 1],
      ['succeeded', 1, 1],
    ]);
    expect(quiet.find((s) => s.collection === 'riskDetections')!.read).toBeLessThanOrEqual(3);
  }, 180_000);

  it('status shows the watermark, the last run and the counts', async () => {
    const result = await h.cli(['status', '--json']);
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout) as {
      collection: string;
      watermark: string;
      total: number;
      lastRun: { outcome: string };
      stale: boolean;
    }[];
    expect(status.map((s) => [s.collection, s.lastRun.outcome, s.stale])).toEqual([
      ['riskDetections', 'succeeded', false],
      ['riskyUsers', 'succeeded', false],
      ['riskyUserHistory', 'succeeded', false],
    ]);
    expect(status[0]!.total).toBe(h.expected('riskDetections').length);
    const text = await h.cli(['status']);
    expect(text.stdout).toMatch(/riskDetections \(table RiskDetections, schedule '0 \*\/10 \* \* \* \*'\)/);
    expect(text.stdout).toMatch(/by riskLevel: +/);
  });
});
