/** What real tenants serve beyond the documentation: timestamps as Graph prints them, the phantom last next link. */
import { type GraphEmulator, generateRiskDetections, startGraphEmulator } from '../../tools/emulator/index.js';
import { expectGraphError, getAllPages, graphGet, ids, json } from './helpers.js';

const DETECTIONS = '/v1.0/identityProtection/riskDetections';
const USERS = '/v1.0/identityProtection/riskyUsers';
const FROM = new Date('2026-01-01T00:00:00Z');
const TO = new Date('2026-03-01T00:00:00Z');

let emulator: GraphEmulator;

beforeAll(async () => {
  emulator = await startGraphEmulator({ throttling: false, seed: 7 });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.clear();
  emulator.configure({ phantomNextLink: false, emptyPageProbability: 0 });
  emulator.resetStats();
});

describe('timestamps as Graph prints them', () => {
  it('trims trailing zeros of the fraction on the wire, and keeps the normalized form in list()', async () => {
    emulator.upsert('riskDetections', [
      { id: 'a', lastUpdatedDateTime: '2018-09-05T00:11:27.773602Z', detectedDateTime: '2021-10-26T00:00:00.0000000Z' },
      { id: 'b', lastUpdatedDateTime: '2020-11-03T20:53:12.1984203Z', activityDateTime: '2021-10-26T01:00:00.5+01:00' },
    ]);
    emulator.upsert('riskyUsers', { id: 'u', riskLastUpdatedDateTime: '2019-05-03T03:50:34.9500000Z' });
    const byId = Object.fromEntries(((await graphGet(emulator, DETECTIONS)).body.value as { id: string }[]).map((r) => [r.id, r]));
    expect(byId.a).toMatchObject({ lastUpdatedDateTime: '2018-09-05T00:11:27.773602Z', detectedDateTime: '2021-10-26T00:00:00Z' });
    expect(byId.b).toMatchObject({ lastUpdatedDateTime: '2020-11-03T20:53:12.1984203Z', activityDateTime: '2021-10-26T00:00:00.5Z' });
    expect((await graphGet(emulator, `${DETECTIONS}/a`)).body.detectedDateTime).toBe('2021-10-26T00:00:00Z');
    expect((await graphGet(emulator, USERS)).body.value[0].riskLastUpdatedDateTime).toBe('2019-05-03T03:50:34.95Z');

    expect(emulator.get('riskDetections', 'a')!.detectedDateTime).toBe('2021-10-26T00:00:00.0000000Z');
    expect(emulator.get('riskDetections', 'a')!.lastUpdatedDateTime).toBe('2018-09-05T00:11:27.7736020Z');
  });

  it('prints generated data the same way: no served timestamp ends in 0', async () => {
    emulator.upsert('riskDetections', generateRiskDetections(300, { seed: 3, from: FROM, to: TO }));
    const served = (await getAllPages(emulator, `${DETECTIONS}?$top=500`)).flatMap((p) => p.body.value as Record<string, string | null>[]);
    const stamps = served.flatMap((r) => [r.activityDateTime, r.detectedDateTime, r.lastUpdatedDateTime]).filter((t): t is string => t !== null);
    expect(stamps.length).toBe(900);
    for (const stamp of stamps) expect(stamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,6}[1-9])?Z$/);
    expect(stamps.some((t) => /\.\d{7}Z$/.test(t))).toBe(true);
    expect(stamps.some((t) => /\.\d{1,6}Z$/.test(t))).toBe(true);
  });

  it('filters on the exact instant whatever form the literal takes', async () => {
    emulator.upsert('riskDetections', { id: 'z', lastUpdatedDateTime: '2021-10-26T00:00:00Z' });
    const filter = (literal: string) => `${DETECTIONS}?$filter=${encodeURIComponent(`lastUpdatedDateTime eq ${literal}`)}`;
    expect(ids(await graphGet(emulator, filter('2021-10-26T00:00:00Z')))).toEqual(['z']);
    expect(ids(await graphGet(emulator, filter('2021-10-26T00:00:00.0000000Z')))).toEqual(['z']);
  });
});

