import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import type { LocalHost } from '../../tools/host/localHost';
import { COLLECTION_NAMES, COLLECTIONS, TOP_LEVEL_NAMES, type CollectionName } from '../../src/domain/collections';
import type { SyncService } from '../../src/sync/service';
import { quietLogger, startHarness, type Harness } from '../support/harness';
import { apiUrl, getJson, startApi } from './helpers';

/** GET /api/snapshot and GET /api/health over the wire, on state written by the real sync. */
const DAY = 86_400_000;

interface Summary {
  total: number;
  byRiskLevel: Record<string, number>;
  byRiskState: Record<string, number>;
  lastSuccessfulSyncAt: string | null;
  watermark: string | null;
  stale: boolean;
  staleReason: string | null;
  lastRun: { outcome: string; finishedAt: string; records: number; error: string | null } | null;
  passInProgress: unknown;
}
type SnapshotBody = { collections: Record<CollectionName, Summary> };
type HealthBody = { status: string; reasons?: string[]; collections: Record<string, { stale: boolean; lastSuccessfulSyncAt: string | null }> };

const tally = (records: Record<string, unknown>[], column: string) => {
  const counts: Record<string, number> = {};
  for (const r of records) {
    const value = typeof r[column] === 'string' && r[column] !== '' ? (r[column] as string) : '(none)';
    counts[value] = (counts[value] ?? 0) + 1;
  }
  return counts;
};

/** A service whose data-table clients throw on any use: proof that a route never touches the data tables. */
function withoutDataTables(h: Harness): { service: SyncService; touched: string[] } {
  const service = h.service({
    TABLE_RISK_DETECTIONS: 'NoSuchTableOne',
    TABLE_RISKY_USERS: 'NoSuchTableTwo',
    TABLE_RISKY_USER_HISTORY: 'NoSuchTableThree',
  });
  const touched: string[] = [];
  for (const name of COLLECTION_NAMES) {
    service.tables.collections[name] = new Proxy(service.tables.collections[name], {
      get(_target, property) {
        touched.push(`${name}.${String(property)}`);
        throw new Error(`the ${name} table was touched`);
      },
    });
  }
  return { service, touched };
}

