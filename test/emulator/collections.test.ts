/** Collections declared at run time (a toy collection from a test): served like the built-in ones. */
import { COLLECTIONS } from '../../src/domain/collections.js';
import { type GraphEmulator, startGraphEmulator } from '../../tools/emulator/index.js';
import { expectGraphError, filterPath, getAllPages, graphGet, ids, json } from './helpers.js';

const TOYS = '/v1.0/identityProtection/toyThings';

/** As a test would declare it in the product's vocabulary (src/domain/collections.ts columns). */
const TOY = {
  path: '/identityProtection/toyThings',
  cursor: 'changedDateTime',
  columns: { colour: 'string', size: 'double', fragile: 'boolean', madeDateTime: 'datetime', label: 'json' },
} as const;

let emulator: GraphEmulator;

beforeAll(async () => {
  emulator = await startGraphEmulator({ throttling: false, seed: 11, collections: [TOY] });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.clear();
  emulator.faults.clear();
  emulator.setThrottling({ enabled: false });
  emulator.configure({ licence: 'P2', permissions: ['IdentityRiskEvent.Read.All', 'IdentityRiskyUser.Read.All'] });
});

const toys = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `toy-${i}`,
    colour: i % 2 ? 'red' : 'blue',
    size: i / 2,
    fragile: i % 3 === 0,
    changedDateTime: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
  }));

describe('a collection defined at start', () => {
  it('is served with paging, next links and its cursor filter', async () => {
    emulator.upsert('toyThings', toys(45));
    const pages = await getAllPages(emulator, filterPath('toyThings', 'changedDateTime ge 2026-01-11T00:00:00Z', '&$top=10'));
    expect(pages.map((p) => p.body.value.length)).toEqual([10, 10, 10, 5]);
    expect(new Set(pages.flatMap(ids))).toEqual(
      new Set(
        toys(45)
          .slice(10)
          .map((t) => t.id),
      ),
    );
    expect(pages[0]!.body['@odata.context']).toBe(`${emulator.graphUrl}/v1.0/$metadata#identityProtection/toyThings`);
    expect(new URL(pages[0]!.body['@odata.nextLink']).pathname).toBe(TOYS);
    const first = pages[0]!.body.value[0];
    expect(Object.keys(first)).toEqual(['id', 'colour', 'size', 'fragile', 'madeDateTime', 'label', 'changedDateTime']);
    expect(first.changedDateTime).toMatch(/^2026-0\d-\d\dT00:00:00Z$/); // printed as Graph prints it
    expect(first.madeDateTime).toBeNull();
  });

  it('filters on its own properties, by type, and refuses what it does not have', async () => {
    emulator.upsert('toyThings', toys(6));
    expect(ids(await graphGet(emulator, filterPath('toyThings', "colour eq 'red' and size ge 1.5"))).sort()).toEqual(['toy-3', 'toy-5']);
    expect(ids(await graphGet(emulator, filterPath('toyThings', 'fragile eq true'))).sort()).toEqual(['toy-0', 'toy-3']);
    expectGraphError(await graphGet(emulator, filterPath('toyThings', 'lastUpdatedDateTime ge 2026-01-01T00:00:00Z')), 400, 'BadRequest');
    expectGraphError(await graphGet(emulator, filterPath('toyThings', "size eq 'big'")), 400, 'BadRequest');
    expect((await graphGet(emulator, `${TOYS}/toy-2`)).body).toMatchObject({ id: 'toy-2', colour: 'blue', size: 1 });
    expectGraphError(await graphGet(emulator, `${TOYS}/nope`), 404, 'ResourceNotFound');
    expect(ids(await graphGet(emulator, '/beta/IDENTITYPROTECTION/toythings?$top=1'))).toHaveLength(1);
  });

  it('shares the tenant budget, faults and the data API with the built-in collections', async () => {
    emulator.upsert('toyThings', toys(3));
    emulator.setThrottling({ enabled: true, rps: 0.01 });
    expect((await graphGet(emulator, '/v1.0/identityProtection/riskDetections')).status).toBe(200);
    expect((await graphGet(emulator, TOYS)).status).toBe(429);
    emulator.setThrottling({ enabled: false });
    emulator.faults.add({ kind: 'status', status: 503, collection: 'toyThings', count: 1 });
    expect((await graphGet(emulator, '/v1.0/identityProtection/riskDetections')).status).toBe(200);
    expect((await graphGet(emulator, TOYS)).status).toBe(503);
    expect(emulator.stats().requests.toyThings).toMatchObject({ '429': 1, '503': 1 });
    expect(emulator.list('toyThings').map((t) => t.id)).toEqual(['toy-0', 'toy-1', 'toy-2']);
    expect(emulator.get('toyThings', 'toy-1')!.changedDateTime).toBe('2026-01-02T00:00:00.0000000Z');
    expect(emulator.remove('toyThings', 'toy-1')).toBe(true);
    expect(() => emulator.upsert('toyThings', { id: 't', changedDateTime: 'soon' })).toThrow(/changedDateTime is not a DateTimeOffset/);
  });
});

