import { systemClock } from '../../src/domain/clock';
import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { COLLECTION_NAMES } from '../../src/domain/collections';
import { minusMinutes } from '../../src/domain/datetime';
import { CollectionStateStore } from '../../src/store/syncState';
import { latestRuns } from '../../src/store/syncRuns';
import { startHarness, quietLogger, type Harness } from '../support/harness';

/** Incremental sync over the wire: emulator -> real SDKs -> Azurite. */
describe('sync engine against the Graph emulator and Azurite', () => {
  let h: Harness;
  const now = Date.now();
  const users = generateRiskyUsers(120, { seed: 7, from: new Date(now - 60 * 86_400_000), to: new Date(now - 3_600_000) });
  const detections = generateRiskDetections(1300, { seed: 7, users, from: new Date(now - 60 * 86_400_000), to: new Date(now - 3_600_000) });

  beforeAll(async () => {
    h = await startHarness();
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
  });
  afterAll(() => h?.close());

  const state = (collection: string) =>
    new CollectionStateStore(h.table('SyncState'), h.emulator.tenantId, collection, { leaseMs: 5000, clock: systemClock }).read();

  it('a first sync stores exactly what Graph holds, with typed columns, counts and a run row', async () => {
    const service = h.service();
    const summaries = await service.runAll([], { trigger: 'test' }, quietLogger);
    expect(summaries.map((s) => s.outcome)).toEqual(['succeeded', 'succeeded']);
    const detectionRun = summaries.find((s) => s.collection === 'riskDetections')!;
    expect(detectionRun.read).toBe(1300);
    expect(detectionRun.pages).toBe(3); // 500 + 500 + 300
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));

    const s = await state('riskDetections');
    const maxCursor = detections
      .map((d) => d.lastUpdatedDateTime as string)
      .sort()
      .at(-1);
    expect(s.watermark).toBe(maxCursor);
    expect(s.pass).toBeUndefined();
    expect(s.aggregates.total).toBe(1300);
    const high = detections.filter((d) => d.riskLevel === 'high').length;
    expect(s.aggregates.by.riskLevel?.high ?? 0).toBe(high);

    const [run] = await latestRuns(h.table('SyncRuns'), h.emulator.tenantId, 'riskDetections');
    expect(run).toMatchObject({ outcome: 'succeeded', read: 1300, pages: 3, trigger: 'test' });
    expect(run!.startedAt).toBeInstanceOf(Date); // typed DateTime columns for BI
    expect(run!.watermarkAfter).toBeInstanceOf(Date);

    // The Graph requests carried the Prefer header, $top=500 and no filter on the first pass.
    const log = h.emulator.requestLog().filter((r) => r.url.includes('riskDetections'));
    expect(log[0]!.url).toContain('$top=500');
    expect(log[0]!.url).not.toContain('$filter');
  });

  it('the rows are typed for BI: DateTime columns and flattened location', async () => {
    const client = h.table('RiskDetections');
    const sample = detections.find((d) => d.location && (d.location as { geoCoordinates?: unknown }).geoCoordinates)!;
    const rows = client.listEntities({ queryOptions: { filter: `RowKey eq '${sample.id}'` } });
    const row = (await rows.next()).value as Record<string, unknown>;
    expect(row.lastUpdatedDateTime).toBeInstanceOf(Date);
    expect(row.detectedDateTime).toBeInstanceOf(Date);
    expect(typeof row.locationLatitude).toBe('number');
    expect(row.tenantId).toBe(h.emulator.tenantId);
    expect(row.syncedAt).toBeInstanceOf(Date);
  });

  it('an incremental run picks up updates, new records, late records in the lookback and a dismissal', async () => {
    const before = await state('riskDetections');
    const watermark = before.watermark!;
    const stamp = (offsetMs: number) => new Date(Date.parse(watermark.slice(0, 23) + 'Z') + offsetMs).toISOString().replace('Z', '0000Z');

    const updated = {
      ...detections[0]!,
      riskState: 'remediated',
      riskLevel: 'none',
      riskDetail: 'userPerformedSecuredPasswordChange',
      lastUpdatedDateTime: stamp(60_000),
    };
    const fresh = generateRiskDetections(3, { seed: 99, users, from: new Date(now - 60_000), to: new Date(now) }).map((d) => ({
      ...d,
      userDisplayName: "Zoë D'Arcy-Łukasz",
      lastUpdatedDateTime: stamp(120_000),
    }));
    // An offline detection surfaces late: its timestamp is 10 minutes behind the watermark, inside the 30-minute lookback.
    const late = {
      ...generateRiskDetections(1, { seed: 5, users, from: new Date(now - 86_400_000), to: new Date(now - 3_600_000) })[0]!,
      lastUpdatedDateTime: stamp(-10 * 60_000),
    };
    h.emulator.upsert('riskDetections', [updated, ...fresh, late]);
    const dismissed = {
      ...users[0]!,
      riskState: 'dismissed',
      riskLevel: 'none',
      riskDetail: 'adminDismissedAllRiskForUser',
      riskLastUpdatedDateTime: stamp(30_000),
    };
    h.emulator.upsert('riskyUsers', dismissed);
    h.emulator.resetStats();

    const summaries = await h.service().runAll([], { trigger: 'test' }, quietLogger);
    expect(summaries.every((s) => s.outcome === 'succeeded')).toBe(true);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));

    const after = await state('riskDetections');
    expect(after.watermark).toBe(stamp(120_000).slice(0, 23) + watermark.slice(23));
    expect(after.aggregates.total).toBe(1300 + 4);
    const users_ = await state('riskyUsers');
    expect(users_.aggregates.by.riskState?.dismissed).toBe(h.expected('riskyUsers').filter((u) => u.riskState === 'dismissed').length);

    // The filter started a lookback window behind the previous watermark (unquoted datetime literal).
    const first = h.emulator.requestLog().find((r) => r.url.includes('riskDetections'))!;
    expect(decodeURIComponent(first.url)).toContain(`lastUpdatedDateTime ge ${minusMinutes(watermark, 30)}`);
  });

  it('a run with nothing new reads only the lookback window and changes nothing', async () => {
    const before = await Promise.all(COLLECTION_NAMES.map(state));
    h.emulator.resetStats();
    const summaries = await h.service().runAll([], { trigger: 'test' }, quietLogger);
    expect(summaries.map((s) => s.outcome)).toEqual(['succeeded', 'succeeded']);
    // Only what changed within the last 30 minutes of the watermark comes back.
    const windowStart = minusMinutes(before[0]!.watermark!, 30);
    const inWindow = h.expected('riskDetections').filter((d) => (d.lastUpdatedDateTime as string) >= windowStart).length;
    expect(inWindow).toBeLessThan(1300 / 10);
    expect(summaries.find((s) => s.collection === 'riskDetections')!.read).toBe(inWindow);
    expect(summaries.every((s) => s.pages === 1 && s.requests === 1)).toBe(true);
    const after = await Promise.all(COLLECTION_NAMES.map(state));
    expect(after.map((s) => [s.watermark, s.aggregates])).toEqual(before.map((s) => [s.watermark, s.aggregates]));
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
  });

  it('a record too large for Table Storage as it is, with apostrophes and non-ASCII, is stored whole and counted', async () => {
    const watermark = (await state('riskDetections')).watermark!;
    const huge = {
      ...detections[1]!,
      userDisplayName: "Ægir O'Connor-Nuñez 李雷",
      additionalInfo: JSON.stringify(Array.from({ length: 4000 }, (_, i) => ({ Key: `k${i}`, Value: `välue ${i} — ok` }))),
      lastUpdatedDateTime: minusMinutes(watermark, -1),
    };
    expect(huge.additionalInfo.length).toBeGreaterThan(64_000);
    h.emulator.upsert('riskDetections', huge);
    const [summary] = await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger);
    expect(summary!.outcome).toBe('succeeded');
    expect(summary!.adjusted).toBe(1);
    const stored = (await h.stored('riskDetections')).find((r) => r.id === huge.id);
    expect(stored).toEqual(h.expected('riskDetections').find((r) => r.id === huge.id));
    expect(stored!.additionalInfo).toBe(huge.additionalInfo);
  });
});