describe('GET /api/snapshot and /api/health', () => {
  let h: Harness;
  let service: SyncService;
  let api: LocalHost & { errors: string[] };
  const now = Date.now();
  const users = generateRiskyUsers(30, { seed: 5, from: new Date(now - 20 * DAY), to: new Date(now - 3_600_000) });
  const detections = generateRiskDetections(150, { seed: 5, users, from: new Date(now - 20 * DAY), to: new Date(now - 3_600_000) });
  const url = (path: string, params: Record<string, string> = {}) => apiUrl(api, path, params);
  const sync = async (collections: CollectionName[] = []) => service.runAll(collections, { trigger: 'test' }, quietLogger);

  beforeAll(async () => {
    h = await startHarness();
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
    service = h.service();
    api = await startApi(h, () => service);
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  it('before any sync: empty summaries, stale, and health 503 naming every collection', async () => {
    const snapshot = await getJson<SnapshotBody>(url('snapshot'));
    expect(snapshot.status).toBe(200);
    expect(Object.keys(snapshot.body.collections)).toEqual(COLLECTION_NAMES);
    expect(snapshot.body.collections.riskyUserHistory).toMatchObject({ total: 0, stale: true, staleReason: 'no run has completed yet' });
    for (const name of TOP_LEVEL_NAMES) {
      expect(snapshot.body.collections[name]).toEqual({
        total: 0,
        byRiskLevel: {},
        byRiskState: {},
        lastSuccessfulSyncAt: null,
        watermark: null,
        stale: true,
        staleReason: 'no run has completed yet',
        lastRun: null,
        passInProgress: null,
        access: 'licensed',
        accessAction: null,
        lastSweep: null,
        dataShape: null,
        quarantined: 0,
      });
    }
    const health = await getJson<HealthBody>(url('health'));
    expect(health.status).toBe(503);
    expect(health.headers.get('cache-control')).toBe('no-store');
    expect(health.body.status).toBe('unhealthy');
    expect(health.body.reasons).toEqual([
      'riskDetections: no run has completed yet',
      'riskyUsers: no run has completed yet',
      'riskyUserHistory: no run has completed yet',
    ]);
  });

  it('after a sync: counts, watermark and last run of each collection; health 200', async () => {
    const runs = await sync();
    expect(runs.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const snapshot = await getJson<SnapshotBody>(url('snapshot'));
    expect(snapshot.body.collections.riskyUserHistory).toMatchObject({ total: h.expected('riskyUserHistory').length, stale: false });
    expect(snapshot.status).toBe(200);
    expect(snapshot.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(snapshot.headers.get('cache-control')).toBe('no-cache');
    expect(snapshot.body).not.toHaveProperty('generatedAt');
    for (const name of TOP_LEVEL_NAMES) {
      const records = h.expected(name);
      const summary = snapshot.body.collections[name];
      expect(summary.total).toBe(records.length);
      expect(summary.byRiskLevel).toEqual(tally(records, 'riskLevel'));
      expect(summary.byRiskState).toEqual(tally(records, 'riskState'));
      expect(summary.watermark).toBe(
        records
          .map((r) => String(r[COLLECTIONS[name].cursor]))
          .sort()
          .at(-1),
      );
      expect(summary.stale).toBe(false);
      expect(summary.staleReason).toBeNull();
      expect(summary.passInProgress).toBeNull();
      expect(summary.lastRun).toMatchObject({ outcome: 'succeeded', read: records.length, error: null });
      expect(Date.parse(summary.lastSuccessfulSyncAt!)).toBeGreaterThan(now - 60_000);
    }
    const health = await getJson<HealthBody>(url('health'));
    expect(health.status).toBe(200);
    expect(health.body).toEqual({
      status: 'healthy',
      unlicensed: [],
      forbidden: [],
      collections: {
        riskDetections: expect.objectContaining({ stale: false, lastSuccessfulSyncAt: expect.any(String), lastRunOutcome: 'succeeded' }),
        riskyUsers: expect.objectContaining({ stale: false, lastSuccessfulSyncAt: expect.any(String), lastRunOutcome: 'succeeded' }),
        riskyUserHistory: expect.objectContaining({ stale: false, lastSuccessfulSyncAt: expect.any(String), lastRunOutcome: 'succeeded' }),
      },
    });
    const head = await fetch(url('health'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('ETag: If-None-Match answers 304 (also *, lists and weak tags); another sync that changes data changes the ETag', async () => {
    const first = await fetch(url('snapshot'));
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect((await fetch(url('snapshot'))).headers.get('etag')).toBe(etag); // stable while nothing changes
    for (const ifNoneMatch of [etag, '*', `"nope", ${etag}`, `W/${etag}`]) {
      const response = await fetch(url('snapshot'), { headers: { 'if-none-match': ifNoneMatch } });
      expect(response.status).toBe(304);
      expect(await response.text()).toBe('');
      expect(response.headers.get('etag')).toBe(etag);
    }
    expect((await fetch(url('snapshot'), { headers: { 'if-none-match': '"nope"' } })).status).toBe(200);

    // A user's risk is dismissed in Graph; the next sync writes it.
    const before = (await getJson<SnapshotBody>(url('snapshot'))).body.collections.riskyUsers;
    const atRisk = h.expected('riskyUsers').find((u) => u.riskState === 'atRisk')!;
    h.emulator.upsert('riskyUsers', {
      ...atRisk,
      riskState: 'dismissed',
      riskLevel: 'none',
      riskLastUpdatedDateTime: new Date().toISOString(),
    } as never);
    await sync(['riskyUsers']);
    const changed = await fetch(url('snapshot'), { headers: { 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    const after = ((await changed.json()) as SnapshotBody).collections.riskyUsers;
    expect(after.byRiskState.atRisk).toBe(before.byRiskState.atRisk! - 1);
    expect(after.byRiskState.dismissed ?? 0).toBe((before.byRiskState.dismissed ?? 0) + 1);
    expect(after.total).toBe(before.total);
  });

  it('the summary never reads a data table (it answers the same with the data tables out of reach)', async () => {
    const reference = await getJson<SnapshotBody>(url('snapshot'));
    const { service: blind, touched } = withoutDataTables(h);
    const other = await startApi(h, () => blind);
    try {
      const started = performance.now();
      const answer = await getJson<SnapshotBody>(apiUrl(other, 'snapshot'));
      expect(performance.now() - started).toBeLessThan(1000);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual(reference.body);
      expect(answer.headers.get('etag')).toBe(reference.headers.get('etag'));
      expect((await getJson(apiUrl(other, 'health'))).status).toBe(200);
      expect(touched).toEqual([]);
      expect(other.errors).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('health turns 503 when a sync fails, and back to 200 after a successful one', async () => {
    // A code with a stack-like tail: what the run records whole reaches health and the summary as one short line.
    const dump = `BadRequest\n    at Object.request (/node_modules/sdk/client.js:1:1)\n${'    at frame (x.js:2:2)\n'.repeat(40)}`;
    h.emulator.faults.add({ kind: 'status', status: 400, collection: 'riskyUsers', code: dump });
    const [run] = await sync(['riskyUsers']);
    expect(run!.outcome).toBe('failed');
    const health = await getJson<HealthBody>(url('health'));
    expect(health.status).toBe(503);
    expect(health.body.status).toBe('unhealthy');
    expect(health.body.reasons).toHaveLength(1);
    expect(health.body.reasons![0]).toMatch(/^riskyUsers: the last run failed: /);
    expect(health.body.collections.riskyUsers!.stale).toBe(true);
    expect(health.body.collections.riskDetections!.stale).toBe(false);
    const snapshot = await getJson<SnapshotBody>(url('snapshot'));
    expect(snapshot.body.collections.riskyUsers.lastRun).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/400 BadRequest/) });
    for (const reason of [
      snapshot.body.collections.riskyUsers.lastRun!.error!,
      snapshot.body.collections.riskyUsers.staleReason!,
      ...health.body.reasons!,
    ]) {
      expect(reason).not.toMatch(/[\r\n]|at frame/);
      expect(reason.length).toBeLessThanOrEqual(400);
    }
    expect(snapshot.body.collections.riskyUsers.stale).toBe(true);

    h.emulator.faults.clear();
    await sync(['riskyUsers']);
    expect((await getJson(url('health'))).status).toBe(200);
  });

  it('health turns 503 when the last success is older than SNAPSHOT_STALE_AFTER_RUNS schedule intervals', async () => {
    const every = { SYNC_SCHEDULE_RISKY_USERS: '*/1 * * * * *', SYNC_SCHEDULE_RISK_DETECTIONS: '*/1 * * * * *', SNAPSHOT_STALE_AFTER_RUNS: '1' };
    const fast = h.service(every);
    const other = await startApi(h, () => fast);
    try {
      await new Promise((r) => setTimeout(r, 2100));
      const health = await getJson<HealthBody>(apiUrl(other, 'health'));
      expect(health.status).toBe(503);
      expect(health.body.reasons).toEqual([
        expect.stringMatching(/^riskDetections: the last success \(.+\) is older than 1 schedule intervals \(1 s\)$/),
        expect.stringMatching(/^riskyUsers: the last success \(.+\) is older than 1 schedule intervals \(1 s\)$/),
        // The history runs with its parent: stale on the parent's schedule.
        expect.stringMatching(/^riskyUserHistory: the last success \(.+\) is older than 1 schedule intervals \(1 s\)$/),
      ]);
      const snapshot = await getJson<SnapshotBody>(apiUrl(other, 'snapshot'));
      expect(snapshot.body.collections.riskyUsers.stale).toBe(true);
      // The same state through the default settings is fresh, and the ETag tells the two apart.
      expect((await getJson(url('health'))).status).toBe(200);
      expect(snapshot.headers.get('etag')).not.toBe((await fetch(url('snapshot'))).headers.get('etag'));
    } finally {
      await other.close();
    }
  });

  it('when the sync state can not be read: health 503 (generic reason), the summary a generic 500; details only in the log', async () => {
    const broken = h.service();
    broken.tables.state = new Proxy(broken.tables.state, {
      get(target, property, receiver) {
        if (property === 'getEntity') return () => Promise.reject(new Error('connect ECONNREFUSED AccountKey=c2VjcmV0'));
        return Reflect.get(target, property, receiver);
      },
    });
    const other = await startApi(h, () => broken);
    try {
      const health = await fetch(apiUrl(other, 'health'));
      const text = await health.text();
      expect(health.status).toBe(503);
      expect(JSON.parse(text)).toMatchObject({ status: 'unhealthy', reasons: ['the sync state could not be read (see the function log)'] });
      const snapshot = await fetch(apiUrl(other, 'snapshot'));
      const snapshotText = await snapshot.text();
      expect(snapshot.status).toBe(500);
      for (const t of [text, snapshotText]) expect(t).not.toMatch(/AccountKey|ECONNREFUSED/);
      expect(other.errors.join('\n')).toMatch(/ECONNREFUSED/);
    } finally {
      await other.close();
    }
  });

  it('stays consistent under concurrent requests during a sync', async () => {
    h.emulator.upsert('riskDetections', generateRiskDetections(40, { seed: 77, users, from: new Date(Date.now() - 30_000), to: new Date() }));
    const during = sync(['riskDetections']);
    const answers = await Promise.all(Array.from({ length: 20 }, () => getJson<SnapshotBody>(url('snapshot'))));
    await during;
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const final = await getJson<SnapshotBody>(url('snapshot'));
    expect(final.body.collections.riskDetections.total).toBe(h.expected('riskDetections').length);
    expect(api.errors).toEqual([]);
  });
});
