import { httpFunctions } from '../../src/app/functions';
import { fixedServices } from '../../src/app/services';
import { loadSettings, settingsFor, type Settings } from '../../src/config/settings';
import { catalogOf, DEFAULT_CATALOG, IDENTITY_PROTECTION, type Catalog, type CollectionDefinition } from '../../src/domain/collections';
import { formatStatus } from '../../src/cli/format';
import { fromEntity } from '../../src/store/entityMapping';
import { createSyncService, type SyncService } from '../../src/sync/service';
import { startLocalHost, type LocalHost } from '../../tools/host/localHost';
import { quietLogger, startHarness, type Harness } from '../support/harness';
import { apiUrl, getJson, listAll, parseCsv, type ListBody } from '../api/helpers';

/**
 * A collection is one declaration (issue 13.4): a toy collection declared here, in a catalog of its own, is served by
 * the Graph emulator, gets its settings, is synced by the one engine and served and filtered by the API, with no other
 * code than this file's.
 */
const COLOURS = ['red', 'green', 'blue'] as const;

const toyThings: CollectionDefinition = {
  name: 'toyThings',
  path: '/identityProtection/toyThings',
  key: 'id',
  cursor: 'changedDateTime',
  read: 'incremental',
  pageSize: 40,
  permission: 'IdentityRiskEvent.Read.All',
  licence: 'Microsoft Entra ID P1',
  rateBudget: IDENTITY_PROTECTION,
  partition: { by: 'tenant' },
  columns: { colour: 'string', size: 'double', fragile: 'boolean', label: 'string', madeDateTime: 'datetime', changedDateTime: 'datetime' },
  enums: { colour: COLOURS },
  aggregateBy: ['colour'],
  tracked: ['colour'],
  apiFilters: [
    { name: 'colour', kind: 'enum' },
    { name: 'label', kind: 'text', column: 'label' },
  ],
  settingSuffix: 'TOY_THINGS',
  defaultTable: 'ToyThings',
  defaultChangesTable: 'ToyThingChanges',
  defaultSchedule: '0 */15 * * * *',
};

const DAY = 86_400_000;
const toys = (n: number, now: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `toy-${String(i).padStart(3, '0')}`,
    colour: COLOURS[i % 3]!,
    size: i / 4,
    fragile: i % 5 === 0,
    madeDateTime: new Date(now - 30 * DAY).toISOString(),
    changedDateTime: new Date(now - 10 * DAY + i * 60_000).toISOString(),
    ...(i === 7 ? { label: '=SUM(A1:A9)' } : {}),
  }));

