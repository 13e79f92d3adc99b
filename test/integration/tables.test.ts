/**
 * The sync's tables: created on the first start; later starts read one SyncState row instead of asking for each
 * table (eight requests in front of the first Graph request), once however many runs begin at the same time; a table
 * deleted by hand is created again, and when it was a collection's own the next run reads everything again.
 */
import { TableClient } from '@azure/data-tables';
import { systemClock } from '../../src/domain/clock';
import { CollectionStateStore } from '../../src/store/syncState';
import { generateRiskDetections } from '../../tools/emulator';
import { startStorageProxy, type StorageProxy } from '../../tools/storage-proxy/storageProxy';
import { quietLogger, startHarness, type Harness } from '../support/harness';

describe('the sync tables', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    const now = Date.now();
    h.emulator.upsert('riskDetections', generateRiskDetections(40, { seed: 71, from: new Date(now - 86_400_000), to: new Date(now - 60_000) }));
  });
  afterAll(() => h?.close());
  afterEach(() => jest.restoreAllMocks());

  it('are created by the first run and not asked for again by later processes', async () => {
    const created = jest.spyOn(TableClient.prototype, 'createTable');
    // A service per run: each is a new process's set of clients.
    expect((await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger)).map((s) => s.outcome)).toEqual(['succeeded']);
    expect(created.mock.calls.length).toBeGreaterThanOrEqual(5);
    const marker = await h.table(h.settings().stateTable).getEntity<{ tables: string }>('_sync', 'tables');
    expect(marker.tables.split(',')).toEqual(expect.arrayContaining([h.settings().collections.riskDetections!.table, h.settings().runsTable]));

    created.mockClear();
    expect((await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger)).map((s) => s.outcome)).toEqual(['succeeded']);
    expect(created).not.toHaveBeenCalled();
  });

  it('are checked once by a process whose runs begin at the same time', async () => {
    const read = jest.spyOn(TableClient.prototype, 'getEntity');
    const service = h.service();
    const outcomes = (await service.runAll([], { trigger: 'test' }, quietLogger)).map((s) => s.outcome);
    expect(outcomes.length).toBeGreaterThanOrEqual(2);
    expect(outcomes.every((o) => o === 'succeeded')).toBe(true);
    expect(read.mock.calls.filter(([partitionKey, rowKey]) => partitionKey === '_sync' && rowKey === 'tables')).toHaveLength(1);
  });

  it('are created again after one was deleted by hand: one run fails saying so, the next reads everything again', async () => {
    const detections = h.table(h.settings().collections.riskDetections!.table);
    await detections.deleteTable();
    const warnings: string[] = [];
    const log = { ...quietLogger, warn: (m: string) => warnings.push(m) };
    // Azurite may refuse to recreate a table for a moment after its deletion: the runs go on until one succeeds.
    const outcomes: string[] = [];
    for (let i = 0; i < 10 && outcomes.at(-1) !== 'succeeded'; i++) {
      const [summary] = await h.service().runAll(['riskDetections'], { trigger: 'test' }, log);
      outcomes.push(summary!.outcome);
      if (summary!.outcome === 'failed') expect(summary!.error).toMatch(/TableNotFound|table/i);
    }
    expect(outcomes[0]).toBe('failed');
    expect(outcomes.at(-1)).toBe('succeeded');
    expect(warnings).toContainEqual(expect.stringMatching(/RiskDetections was deleted.*reads everything again/));
    // The rows went with the table, and the watermark was past them: the run that succeeded read them all again,
    // and counted them from zero.
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect((await stateOf(h, 'riskDetections')).aggregates.total).toBe(h.expected('riskDetections').length);
  });

  it("leave the watermark alone when the table that went missing is not the collection's own", async () => {
    const before = await stateOf(h, 'riskDetections');
    await h.table(h.settings().runsTable).deleteTable();
    const outcomes: string[] = [];
    for (let i = 0; i < 10 && outcomes.at(-1) !== 'succeeded'; i++)
      outcomes.push((await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger))[0]!.outcome);
    expect(outcomes.at(-1)).toBe('succeeded');
    const after = await stateOf(h, 'riskDetections');
    expect(after.watermark).toBe(before.watermark);
    expect(after.aggregates.total).toBe(before.aggregates.total);
  });
});

