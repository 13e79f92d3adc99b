/**
 * The sync's tables: created on the first start; later starts read one SyncState row instead of asking for each
 * table (eight requests in front of the first Graph request), once however many runs begin at the same time; a table
 * deleted by hand is created again.
 */
import { TableClient } from '@azure/data-tables';
import { generateRiskDetections } from '../../tools/emulator';
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

  it('are created again after one was deleted by hand: one run fails saying so, the next succeeds; a full sync refills it', async () => {
    const detections = h.table(h.settings().collections.riskDetections!.table);
    await detections.deleteTable();
    // Azurite, as Azure, may refuse to recreate a table for a moment after its deletion: the runs go on until one succeeds.
    const outcomes: string[] = [];
    for (let i = 0; i < 10 && outcomes.at(-1) !== 'succeeded'; i++) {
      const [summary] = await h.service().runAll(['riskDetections'], { trigger: 'test' }, quietLogger);
      outcomes.push(summary!.outcome);
      if (summary!.outcome === 'failed') expect(summary!.error).toMatch(/TableNotFound|table/i);
    }
    expect(outcomes[0]).toBe('failed');
    expect(outcomes.at(-1)).toBe('succeeded');
    // The rows went with the table, and the watermark is past them: `risk-sync sync --full` reads them again.
    await h.service().runAll(['riskDetections'], { trigger: 'test', full: true }, quietLogger);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
  });
});
