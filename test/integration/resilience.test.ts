import { systemClock } from '../../src/domain/clock';
import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { CollectionStateStore } from '../../src/store/syncState';
import { latestRuns } from '../../src/store/syncRuns';
import { eventually, quietLogger, startHarness, type Harness } from '../support/harness';

const now = Date.now();
const users = generateRiskyUsers(60, { seed: 3, from: new Date(now - 30 * 86_400_000), to: new Date(now - 3_600_000) });
const detections = (n: number, seed = 3) =>
  generateRiskDetections(n, { seed, users, from: new Date(now - 30 * 86_400_000), to: new Date(now - 3_600_000) });

async function world(n: number, options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(options);
  h.emulator.upsert('riskyUsers', users);
  h.emulator.upsert('riskDetections', detections(n));
  return h;
}

const stateOf = (h: Harness, collection: 'riskDetections' | 'riskyUsers' = 'riskDetections') =>
  new CollectionStateStore(h.table('SyncState'), h.emulator.tenantId, collection, { leaseMs: 5000, clock: systemClock }).read();

describe('sync under Graph faults', () => {
  let h: Harness;
  afterEach(() => h?.close());

  it('survives a throttling storm (429 without Retry-After) and stores exactly what Graph holds', async () => {
    h = await world(2600, { emulator: { throttling: true, rps: 4 } });
    h.emulator.faults.add({ kind: 'status', status: 429, count: 5 });
    // The client's budget is above the tenant's: the emulator answers 429 whenever we go too fast.
    const [summary] = await h.service({ GRAPH_MAX_RPS: '10' }).runAll(['riskDetections'], { trigger: 'test' }, quietLogger);
    expect(summary).toMatchObject({ outcome: 'succeeded', read: 2600 });
    expect(summary!.throttles).toBeGreaterThanOrEqual(5);
    expect(summary!.retries).toBeGreaterThanOrEqual(summary!.throttles);
    expect(h.emulator.requestLog().some((r) => r.status === 429)).toBe(true);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
  });

  it('retries 503/504 (with and without Retry-After), resets and cut bodies', async () => {
    h = await world(2600, { emulator: { seed: 11 } });
    h.emulator.faults.add({ kind: 'status', status: 503, probability: 0.25 });
    h.emulator.faults.add({ kind: 'status', status: 504, retryAfterSeconds: 0, probability: 0.2 });
    h.emulator.faults.add({ kind: 'reset', count: 1 });
    h.emulator.faults.add({ kind: 'truncate', count: 1 });
    const summaries = await h.service().runAll([], { trigger: 'test' }, quietLogger);
    expect(summaries.map((s) => s.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(summaries.reduce((n, s) => n + s.retries, 0)).toBeGreaterThanOrEqual(2);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));
  });

  it('asks for a fresh token once after a 401, and fails with the hint when Graph refuses it twice', async () => {
    h = await world(600);
    h.emulator.faults.add({ kind: 'status', status: 401, code: 'InvalidAuthenticationToken', count: 1 });
    const [ok] = await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger);
    expect(ok).toMatchObject({ outcome: 'succeeded', read: 600 });
    expect(h.emulator.requestLog().filter((r) => r.status === 401)).toHaveLength(1);

    h.emulator.faults.add({ kind: 'status', status: 401, code: 'InvalidAuthenticationToken', count: 2 });
    h.emulator.resetStats();
    const [failed] = await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger);
    expect(failed).toMatchObject({ outcome: 'failed', errorCode: 'InvalidAuthenticationToken' });
    expect(failed!.error).toMatch(/401 InvalidAuthenticationToken.*AZURE_TENANT_ID/);
    expect(h.emulator.requestLog().filter((r) => r.listener === 'graph')).toHaveLength(2);
  });

  it('fails a run on any other 4xx with Graph code and message, keeps the watermark, and says so in SyncRuns', async () => {
    h = await world(600);
    await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger);
    const before = await stateOf(h);
    h.emulator.faults.add({ kind: 'status', status: 409, code: 'Conflict', count: 1 });
    const result = await h.cli(['sync', '--dataset', 'riskDetections', '--json']);
    expect(result.code).toBe(1);
    const [summary] = JSON.parse(result.stdout) as { outcome: string; error: string; errorCode: string }[];
    expect(summary).toMatchObject({ outcome: 'failed', errorCode: 'Conflict' });
    expect(summary!.error).toMatch(/409 Conflict: Injected fault/);
    const [run] = await latestRuns(h.table('SyncRuns'), h.emulator.tenantId, 'riskDetections');
    expect(run).toMatchObject({ outcome: 'failed', errorCode: 'Conflict' });
    const after = await stateOf(h);
    expect(after.watermark).toBe(before.watermark);
    expect(after.lastRun?.outcome).toBe('failed');
  });

  it('a missing permission is `forbidden`, not a failure: one request, the permission named, exit 0, watermark kept', async () => {
    h = await world(600);
    await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger);
    const before = await stateOf(h);
    h.emulator.resetStats();
    h.emulator.faults.add({ kind: 'status', status: 403, code: 'Authorization_RequestDenied' });
    const result = await h.cli(['sync', '--dataset', 'riskDetections', '--json']);
    expect(result.code).toBe(0);
    const [summary] = JSON.parse(result.stdout) as { outcome: string; error: string; action: string; retries: number }[];
    expect(summary).toMatchObject({ outcome: 'forbidden', retries: 0 });
    expect(summary!.action).toMatch(/IdentityRiskEvent\.Read\.All/);
    expect(h.emulator.requestLog().filter((r) => r.listener === 'graph')).toHaveLength(1);
    const [run] = await latestRuns(h.table('SyncRuns'), h.emulator.tenantId, 'riskDetections');
    expect(run).toMatchObject({ outcome: 'forbidden' });
    const after = await stateOf(h);
    expect(after.watermark).toBe(before.watermark);
    expect(after.access).toMatchObject({ state: 'forbidden', code: 'Authorization_RequestDenied' });
  });
});