describe('a toy collection declared in a catalog', () => {
  let h: Harness;
  let catalog: Catalog;
  let settings: Settings;
  let service: SyncService;
  let api: LocalHost;
  const now = Date.now();
  const things = toys(130, now);
  const url = (path: string, params: Record<string, string> = {}) => apiUrl(api, path, params);

  beforeAll(async () => {
    h = await startHarness();
    catalog = catalogOf([...DEFAULT_CATALOG.collections, toyThings]);
    h.emulator.defineCollection({
      path: toyThings.path,
      cursor: toyThings.cursor,
      columns: toyThings.columns,
      permission: toyThings.permission,
      licence: 'P1',
    });
    h.emulator.upsert('toyThings', things);
    settings = loadSettings(h.env, catalog);
    service = createSyncService(settings);
    api = await startLocalHost({ functions: httpFunctions(settings, fixedServices(service)), port: 0, log: quietLogger });
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  it('has its settings: a schedule, a table and a change table, validated like the built-in ones', () => {
    expect(settingsFor(catalog).map((s) => s.name)).toEqual(
      expect.arrayContaining(['SYNC_SCHEDULE_TOY_THINGS', 'TABLE_TOY_THINGS', 'TABLE_TOY_THINGS_CHANGES']),
    );
    expect(settings.collections.toyThings).toMatchObject({ table: 'ToyThings', changesTable: 'ToyThingChanges', schedule: '0 */15 * * * *' });
    expect(loadSettings({ ...h.env, TABLE_TOY_THINGS: 'Toys2' }, catalog).collections.toyThings!.table).toBe('Toys2');
    expect(() => loadSettings({ ...h.env, SYNC_SCHEDULE_TOY_THINGS: 'often' }, catalog)).toThrow(/SYNC_SCHEDULE_TOY_THINGS/);
  });

  it('is synced by the engine with the built-in collections, record for record', async () => {
    const runs = await service.runAll([], { trigger: 'test' }, quietLogger);
    expect(runs.map((r) => [r.collection, r.outcome])).toEqual([
      ['riskDetections', 'succeeded'],
      ['riskyUsers', 'succeeded'],
      ['riskyUserHistory', 'succeeded'],
      ['toyThings', 'succeeded'],
    ]);
    const toyRun = runs.find((r) => r.collection === 'toyThings')!;
    expect(toyRun.read).toBe(130);
    expect(toyRun.pages).toBe(4); // pageSize 40
    const stored: Record<string, unknown>[] = [];
    for await (const row of h.table('ToyThings').listEntities({ disableTypeConversion: true })) stored.push(fromEntity(toyThings, row));
    const expected = h.emulator.list('toyThings', { asServed: true }) as Record<string, unknown>[];
    expect(stored.map((r) => [r.id, r.colour, r.size, r.fragile, r.changedDateTime])).toEqual(
      expected.map((r) => [r.id, r.colour, r.size, r.fragile, r.changedDateTime]),
    );

    // A change of a tracked property is a row of its change table, a newer cursor moves the watermark.
    h.emulator.upsert('toyThings', { ...things[4]!, colour: 'blue', changedDateTime: new Date(now - 60_000).toISOString() });
    const again = await service.run('toyThings', { trigger: 'test' }, quietLogger);
    expect(again).toMatchObject({ outcome: 'succeeded', updated: 1 });
    const changes: Record<string, unknown>[] = [];
    for await (const row of h.table('ToyThingChanges').listEntities()) changes.push(row);
    expect(changes.filter((c) => c.change === 'changed').map((c) => [c.recordId, c.previousColour, c.colour])).toEqual([
      ['toy-004', 'green', 'blue'],
    ]);
  }, 120_000);

  it('is listed, paged and filtered by its enum through the API; an unknown value is a 400 naming the accepted ones', async () => {
    const all = await listAll(url('snapshot/toyThings', { top: '50' }));
    expect(all.pages).toBe(3);
    expect(all.items.map((i) => i.id)).toEqual(things.map((t) => t.id));
    const red = await listAll(url('snapshot/toyThings', { colour: 'red', top: '1000' }));
    expect(red.items.map((i) => i.id)).toEqual(things.filter((t) => t.colour === 'red').map((t) => t.id));
    const redOrBlue = await listAll(url('snapshot/toythings', { colour: 'blue,red' }));
    expect(redOrBlue.items).toHaveLength(things.filter((t) => t.colour !== 'green').length + 1); // toy-004 turned blue
    const label = await getJson<ListBody>(url('snapshot/toyThings', { label: '=SUM(A1:A9)' }));
    expect(label.body.value.map((i) => i.id)).toEqual(['toy-007']);
    const since = await getJson<ListBody>(url('snapshot/toyThings', { since: new Date(now - 120_000).toISOString() }));
    expect(since.body.value.map((i) => i.id)).toEqual(['toy-004']);

    const bad = await getJson<{ error: { message: string } }>(url('snapshot/toyThings', { colour: 'purple' }));
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/colour 'purple' is not accepted: use one of red, green, blue/);
    const other = await getJson<{ error: { message: string } }>(url('snapshot/toyThings', { riskLevel: 'high' }));
    expect(other.status).toBe(400);
    expect(other.body.error.message).toMatch(/riskLevel/);
    const one = await getJson(url('snapshot/toyThings/toy-009'));
    expect(one.body).toMatchObject({ id: 'toy-009', colour: 'red', size: 2.25, fragile: false });
    const missing = await getJson<{ error: { message: string } }>(url('snapshot/nothings'));
    expect(missing.body.error.message).toMatch(/accepted collections are riskDetections, riskyUsers, riskyUserHistory, toyThings/);
  });

  it('answers CSV in its own columns, with the injection guard', async () => {
    const response = await fetch(url('snapshot/toyThings', { format: 'csv' }));
    expect(response.status).toBe(200);
    const rows = parseCsv(await response.text());
    expect(rows[0]).toEqual(['id', 'colour', 'size', 'fragile', 'label', 'madeDateTime', 'changedDateTime']);
    expect(rows).toHaveLength(131);
    expect(rows.find((r) => r[0] === 'toy-008')!.slice(1, 5)).toEqual(['blue', '2', 'false', '']);
    expect(rows.find((r) => r[0] === 'toy-007')![4]).toBe("'=SUM(A1:A9)");
  });

  it('is in the summary, the status and the health check, with its counts', async () => {
    const summary = await getJson<{ collections: Record<string, { total: number; byColour: Record<string, number> }> }>(url('snapshot'));
    expect(summary.status).toBe(200);
    expect(summary.body.collections.toyThings).toEqual(expect.objectContaining({ total: 130, byColour: { blue: 44, green: 42, red: 44 } }));
    const status = await service.readModel.status('toyThings');
    expect(status).toMatchObject({ collection: 'toyThings', table: 'ToyThings', stale: false, total: 130 });
    const text = formatStatus([status]);
    expect(text).toMatch(/^toyThings \(table ToyThings, schedule '0 \*\/15 \* \* \* \*'\)\n/);
    expect(text).toMatch(/ {2}by colour: +(blue 44, red 44|red 44, blue 44), green 42\n/);
    const health = await getJson<{ status: string; collections: Record<string, { stale: boolean }> }>(url('health'));
    expect(health.status).toBe(200);
    expect(Object.keys(health.body.collections)).toEqual(['riskDetections', 'riskyUsers', 'riskyUserHistory', 'toyThings']);
    expect(health.body.collections.toyThings).toMatchObject({ stale: false, lastRunOutcome: 'succeeded' });
  });

  it('has its observed changes in the changes feed and a record history', async () => {
    const feed = await listAll(url('changes', { collection: 'toyThings', top: '1000' }));
    expect(feed.items.filter((c) => c.change === 'created')).toHaveLength(130);
    expect(feed.items.filter((c) => c.change === 'changed').map((c) => c.recordId)).toEqual(['toy-004']);
    const history = await getJson<ListBody>(url('snapshot/toyThings/toy-004/history'));
    expect(history.status).toBe(200);
    expect(history.body.value.map((i) => [i.source, i.colour])).toEqual([
      ['observed', 'green'],
      ['observed', 'blue'],
    ]);
  });
});
