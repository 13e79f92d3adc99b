import { Quarantine } from '../../src/store/quarantine';
import { TableClient } from '@azure/data-tables';
import { checkFinal, type RunRecordOfTest } from './invariants';
import { cjkDetection, Clock, oversizeDetection, Prng, seedTenant } from './mutations';
import { quietLogger, sleep, TABLES } from './world';
import { normalizeDateTime } from '../../src/domain/datetime';
import { worldPerFile } from './worldPerFile';

/**
 * Issue 12.2 and 12.3 over the wire, through the storage proxy's Azure limits: a record Table Storage refuses does not
 * fail the run and does not vanish (it is in quarantine, counted in the run and the state), and it leaves quarantine
 * once it can be stored, although Graph does not serve it again; a record too large for an entity can be quarantined
 * in Azure too.
 */
describe('quarantine, with Azure limits', () => {
  const { world, unhandled } = worldPerFile();
  const env = { SYNC_LEASE_SECONDS: '3', GRAPH_MAX_RPS: '100', GRAPH_RETRY_BASE_MS: '10', SYNC_LOOKBACK_MINUTES: '0' };
  afterEach(() => world().proxy.setAzureLimits(true));

  it('a record the store refuses is quarantined, the run succeeds; once the store takes it, it is stored and leaves quarantine', async () => {
    const w = world();
    await w.reset(501, { pageSize: 50 });
    seedTenant(w.emulator, 501, { users: 20, detections: 150 });
    const rng = new Prng('quarantine');
    const clock = new Clock();
    const users = w.emulator.list('riskyUsers', { visibleOnly: true });
    const record = cjkDetection(rng, users, clock, 20_000);
    w.emulator.upsert('riskDetections', record);
    // The data table refuses entities over 20 KB for now (the record's is about 40 KB): it cannot be stored.
    w.proxy.setAzureLimits({ maxEntityBytes: 20_000, tables: [TABLES.riskDetections] });
    const runs: RunRecordOfTest[] = [];
    const first = await w.service(env).run('riskDetections', { trigger: 'refused' }, quietLogger);
    runs.push({ collection: 'riskDetections', runId: first.runId, outcome: first.outcome, error: first.error, label: 'refused' });
    expect(first).toMatchObject({ outcome: 'succeeded', quarantined: 1 });
    expect(w.proxy.stats.refused.EntityTooLarge).toBeGreaterThan(0);
    const quarantine = new Quarantine(w.direct(TABLES.quarantine), w.tenantId, 'riskDetections');
    const entries = await quarantine.list();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ raw: { id: record.id }, reason: expect.stringMatching(/EntityTooLarge|larger/) });
    expect((await w.state('riskDetections')).quarantined).toBe(1);
    expect((await w.stored('riskDetections')).map((r) => r.id)).not.toContain(record.id);
    // A later change, and a run while the store still refuses it: the watermark moves past the record (lookback 0,
    // the watermark capped by Graph's Date header, in seconds), so Graph will not serve it again: only quarantine has it.
    await sleep(1100);
    w.emulator.upsert('riskDetections', {
      ...w.emulator.list('riskDetections', { visibleOnly: true }).find((r) => r.id !== record.id)!,
      riskState: 'dismissed',
      lastUpdatedDateTime: clock.next(),
    } as never);
    await sleep(1100);
    const again = await w.service(env).run('riskDetections', { trigger: 'refused again' }, quietLogger);
    runs.push({ collection: 'riskDetections', runId: again.runId, outcome: again.outcome, error: again.error, label: 'refused again' });
    expect(again).toMatchObject({ outcome: 'succeeded' });
    expect(normalizeDateTime((await w.state('riskDetections')).watermark)! > normalizeDateTime(record.lastUpdatedDateTime)!).toBe(true);
    expect(await quarantine.list()).toHaveLength(1);

    w.proxy.setAzureLimits(true);
    const second = await w.service(env).run('riskDetections', { trigger: 'accepted' }, quietLogger);
    runs.push({ collection: 'riskDetections', runId: second.runId, outcome: second.outcome, error: second.error, label: 'accepted' });
    expect(second).toMatchObject({ outcome: 'succeeded' });
    expect(await quarantine.list()).toEqual([]);
    expect((await w.state('riskDetections')).quarantined ?? 0).toBe(0);
    const stored = (await w.stored('riskDetections')).find((r) => r.id === record.id);
    expect(stored?.additionalInfo).toBe(record.additionalInfo);
    // Rows and counts exact (riskyUsers and its history are synced too, for the final check).
    for (const collection of ['riskyUsers', 'riskyUserHistory'] as const) {
      const summary = await w.service(env).run(collection, { trigger: 'rest' }, quietLogger);
      runs.push({ collection, runId: summary.runId, outcome: summary.outcome, error: summary.error, label: 'rest' });
    }
    expect(await checkFinal(w, runs, 'quarantine')).toEqual([]);
    expect(unhandled.reasons).toEqual([]);
  }, 120_000);

  it('a record whose raw JSON is over 1 MiB (CJK too) can be quarantined in Azure: its raw JSON is kept up to what an entity holds', async () => {
    const w = world();
    const table = TableClient.fromConnectionString(w.proxy.connectionString, TABLES.quarantine, { allowInsecureConnection: true });
    await table.createTable().catch(() => undefined);
    const quarantine = new Quarantine(table, w.tenantId, 'quarantineSizes');
    const rng = new Prng('quarantine sizes');
    const clock = new Clock();
    const users = w.emulator.list('riskyUsers', { visibleOnly: true });
    const huge = [oversizeDetection(rng, users, clock), oversizeDetection(rng, users, clock), cjkDetection(rng, users, clock, 600_000)];
    for (const record of huge) {
      expect(JSON.stringify(record).length).toBeGreaterThan(500_000);
      await quarantine.put(record, 'a reason', 'run-1', new Date().toISOString());
      await quarantine.put(record, 'seen again', 'run-2', new Date().toISOString()); // an update: Azurite checks its size
    }
    const entries = await quarantine.list();
    expect(entries.map((e) => e.rowKey).sort()).toEqual(huge.map((r) => r.id).sort());
    expect(entries.every((e) => e.reason === 'seen again')).toBe(true);
  }, 120_000);
});