describe('the phantom last next link (microsoftgraph/microsoft-graph-docs#16332)', () => {
  const users = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `u${String(i).padStart(3, '0')}`, isDeleted: false }));

  it('is off by default: a last page of exactly $top records has no next link', async () => {
    emulator.upsert('riskyUsers', users(4));
    const pages = await getAllPages(emulator, `${USERS}?$top=2`);
    expect(pages.map((p) => p.body.value.length)).toEqual([2, 2]);
    expect(pages[1]!.body).not.toHaveProperty('@odata.nextLink');
  });

  it('when on, a last page of exactly $top records carries a next link that answers 400 BadRequest with an empty message', async () => {
    emulator.configure({ phantomNextLink: true });
    emulator.upsert('riskyUsers', users(4));
    const filter = `$filter=${encodeURIComponent('isDeleted eq false')}&$top=2`;
    const first = await graphGet(emulator, `${USERS}?${filter}`);
    const second = await graphGet(emulator, first.body['@odata.nextLink']);
    expect(ids(second)).toHaveLength(2);
    const phantom = second.body['@odata.nextLink'] as string;
    expect(new URL(phantom).searchParams.get('$top')).toBe('2');
    expect(new URL(phantom).searchParams.get('$skiptoken')).toMatch(/^[A-Za-z0-9_-]+$/);

    const followed = await graphGet(emulator, phantom);
    expect(expectGraphError(followed, 400, 'BadRequest')).toBe('');
    expect(Object.keys(followed.body.error)).toEqual(['code', 'message', 'innerError']);
    expectGraphError(await graphGet(emulator, phantom), 400, 'BadRequest'); // and again: it never heals
    expect(new Set([...ids(first), ...ids(second)]).size).toBe(4);
    expect(emulator.stats()).toMatchObject({ phantomNextLinks: 1, phantomNextLinksFollowed: 2 });
  });

  it('also at the default page size, on every collection, and not when the last page is short', async () => {
    emulator.configure({ phantomNextLink: true });
    emulator.upsert('riskDetections', generateRiskDetections(40, { seed: 1, from: FROM, to: TO }));
    const first = await graphGet(emulator, DETECTIONS);
    const second = await graphGet(emulator, first.body['@odata.nextLink']);
    expect(second.body.value).toHaveLength(20);
    expect(expectGraphError(await graphGet(emulator, second.body['@odata.nextLink']), 400, 'BadRequest')).toBe('');

    emulator.upsert('riskyUsers', users(5));
    const pages = await getAllPages(emulator, `${USERS}?$top=2`);
    expect(pages.map((p) => p.body.value.length)).toEqual([2, 2, 1]);
  });

  it('a next link that really expired still answers the expired-link error, with a message', async () => {
    emulator.configure({ phantomNextLink: true });
    emulator.upsert('riskyUsers', users(6));
    const first = await graphGet(emulator, `${USERS}?$top=2`);
    emulator.expireSkipTokens();
    expect(expectGraphError(await graphGet(emulator, first.body['@odata.nextLink']), 400, 'BadRequest')).toMatch(/\$skiptoken/);
  });

  it('can be switched through the admin route', async () => {
    const post = await fetch(`${emulator.graphUrl}/_emulator/settings`, { method: 'POST', body: JSON.stringify({ phantomNextLink: true }) });
    expect(post.status).toBe(200);
    expect((await json(post)).phantomNextLink).toBe(true);
    expect(emulator.settings.phantomNextLink).toBe(true);
    emulator.upsert('riskyUsers', users(2));
    const only = await graphGet(emulator, `${USERS}?$top=2`);
    expect(only.body['@odata.nextLink']).toBeDefined();
    const bad = await fetch(`${emulator.graphUrl}/_emulator/settings`, { method: 'POST', body: JSON.stringify({ phantomNextLink: 'yes' }) });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toMatch(/phantomNextLink must be true or false/);
  });
});