describe('sync under crashes and concurrency', () => {
  let h: Harness;
  afterEach(() => h?.close());

  // Ten pages: the kill comes after four are checkpointed, with six still to read and write.
  const RECORDS = 5000;
  it('kill -9 in the middle of a pass: the watermark stays, the next run resumes, nothing is lost or doubled', async () => {
    h = await world(RECORDS, { emulator: { throttling: true, rps: 8 } });
    // A lease long enough that the blocked run below starts inside it even on a loaded machine.
    const env = { GRAPH_MAX_RPS: '8', SYNC_LEASE_SECONDS: '10' };
    const child = h.spawnCli(['sync', '--dataset', 'riskDetections'], env);
    await eventually(async () => ((await stateOf(h)).pass?.pages ?? 0) >= 4, 30_000, 'four checkpointed pages');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    const interrupted = await stateOf(h);
    expect(interrupted.watermark).toBeUndefined(); // the first pass never finished
    expect(interrupted.pass!.pages).toBeGreaterThanOrEqual(4);
    const storedAtKill = (await h.stored('riskDetections')).length;
    expect(storedAtKill).toBeLessThan(RECORDS);

    // The lease names a process of this host that no longer exists: the next run takes it at once and resumes.
    h.emulator.resetStats();
    const resumed = await h.cli(['sync', '--dataset', 'riskDetections', '--json'], env);
    expect(resumed.code).toBe(0);
    const [summary] = JSON.parse(resumed.stdout) as { outcome: string; pages: number; read: number }[];
    expect(summary!.outcome).toBe('succeeded');
    // It resumed from the checkpoint (its first page is the saved next link), then read what changed since the pass
    // began in one short pass of its own (one new query).
    const pages = h.emulator.requestLog().filter((r) => r.route === 'riskDetections' && r.status === 200);
    expect(pages[0]!.url).toContain('$skiptoken');
    expect(pages.filter((r) => !r.url.includes('$skiptoken'))).toHaveLength(1);
    expect(pages.filter((r) => r.url.includes('$skiptoken')).length).toBeLessThan(RECORDS / 500 - interrupted.pass!.pages + 2);

    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    const state = await stateOf(h);
    expect(state.watermark).toBe(
      detections(RECORDS)
        .map((d) => d.lastUpdatedDateTime as string)
        .sort()
        .at(-1),
    );
    expect(state.aggregates.total).toBe(RECORDS);
    const runs = await latestRuns(h.table('SyncRuns'), h.emulator.tenantId, 'riskDetections', 5);
    expect(runs.map((r) => r.outcome)).toEqual(['succeeded', 'interrupted']);
  }, 300_000);

  it('two runs started together: one writes, the other says a live run holds the lease (exit 3), and the tables are exact', async () => {
    h = await world(3000, { emulator: { throttling: true, rps: 10 } });
    const env = { GRAPH_MAX_RPS: '10' };
    const [a, b] = await Promise.all([
      h.cli(['sync', '--dataset', 'riskDetections', '--json'], env),
      h.cli(['sync', '--dataset', 'riskDetections', '--json'], env),
    ]);
    expect([a.code, b.code].sort()).toEqual([0, 3]);
    const outcomes = [...JSON.parse(a.stdout), ...JSON.parse(b.stdout)]
      .filter((s: { collection: string }) => s.collection === 'riskDetections')
      .map((s: { outcome: string }) => s.outcome)
      .sort();
    expect(outcomes).toEqual(['skipped', 'succeeded']);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
  });
});

describe('configuration errors', () => {
  let h: Harness;
  beforeAll(async () => (h = await world(10)));
  afterAll(() => h?.close());

  it.each([
    [{ AZURE_TENANT_ID: '' }, /AZURE_TENANT_ID: is required/],
    [{ GRAPH_MAX_RPS: 'fast' }, /GRAPH_MAX_RPS: must be a number/],
    [{ TABLES_CONNECTION_STRING: '' }, /TABLES_ENDPOINT: or TABLES_CONNECTION_STRING is required/],
    [{ GRAPH_ENDPOINT: 'http://127.0.0.1:1' }, /GRAPH_ENDPOINT: must use https/],
    [{ SYNC_SCHEDULE_RISKY_USERS: 'every minute' }, /SYNC_SCHEDULE_RISKY_USERS: must be an NCRONTAB expression/],
  ])('%j stops the CLI before any work, naming the setting', async (env, message) => {
    const result = await h.cli(['sync'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toContain('AccountKey=');
  });

  it('rejects an unknown dataset with the accepted names', async () => {
    const result = await h.cli(['sync', '--dataset', 'signIns']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/riskDetections, riskyUsers/);
  });
});