describe('defineCollection', () => {
  it('adds one at run time, with its permission and licence', async () => {
    const schema = emulator.defineCollection({
      path: '/identityProtection/riskyGadgets',
      cursor: 'riskLastUpdatedDateTime',
      properties: { riskLevel: { type: 'enum', members: ['low', 'high', 'unknownFutureValue', 'extreme'] } },
      permission: 'IdentityRiskyGadget.Read.All',
      licence: 'P2',
    });
    expect(schema).toMatchObject({ name: 'riskyGadgets', entityType: 'microsoft.graph.riskyGadget', defaultTop: 20, maxTop: 500 });
    emulator.upsert('riskyGadgets', [{ id: 'g', riskLevel: 'extreme', riskLastUpdatedDateTime: '2026-01-01T00:00:00Z' }]);
    expectGraphError(await graphGet(emulator, '/v1.0/identityProtection/riskyGadgets'), 403, 'Authorization_RequestDenied');
    emulator.configure({ permissions: ['IdentityRiskyGadget.Read.All'] });
    expect((await graphGet(emulator, '/v1.0/identityProtection/riskyGadgets')).body.value[0].riskLevel).toBe('unknownFutureValue');
    emulator.configure({ licence: 'P1' });
    expectGraphError(await graphGet(emulator, '/v1.0/identityProtection/riskyGadgets'), 403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant');
    expect(emulator.collections().map((c) => c.name)).toEqual(['riskDetections', 'riskyUsers', 'toyThings', 'riskyGadgets']);
  });

  it("takes a product declaration's columns as they are, every column type included", async () => {
    const history = COLLECTIONS.riskyUserHistory!;
    emulator.defineCollection({ path: '/identityProtection/historyLikeThings', cursor: history.cursor, columns: history.columns });
    const activity = { detail: 'userPerformedSecuredPasswordReset', riskEventTypes: ['unfamiliarFeatures'] };
    emulator.upsert('historyLikeThings', [{ id: 'h1', activity, riskLastUpdatedDateTime: '2026-01-01T00:00:00Z' }]);
    expect((await graphGet(emulator, '/v1.0/identityProtection/historyLikeThings')).body.value[0]).toMatchObject({ id: 'h1', activity });
  });

  it('over the admin route, for another process', async () => {
    const post = (path: string, body: unknown) => fetch(`${emulator.graphUrl}/_emulator/${path}`, { method: 'POST', body: JSON.stringify(body) });
    const defined = await post('collections', { path: '/identityProtection/remoteThings', columns: { n: 'double' }, maxTop: 5 });
    expect(defined.status).toBe(200);
    expect((await json(defined)).name).toBe('remoteThings');
    expect(
      (
        await post('data/remoteThings', {
          records: [
            { id: 'r1', n: 1 },
            { id: 'r2', n: 2 },
          ],
        })
      ).status,
    ).toBe(200);
    expect(await json(fetch(`${emulator.graphUrl}/_emulator/data/remoteThings`))).toEqual([
      { id: 'r1', n: 1 },
      { id: 'r2', n: 2 },
    ]);
    expectGraphError(await graphGet(emulator, '/v1.0/identityProtection/remoteThings?$top=6'), 400, 'BadRequest');
    expect((await post('collections', { path: 'remoteThings' })).status).toBe(400);
    expect((await json(fetch(`${emulator.graphUrl}/_emulator/collections`))).map((c: { name: string }) => c.name)).toContain('remoteThings');
  });

  it.each([
    [{ path: 'identityProtection/x' }, /path must start with '\/'/],
    [{ path: '/identityProtection/x y' }, /segments must be identifiers/],
    [{ path: '/identityProtection/riskDetections', name: 'again' }, /overlaps/],
    [{ path: '/identityProtection/riskyUsers/extra' }, /overlaps/],
    [{ path: '/other/toyThings' }, /already exists/],
    [{ path: '/identityProtection/y', columns: { a: 'decimal' } }, /'a' has the unknown type "decimal"/],
    [{ path: '/identityProtection/y', columns: { when: 'string' }, cursor: 'when' }, /cursor 'when' must be a datetime/],
    [{ path: '/identityProtection/y', properties: { e: 'enum' } }, /enum 'e' needs its members/],
    [{ path: '/identityProtection/y', columns: { id: 'double' } }, /'id' is the key/],
    [{ path: '/identityProtection/y', licence: 'none' }, /licence must be 'P1' or 'P2'/],
    [{ path: '/identityProtection/y', defaultTop: 600 }, /defaultTop/],
    [{ path: '/identityProtection/admin', name: 'admin' }, /cannot be a collection name/],
  ])('refuses %j with a message naming the problem', (spec, message) => {
    expect(() => emulator.defineCollection(spec as never)).toThrow(message);
  });

  it('names the known collections when asked for an unknown one', () => {
    expect(() => emulator.upsert('nothing', { id: 'x' })).toThrow(/Unknown collection 'nothing' \(known: riskDetections, riskyUsers, toyThings/);
  });
});