/**
 * Table Storage keeps a deleted table's name for 40 seconds or more and answers 409 TableBeingDeleted meanwhile, to a
 * create too (Azurite frees it at once): the storage proxy does as Azure does.
 */
describe('a table that is still being deleted', () => {
  let h: Harness;
  let proxy: StorageProxy;
  let env: Record<string, string>;
  beforeAll(async () => {
    h = await startHarness();
    proxy = await startStorageProxy({ port: h.azurite.port }, { tableDeletionMs: 10 * 60_000 });
    env = { TABLES_CONNECTION_STRING: proxy.connectionString };
    const now = Date.now();
    h.emulator.upsert('riskDetections', generateRiskDetections(30, { seed: 72, from: new Date(now - 86_400_000), to: new Date(now - 60_000) }));
  });
  afterAll(async () => {
    await proxy?.close();
    await h?.close();
  });

  const viaProxy = (name: string) => TableClient.fromConnectionString(proxy.connectionString, name, { allowInsecureConnection: true });

  it('fails the run naming the table, writes nothing while it lasts, and is read again in full once it is over', async () => {
    const settings = h.settings(env);
    expect((await h.service(env).runAll(['riskDetections'], { trigger: 'test' }, quietLogger))[0]!.outcome).toBe('succeeded');
    proxy.setTableDeletionMs(10 * 60_000);
    await viaProxy(settings.collections.riskDetections!.table).deleteTable();

    // The run that meets it: its reads of the table are refused.
    const [met] = await h.service(env).runAll(['riskDetections'], { trigger: 'test' }, quietLogger);
    expect(met!.outcome).toBe('failed');
    expect(met!.error).toMatch(/the table RiskDetections is being deleted \(Table Storage takes 40 seconds or more\)/);

    // The next start creates the tables again, and Table Storage refuses the name: the run ends before its lease.
    const lease = await h.table(settings.stateTable).getEntity(settings.tenantId, 'riskDetections.lease');
    await expect(h.service(env).runAll(['riskDetections'], { trigger: 'test' }, quietLogger)).rejects.toThrow(
      /^the table RiskDetections is being deleted \(Table Storage takes 40 seconds or more\): a run after that creates it again$/,
    );
    expect((await h.table(settings.stateTable).getEntity(settings.tenantId, 'riskDetections.lease')).etag).toBe(lease.etag);
    expect(proxy.stats.refused.TableBeingDeleted).toBeGreaterThanOrEqual(2);

    // Over: the run creates it and reads everything again (its rows went with it).
    proxy.setTableDeletionMs(0);
    expect((await h.service(env).runAll(['riskDetections'], { trigger: 'test' }, quietLogger))[0]!.outcome).toBe('succeeded');
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
  });

  it('the state table itself: the run says which table, not that another run holds the lease', async () => {
    const settings = h.settings(env);
    proxy.setTableDeletionMs(10 * 60_000);
    await viaProxy(settings.stateTable).deleteTable();
    await expect(h.service(env).runAll(['riskDetections'], { trigger: 'test' }, quietLogger)).rejects.toThrow(/the table SyncState is being deleted/);
    proxy.setTableDeletionMs(0);
  });

  it("met by the lease write: the run says so and does not call it another run's lease", async () => {
    const settings = h.settings(env);
    proxy.setTableDeletionMs(10 * 60_000);
    // The table goes while the run reads its lease: the read found none, the write finds the table being deleted.
    proxy.addHook({
      match: (r) => r.kind === 'write' && r.tables.includes(settings.stateTable) && r.body.includes('riskDetections.lease'),
      before: async () => {
        await viaProxy(settings.stateTable).deleteTable();
      },
    });
    await expect(h.service(env).runAll(['riskDetections'], { trigger: 'test' }, quietLogger)).rejects.toThrow(/the table SyncState is being deleted/);
    proxy.setTableDeletionMs(0);
  });
});

async function stateOf(h: Harness, collection: string) {
  const settings = h.settings();
  return new CollectionStateStore(h.table(settings.stateTable), settings.tenantId, collection, { leaseMs: 5000, clock: systemClock }).read();
}
