import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { httpFunctions } from '../../src/app/functions';
import { KEY_PARTITION, KEY_ROW } from '../../src/api/continuation';
import { STATE_CACHE_MS } from '../../src/app/stateCache';
import { startLocalHost, type LocalHost } from '../../tools/host/localHost';
import { COLLECTIONS, type CollectionName } from '../../src/domain/collections';
import type { SyncService } from '../../src/sync/service';
import { quietLogger, startHarness, type Harness } from '../support/harness';
import { apiUrl, dumpTables, getJson, listAll, parseCsv, sortIds, startApi, type ListBody } from './helpers';

/**
 * The collection routes over the wire: local host -> handlers -> Azurite, with data written by the real sync from the
 * Graph emulator. Filters are checked against what the emulator serves (h.expected).
 */
const DAY = 86_400_000;

/** GET with a Host header of our choosing (fetch does not let one set it). */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.once('error', reject).end();
  });
}
const INJECTION = "x' or PartitionKey ne 'y";
const TRICKY_NAME = 'Ann "Quote", O\'Neil\nsecond line — Zoë 李雷';
const FORMULA = '=HYPERLINK("https://evil.example","click")';

describe('GET /api/snapshot/{collection}', () => {
  let h: Harness;
  let service: SyncService;
  let api: LocalHost & { errors: string[] };
  const now = Date.now();
  const users = generateRiskyUsers(40, { seed: 21, from: new Date(now - 50 * DAY), to: new Date(now - 3_600_000) });
  const detections = generateRiskDetections(320, { seed: 21, users, from: new Date(now - 50 * DAY), to: new Date(now - 3_600_000) });
  // Cells that need quoting (comma, quote, newline), non-ASCII, a formula; and a detection without detectedDateTime.
  detections[0] = { ...detections[0]!, userDisplayName: TRICKY_NAME, ipAddress: FORMULA };
  detections[1] = { ...detections[1]!, detectedDateTime: null as never };
  let tenant: string;

  // What Graph serves (the data does not change in this file).
  const cache = new Map<CollectionName, Record<string, unknown>[]>();
  const expected = (collection: CollectionName) => {
    if (!cache.has(collection)) cache.set(collection, h.expected(collection));
    return cache.get(collection)!;
  };
  const url = (path: string, params: Record<string, string> | [string, string][] = {}) => apiUrl(api, path, params);
  const cursorOf = (collection: CollectionName, r: Record<string, unknown>) => String(r[COLLECTIONS[collection].cursor]);

  beforeAll(async () => {
    h = await startHarness();
    tenant = h.emulator.tenantId;
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
    service = h.service();
    const runs = await service.runAll([], { trigger: 'test' }, quietLogger);
    expect(runs.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // Rows of another tenant (and partition keys next to ours) in the same tables: the API must never serve them.
    const foreign = { riskLevel: 'high', riskState: 'atRisk', userPrincipalName: "donal.o'brien@contoso.com" };
    await h.table('RiskDetections').createEntity({ partitionKey: '00000000-0000-0000-0000-000000000000_2024-01', rowKey: 'foreign1', ...foreign });
    await h.table('RiskDetections').createEntity({ partitionKey: `${tenant}a`, rowKey: 'foreign2', ...foreign });
    await h.table('RiskDetections').createEntity({ partitionKey: tenant, rowKey: 'foreign3', ...foreign });
    await h.table('RiskyUsers').createEntity({ partitionKey: `${tenant}_x`, rowKey: 'foreign4', ...foreign });
    await h.table('RiskyUsers').createEntity({ partitionKey: 'zzzz', rowKey: 'foreign5', ...foreign });
    // The data does not change in this file: the API answers from its cache, as in Azure, and every query must
    // still get its own rows.
    api = await startApi(h, () => service, {}, { cacheMs: STATE_CACHE_MS });
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });
  afterEach(() => {
    expect(api.errors).toEqual([]);
  });

  it.each(['riskDetections', 'riskyUsers'] as const)(
    'serves every %s row of the tenant, shaped like Graph (paged to the end)',
    async (collection) => {
      const { items } = await listAll(url(`snapshot/${collection}`, { top: '1000' }));
      const byId = [...items].sort((a, b) => String(a.id).localeCompare(String(b.id)));
      expect(byId).toEqual(expected(collection));
      // Graph's shape: nested location, typed values as JSON, additionalInfo as Graph's JSON string.
      if (collection === 'riskDetections') {
        const withGeo = items.find((i) => (i.location as { geoCoordinates?: unknown } | null)?.geoCoordinates) as Record<string, any>;
        expect(typeof withGeo.location.geoCoordinates.latitude).toBe('number');
        expect(withGeo.lastUpdatedDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
        expect(typeof withGeo.additionalInfo).toBe('string');
        const undated = items.find((i) => i.id === detections[1]!.id)!;
        expect(undated.detectedDateTime).toBeNull();
      } else {
        expect(typeof items[0]!.isDeleted).toBe('boolean');
      }
    },
  );

  it('answers JSON with content-type, no nextLink on a single page, and HEAD without a body', async () => {
    const answer = await getJson<ListBody>(url('snapshot/riskyUsers', { top: '1000' }));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(answer.body['@odata.nextLink']).toBeUndefined();
    expect(answer.body.value).toHaveLength(40);
    const head = await fetch(url('snapshot/riskyUsers'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    // The collection segment is matched case-insensitively, like Azure's routes.
    expect((await getJson<ListBody>(url('snapshot/RISKYUSERS', { top: '5' }))).body.value).toHaveLength(5);
  });

  describe('filters, each checked against what Graph serves', () => {
    const cases: [string, CollectionName, Record<string, string>, (r: Record<string, any>) => boolean][] = [];
    const someUser = () => users[3]!;
    const tricky = () => expected('riskDetections').find((d) => d.id === detections[0]!.id)!;
    const midCursor = (c: CollectionName) => cursorOf(c, expected(c)[Math.floor(expected(c).length / 2)]!);

    cases.push(['riskLevel=high', 'riskDetections', { riskLevel: 'high' }, (r) => r.riskLevel === 'high']);
    cases.push(['riskLevel=high,medium', 'riskDetections', { riskLevel: 'high,medium' }, (r) => ['high', 'medium'].includes(r.riskLevel)]);
    cases.push(['riskLevel=hidden', 'riskDetections', { riskLevel: 'hidden' }, (r) => r.riskLevel === 'hidden']);
    cases.push(['riskState=atRisk', 'riskDetections', { riskState: 'atRisk' }, (r) => r.riskState === 'atRisk']);
    cases.push([
      'riskState=remediated,dismissed',
      'riskyUsers',
      { riskState: 'remediated,dismissed' },
      (r) => ['remediated', 'dismissed'].includes(r.riskState),
    ]);
    cases.push(['riskLevel=high (users)', 'riskyUsers', { riskLevel: 'high' }, (r) => r.riskLevel === 'high']);
    cases.push(['riskLevel=unknownFutureValue (none stored)', 'riskyUsers', { riskLevel: 'unknownFutureValue' }, () => false]);

    it.each(cases.map(([name, collection]) => [name, collection] as const))('%s on %s', async (name) => {
      const [, collection, params, predicate] = cases.find(([n]) => n === name)!;
      const { items } = await listAll(url(`snapshot/${collection}`, { ...params, top: '1000' }));
      const want = expected(collection).filter(predicate);
      expect(sortIds(items)).toEqual(sortIds(want));
      if (name !== 'riskLevel=unknownFutureValue (none stored)') expect(want.length).toBeGreaterThan(0);
    });

    it('userId (a detection carries it in userId; a risky user is its own id), upper-case GUIDs too', async () => {
      const user = someUser();
      const mine = expected('riskDetections').filter((d) => d.userId === user.id);
      expect(mine.length).toBeGreaterThan(0);
      const { items } = await listAll(url('snapshot/riskDetections', { userId: user.id.toUpperCase() }));
      expect(sortIds(items)).toEqual(sortIds(mine));
      const answer = await getJson<ListBody>(url('snapshot/riskyUsers', { userId: user.id }));
      expect(answer.body.value).toEqual([expected('riskyUsers').find((u) => u.id === user.id)]);
    });

    it('userPrincipalName: exact match, apostrophes and non-ASCII included', async () => {
      for (const upn of [
        "donal.o'brien@contoso.com",
        'josé.müller@contoso.com',
        '李雷@contoso.com',
        "renee.d'souza_fabrikam.com#EXT#@contoso.onmicrosoft.com",
      ]) {
        const want = expected('riskDetections').filter((d) => d.userPrincipalName === upn);
        const { items } = await listAll(url('snapshot/riskDetections', { userPrincipalName: upn, top: '1000' }));
        expect(sortIds(items)).toEqual(sortIds(want));
        const user = await getJson<ListBody>(url('snapshot/riskyUsers', { userPrincipalName: upn }));
        expect(user.body.value.map((u) => u.userPrincipalName)).toEqual([upn]);
      }
      // Exact: a different case or a prefix matches nothing.
      expect((await getJson<ListBody>(url('snapshot/riskyUsers', { userPrincipalName: "DONAL.O'BRIEN@contoso.com" }))).body.value).toEqual([]);
      expect((await getJson<ListBody>(url('snapshot/riskyUsers', { userPrincipalName: 'donal' }))).body.value).toEqual([]);
    });

    it.each(['riskDetections', 'riskyUsers'] as const)('since / until on the cursor of %s (inclusive, any time zone)', async (collection) => {
      const mid = midCursor(collection);
      const all = expected(collection);
      const since = await listAll(url(`snapshot/${collection}`, { since: mid, top: '1000' }));
      expect(sortIds(since.items)).toEqual(sortIds(all.filter((r) => cursorOf(collection, r) >= mid)));
      const until = await listAll(url(`snapshot/${collection}`, { until: mid, top: '1000' }));
      expect(sortIds(until.items)).toEqual(sortIds(all.filter((r) => cursorOf(collection, r) <= mid)));
      expect(since.items.length + until.items.length).toBe(all.length + 1); // the boundary record is in both

      // A window given with an offset instead of Z: whole seconds, well away from any record (Azurite compares to the ms).
      const from = new Date(Date.parse(mid.slice(0, 19) + 'Z') - 10 * DAY);
      const to = new Date(Date.parse(mid.slice(0, 19) + 'Z') + 2 * DAY);
      const withOffset = (d: Date) => new Date(d.getTime() + 2 * 3_600_000).toISOString().slice(0, 19) + '+02:00';
      const window = await listAll(url(`snapshot/${collection}`, { since: withOffset(from), until: withOffset(to) }));
      const inWindow = all.filter((r) => {
        const t = Date.parse(cursorOf(collection, r).slice(0, 23) + 'Z');
        return t >= from.getTime() && t <= to.getTime();
      });
      expect(inWindow.length).toBeGreaterThan(0);
      expect(sortIds(window.items)).toEqual(sortIds(inWindow));
    });

    it('filters combine (AND), and the tricky record is found by its values', async () => {
      const t = tricky();
      const params = {
        riskLevel: `${t.riskLevel},low`,
        riskState: String(t.riskState),
        userPrincipalName: String(t.userPrincipalName),
        userId: String(t.userId),
        since: String(t.lastUpdatedDateTime),
        until: String(t.lastUpdatedDateTime),
      };
      const answer = await getJson<ListBody>(url('snapshot/riskDetections', params));
      expect(answer.body.value).toEqual([t]);
      expect(answer.body.value[0]!.userDisplayName).toBe(TRICKY_NAME);

      const combo = await listAll(url('snapshot/riskDetections', { riskLevel: 'high', riskState: 'atRisk', since: midCursor('riskDetections') }));
      const want = expected('riskDetections').filter(
        (r) => r.riskLevel === 'high' && r.riskState === 'atRisk' && cursorOf('riskDetections', r) >= midCursor('riskDetections'),
      );
      expect(want.length).toBeGreaterThan(0);
      expect(sortIds(combo.items)).toEqual(sortIds(want));
    });
  });

  describe('paging', () => {
    it('follows @odata.nextLink with top=23 to the last page: every id exactly once, no nextLink at the end', async () => {
      const all = expected('riskDetections');
      const first = await getJson<ListBody>(url('snapshot/RISKDETECTIONS', { top: '23', riskLevel: 'high,medium,low,hidden', code: 'k3y' }));
      expect(first.body.value).toHaveLength(23);
      // The same request (the route's path, the parameters) with a continuationToken: relative (no API_PUBLIC_BASE_URL),
      // never the Host header nor the function key.
      const link = first.body['@odata.nextLink']!;
      expect(link).toMatch(/^\/api\/snapshot\/riskDetections\?/);
      expect(link).not.toContain('k3y');
      const next = new URL(link, api.url);
      expect([...next.searchParams.keys()]).toEqual(['top', 'riskLevel', 'continuationToken']);
      expect(next.searchParams.get('top')).toBe('23');
      expect(next.searchParams.get('riskLevel')).toBe('high,medium,low,hidden');
      expect(next.searchParams.get('continuationToken')).toMatch(/^[A-Za-z0-9_-]+$/);
      expect((await getJson<ListBody>(next.toString())).body.value).toHaveLength(23);

      const { items, pages, pageSizes } = await listAll(url('snapshot/riskDetections', { top: '23' }));
      expect(items).toHaveLength(all.length);
      expect(new Set(items.map((i) => i.id)).size).toBe(all.length);
      expect(sortIds(items)).toEqual(sortIds(all));
      expect(pages).toBe(Math.ceil(all.length / 23));
      expect(pageSizes.slice(0, -1).every((n) => n === 23)).toBe(true);
      expect(pageSizes.at(-1)).toBe(all.length % 23 || 23);
    });

    it('a next link starts with API_PUBLIC_BASE_URL when set, and never with the Host header the request came with', async () => {
      const other = await startApi(h, () => service, { API_PUBLIC_BASE_URL: 'https://func-x.azurewebsites.net' });
      try {
        for (const [host, base] of [
          [other, 'https://func-x.azurewebsites.net'],
          [api, ''],
        ] as const) {
          const answer = await getWithHost(apiUrl(host, 'snapshot/riskyUsers', { top: '5', code: 'k3y' }), 'evil.example');
          expect(answer.status).toBe(200);
          const link = (JSON.parse(answer.body) as ListBody)['@odata.nextLink']!;
          expect(link.startsWith(`${base}/api/snapshot/riskyUsers?top=5&continuationToken=`)).toBe(true);
          expect(link).not.toMatch(/evil|k3y|127\.0\.0\.1/);
        }
      } finally {
        await other.close();
      }
    });

    it('top=1 and the default page size of 100', async () => {
      const one = await getJson<ListBody>(url('snapshot/riskyUsers', { top: '1' }));
      expect(one.body.value).toHaveLength(1);
      expect(one.body['@odata.nextLink']).toBeDefined();
      const byDefault = await getJson<ListBody>(url('snapshot/riskDetections'));
      expect(byDefault.body.value).toHaveLength(100);
      const last = await listAll(url('snapshot/riskyUsers', { top: '40' }));
      expect(last.pageSizes[0]).toBe(40); // 40 users in 1 page, possibly followed by an empty last page
      expect(last.items).toHaveLength(40);
    });
  });

  describe('CSV', () => {
    const columns = (c: CollectionName) => [
      'id',
      ...Object.entries(COLLECTIONS[c].columns).flatMap(([name, type]) =>
        type === 'location' ? ['locationCity', 'locationState', 'locationCountryOrRegion', 'locationLatitude', 'locationLongitude'] : [name],
      ),
    ];

    it('streams every matching row with a header (Accept: text/csv), quoting and guarding cells', async () => {
      const response = await fetch(url('snapshot/riskDetections', { top: '50' }), { headers: { accept: 'text/csv' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(response.headers.get('content-disposition')).toBe('attachment; filename="riskDetections.csv"');
      const text = await response.text();
      expect(text.endsWith('\r\n')).toBe(true);
      const rows = parseCsv(text);
      const header = rows[0]!;
      expect(header).toEqual(columns('riskDetections'));
      expect(rows).toHaveLength(expected('riskDetections').length + 1);
      expect(new Set(rows.slice(1).map((r) => r[0])).size).toBe(expected('riskDetections').length);
      const col = (name: string) => header.indexOf(name);

      const tricky = rows.find((r) => r[0] === detections[0]!.id)!;
      expect(tricky[col('userDisplayName')]).toBe(TRICKY_NAME);
      expect(tricky[col('ipAddress')]).toBe(`'${FORMULA}`);
      // The raw line shows the RFC 4180 quoting.
      expect(text).toContain('"Ann ""Quote"", O\'Neil\nsecond line — Zoë 李雷"');

      const record = expected('riskDetections').find(
        (d) => (d.location as any)?.geoCoordinates && (d.location as any).geoCoordinates.longitude < 0,
      ) as any;
      if (record) {
        const row = rows.find((r) => r[0] === record.id)!;
        expect(Number(row[col('locationLongitude')])).toBe(record.location.geoCoordinates.longitude); // numbers are not guarded
        expect(row[col('locationCity')]).toBe(record.location.city ?? '');
        expect(row[col('lastUpdatedDateTime')]).toBe(record.lastUpdatedDateTime);
      }
      const noLocation = rows.find((r) => r[0] === expected('riskDetections').find((d) => d.location === null)!.id)!;
      expect(noLocation[col('locationCity')]).toBe('');
    });

    it('format=csv with filters; riskyUsers booleans; a filter that matches nothing gives just the header', async () => {
      const response = await fetch(url('snapshot/riskyUsers', { format: 'csv', riskState: 'atRisk' }));
      const rows = parseCsv(await response.text());
      expect(rows[0]).toEqual(columns('riskyUsers'));
      const want = expected('riskyUsers').filter((u) => u.riskState === 'atRisk');
      expect(
        rows
          .slice(1)
          .map((r) => r[0])
          .sort(),
      ).toEqual(sortIds(want));
      expect(['true', 'false']).toContain(rows[1]![rows[0]!.indexOf('isDeleted')]);

      const none = await fetch(url('snapshot/riskyUsers', { format: 'csv', userPrincipalName: INJECTION }));
      expect(await none.text()).toBe(`${columns('riskyUsers').join(',')}\r\n`);

      // format=json wins over Accept; a browser's Accept gets JSON.
      const json = await fetch(url('snapshot/riskyUsers', { format: 'json', top: '1' }), { headers: { accept: 'text/csv' } });
      expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const browser = await fetch(url('snapshot/riskyUsers', { top: '1' }), { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
      expect(browser.headers.get('content-type')).toBe('application/json; charset=utf-8');
    });

    it('reads Table pages of up to 1,000 rows whatever top is (top shapes JSON pages only)', async () => {
      const counted = h.service();
      const pageSizes: (number | undefined)[] = [];
      const table = counted.tables.collections.riskDetections!;
      counted.tables.collections.riskDetections = new Proxy(table, {
        get(target, property, receiver) {
          if (property !== 'listEntities') return Reflect.get(target, property, receiver) as unknown;
          return (...args: Parameters<typeof table.listEntities>) => {
            const pages = target.listEntities(...args);
            return Object.assign(pages, {
              byPage: (settings?: { maxPageSize?: number; continuationToken?: string }) => {
                pageSizes.push(settings?.maxPageSize);
                return target.listEntities(...args).byPage(settings);
              },
            });
          };
        },
      });
      const other = await startApi(h, () => counted);
      try {
        const response = await fetch(apiUrl(other, 'snapshot/riskDetections', { top: '5', format: 'csv' }));
        expect(parseCsv(await response.text())).toHaveLength(expected('riskDetections').length + 1);
        expect(pageSizes.length).toBeGreaterThan(0);
        expect(pageSizes.every((n) => n === 1000)).toBe(true);
        pageSizes.length = 0;
        expect((await getJson<ListBody>(apiUrl(other, 'snapshot/riskDetections', { top: '5' }))).body.value).toHaveLength(5);
        expect(pageSizes).toEqual([5]);
      } finally {
        await other.close();
      }
    });
  });

  describe('bad input', () => {
    const bad: [string, string, Record<string, string> | [string, string][], number, RegExp][] = [
      [
        'unknown riskLevel',
        'snapshot/riskDetections',
        { riskLevel: 'severe' },
        400,
        /riskLevel 'severe' .*low, medium, high, hidden, none, unknownFutureValue/,
      ],
      ['riskLevel in the wrong case', 'snapshot/riskDetections', { riskLevel: 'High' }, 400, /riskLevel 'High' is not accepted/],
      ['empty riskState', 'snapshot/riskyUsers', { riskState: '' }, 400, /riskState '' .*atRisk/],
      ['riskState list with a bad member', 'snapshot/riskyUsers', { riskState: 'atRisk,,dismissed' }, 400, /riskState '' /],
      ['bad since', 'snapshot/riskDetections', { since: 'yesterday' }, 400, /since must be an ISO 8601 .*'yesterday'/],
      ['since without a time zone', 'snapshot/riskDetections', { since: '2024-05-01T00:00:00' }, 400, /since must be an ISO 8601/],
      ['a date alone', 'snapshot/riskDetections', { until: '2024-05-01' }, 400, /until must be an ISO 8601/],
      ['February 30', 'snapshot/riskDetections', { since: '2024-02-30T00:00:00Z' }, 400, /since must be/],
      ['February 29 of a common year', 'snapshot/riskDetections', { since: '2023-02-29T00:00:00Z' }, 400, /since must be/],
      ['hour 24', 'snapshot/riskyUsers', { until: '2024-05-01T24:00:00Z' }, 400, /until must be/],
      ['year 0099', 'snapshot/riskyUsers', { until: '0099-05-01T00:00:00Z' }, 400, /until must be/],
      [
        'since after until',
        'snapshot/riskDetections',
        { since: '2024-05-02T00:00:00Z', until: '2024-05-01T00:00:00Z' },
        400,
        /since .* is after until/,
      ],
      ['top 0', 'snapshot/riskDetections', { top: '0' }, 400, /top must be a whole number from 1 to 1000 .*'0'/],
      ['top 1001', 'snapshot/riskDetections', { top: '1001' }, 400, /top must be .*'1001'/],
      ['top 1.5', 'snapshot/riskDetections', { top: '1.5' }, 400, /top must be .*'1.5'/],
      ['top abc', 'snapshot/riskDetections', { top: 'abc' }, 400, /top must be .*'abc'/],
      ['top -1', 'snapshot/riskDetections', { top: '-1' }, 400, /top must be/],
      ['top empty', 'snapshot/riskDetections', { top: '' }, 400, /top must be/],
      ['format xml', 'snapshot/riskDetections', { format: 'xml' }, 400, /format must be json or csv, got 'xml'/],
      ['userId not a GUID', 'snapshot/riskDetections', { userId: 'alice' }, 400, /userId must be .*GUID.*'alice'/],
      ['userId injection', 'snapshot/riskyUsers', { userId: INJECTION }, 400, /userId must be/],
      ['empty userPrincipalName', 'snapshot/riskyUsers', { userPrincipalName: '' }, 400, /userPrincipalName must be 1 to 1024/],
      ['userPrincipalName too long', 'snapshot/riskyUsers', { userPrincipalName: 'a'.repeat(1025) }, 400, /userPrincipalName must be 1 to 1024/],
      ['userPrincipalName with a NUL', 'snapshot/riskyUsers', { userPrincipalName: 'a\u0000b' }, 400, /control characters/],
      [
        'more comparisons than Table Storage allows',
        'snapshot/riskDetections',
        {
          riskLevel: COLLECTIONS.riskDetections.enums.riskLevel.join(','),
          riskState: COLLECTIONS.riskDetections.enums.riskState.join(','),
          userPrincipalName: 'a',
        },
        400,
        /riskLevel and riskState list 13 values in all; .* at most 12 \(Table Storage allows 15 comparisons per query\)/,
      ],
      [
        'malformed continuationToken',
        'snapshot/riskDetections',
        { continuationToken: 'not a token!' },
        400,
        /^continuationToken is not a token this API issued/,
      ],
      ['base64 that is not JSON', 'snapshot/riskDetections', { continuationToken: 'aGVsbG8' }, 400, /^continuationToken is not a token/],
      ['empty continuationToken', 'snapshot/riskDetections', { continuationToken: '' }, 400, /^continuationToken/],
      [
        'unknown parameter',
        'snapshot/riskDetections',
        { $filter: "riskLevel eq 'high'" },
        400,
        /unknown query parameter '\$filter': accepted parameters: riskLevel, riskState, userId, userPrincipalName, since, until, top, format, continuationToken/,
      ],
      [
        'parameter in the wrong case',
        'snapshot/riskDetections',
        { risklevel: 'high' },
        400,
        /unknown query parameter 'risklevel' \(did you mean 'riskLevel'/,
      ],
      [
        'repeated parameter',
        'snapshot/riskDetections',
        [
          ['riskLevel', 'high'],
          ['riskLevel', 'low'],
        ],
        400,
        /'riskLevel' is repeated: give it once \(several values go in one parameter/,
      ],
      [
        'repeated top',
        'snapshot/riskDetections',
        [
          ['top', '5'],
          ['top', '5'],
        ],
        400,
        /'top' is repeated/,
      ],
      ['a parameter on the summary', 'snapshot', { top: '5' }, 400, /unknown query parameter 'top': this route takes no parameters/],
      ['a parameter on health', 'health', { verbose: '1' }, 400, /unknown query parameter 'verbose'/],
      ['unknown collection', 'snapshot/signIns', {}, 404, /no collection 'signIns': accepted collections are riskDetections, riskyUsers/],
      ['unknown route', 'snapshots', {}, 404, /no function serves GET \/api\/snapshots/],
      ['a path below a record', 'snapshot/riskyUsers/x/history/extra', {}, 404, /no function serves/],
    ];

    it.each(bad.map(([name, path, params, status, message]) => [name, path, params, status, message.source] as const))(
      '%s -> %s',
      async (_name, path, params, status, message) => {
        const answer = await getJson<{ error: { code: string; message: string } }>(url(path, params as never));
        expect(answer.status).toBe(status);
        expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
        expect(answer.body.error.code).toBe(status === 400 ? 'BadRequest' : 'NotFound');
        expect(answer.body.error.message).toMatch(new RegExp(message));
      },
    );

    it('the function key parameter `code` is always accepted', async () => {
      expect((await getJson(url('snapshot/riskyUsers', { code: 'abc', top: '1' }))).status).toBe(200);
      expect((await getJson(url('snapshot', { code: 'abc' }))).status).toBe(200);
    });

    it('an injection in userPrincipalName matches nothing and never widens the query', async () => {
      for (const collection of ['riskDetections', 'riskyUsers'] as const) {
        const answer = await getJson<ListBody>(url(`snapshot/${collection}`, { userPrincipalName: INJECTION }));
        expect(answer.status).toBe(200);
        expect(answer.body.value).toEqual([]);
        expect(answer.body['@odata.nextLink']).toBeUndefined();
      }
      for (const upn of ["' or ''='", "donal.o'brien@contoso.com' or RowKey ne '", 'x) or (true', "x' or tenantId ne 'y"]) {
        expect((await getJson<ListBody>(url('snapshot/riskyUsers', { userPrincipalName: upn }))).body.value).toEqual([]);
      }
    });

    describe('continuationToken', () => {
      let token: string;
      beforeAll(async () => {
        const first = await getJson<ListBody>(url('snapshot/riskDetections', { riskLevel: 'high', top: '5' }));
        token = new URL(first.body['@odata.nextLink']!, api.url).searchParams.get('continuationToken')!;
      });
      const decode = (t: string) => JSON.parse(Buffer.from(t, 'base64url').toString('utf8')) as Record<string, unknown>;
      const encode = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const expectRefused = async (params: Record<string, string>, path = 'snapshot/riskDetections', why = /continuationToken/) => {
        const answer = await getJson<{ error: { code: string; message: string } }>(url(path, params));
        expect(answer.status).toBe(400);
        expect(answer.body.error.code).toBe('BadRequest');
        expect(answer.body.error.message).toMatch(/^continuationToken /);
        expect(answer.body.error.message).toMatch(why);
      };

      it('the issued token works for its own query, also with another top', async () => {
        expect((await getJson(url('snapshot/riskDetections', { riskLevel: 'high', top: '5', continuationToken: token }))).status).toBe(200);
        expect((await getJson(url('snapshot/riskDetections', { riskLevel: 'high', continuationToken: token }))).status).toBe(200);
      });

      it('a forged token (valid base64 JSON, wrong signature) is refused', async () => {
        const forged = { ...decode(token), s: 'A'.repeat(43) };
        await expectRefused({ riskLevel: 'high', continuationToken: encode(forged) }, undefined, /invalid signature/);
        // A token pointing elsewhere in the table, signed with a guessed key.
        const moved = { ...decode(token), c: Buffer.from(JSON.stringify({ nextPartitionKey: '00000000', nextRowKey: 'a' })).toString('base64') };
        await expectRefused({ riskLevel: 'high', continuationToken: encode(moved) }, undefined, /invalid signature/);
        await expectRefused({ riskLevel: 'high', continuationToken: encode({ ...decode(token), extra: 1 }) }, undefined, /not a token/);
        await expectRefused({ riskLevel: 'high', continuationToken: encode({ ...decode(token), v: 2 }) }, undefined, /not a token/);
      });

      it('a token of another query (another filter, another collection) is refused', async () => {
        await expectRefused({ riskLevel: 'low', continuationToken: token }, undefined, /different query/);
        await expectRefused({ continuationToken: token }, undefined, /different query/);
        await expectRefused({ riskLevel: 'high', continuationToken: token }, 'snapshot/riskyUsers', /different query/);
      });

      it('a changed signing key invalidates the tokens handed out (and the API makes a new one)', async () => {
        // Another process's API (no cached key), after someone deleted the key row.
        const other = await startApi(h, () => h.service());
        try {
          await h.table('SyncState').deleteEntity(KEY_PARTITION, KEY_ROW);
          const answer = await getJson<{ error: { message: string } }>(
            apiUrl(other, 'snapshot/riskDetections', { riskLevel: 'high', continuationToken: token }),
          );
          expect(answer.status).toBe(400);
          const fresh = await listAll(apiUrl(other, 'snapshot/riskDetections', { riskLevel: 'high', top: '50' }));
          expect(sortIds(fresh.items)).toEqual(sortIds(expected('riskDetections').filter((r) => r.riskLevel === 'high')));
          const key = await h.table('SyncState').getEntity<{ key: string }>(KEY_PARTITION, KEY_ROW);
          expect(Buffer.from(key.key, 'base64')).toHaveLength(32);
        } finally {
          await other.close();
        }
      });
    });
  });

  it('a table that does not exist yet (no sync so far) lists as empty', async () => {
    const fresh = h.service({ TABLE_RISK_DETECTIONS: 'NotSyncedYet', TABLE_RISKY_USERS: 'NotSyncedEither' });
    const other = await startApi(h, () => fresh);
    try {
      const answer = await getJson<ListBody>(apiUrl(other, 'snapshot/riskDetections'));
      expect(answer).toMatchObject({ status: 200, body: { value: [] } });
      expect(await (await fetch(apiUrl(other, 'snapshot/riskyUsers', { format: 'csv' }))).text()).toMatch(/^id,isDeleted,/);
    } finally {
      await other.close();
    }
  });

  it('an internal failure is a generic 500 that leaks nothing; the details go to the log', async () => {
    const errors: string[] = [];
    const secret = 'AccountKey=c2VjcmV0LWtleQ==';
    const broken = await startLocalHost({
      functions: httpFunctions(h.settings(), {
        sync: () => {
          throw new Error(`Invalid configuration: TABLES_CONNECTION_STRING ${secret}`);
        },
        readModel: () => {
          throw new Error(`Invalid configuration: TABLES_CONNECTION_STRING ${secret}`);
        },
      }),
      port: 0,
      log: { ...quietLogger, error: (m: string) => void errors.push(m) },
    });
    try {
      for (const path of ['snapshot', 'snapshot/riskyUsers', 'health']) {
        const response = await fetch(apiUrl(broken, path));
        const text = await response.text();
        expect(response.status).toBe(500);
        expect(JSON.parse(text)).toEqual({ error: { code: 'InternalError', message: expect.stringMatching(/function log/) } });
        expect(text).not.toContain('AccountKey');
        expect(text).not.toContain(' at ');
      }
      expect(errors.join('\n')).toContain(secret);
    } finally {
      await broken.close();
    }
  });

  it('requests never change stored data (apart from the signing key row)', async () => {
    const tables = ['RiskDetections', 'RiskyUsers', 'RiskyUserHistory', 'RiskDetectionChanges', 'RiskyUserChanges', 'SyncState', 'SyncRuns'];
    const before = await dumpTables(h, tables);
    const first = await getJson<ListBody>(url('snapshot/riskDetections', { top: '3' }));
    await Promise.all([
      getJson(url('snapshot')),
      getJson(url('health')),
      getJson(new URL(first.body['@odata.nextLink']!, api.url).toString()),
      fetch(url('snapshot/riskDetections', { format: 'csv' })).then((r) => r.text()),
      getJson(url('snapshot/riskyUsers', { userPrincipalName: INJECTION })),
      getJson(url('snapshot/riskyUsers', { continuationToken: 'eyJ2IjoxfQ' })),
      getJson(url('snapshot/riskyUsers', { riskLevel: 'nope' })),
      fetch(url('snapshot/riskyUsers'), { method: 'POST', body: '{}' }).then((r) => r.text()),
      fetch(url('snapshot/riskyUsers'), { method: 'DELETE' }).then((r) => r.text()),
      getJson(url(`snapshot/riskyUsers/${users[0]!.id}`)),
      getJson(url(`snapshot/riskyUsers/${users[0]!.id}/history`)),
      getJson(url(`snapshot/riskDetections/${detections[5]!.id}/history`)),
      getJson(url('changes', { collection: 'riskyUsers' })),
      fetch(url('changes', { collection: 'riskDetections', format: 'csv' })).then((r) => r.text()),
      ...Array.from({ length: 10 }, (_, i) => getJson(url('snapshot/riskDetections', { top: String(i + 1), riskLevel: 'high' }))),
    ]);
    expect(await dumpTables(h, tables)).toEqual(before);
  });

  it('property: generated queries and headers never get a 5xx nor rows outside their filter', async () => {
    const levels = COLLECTIONS.riskDetections.enums.riskLevel;
    const states = COLLECTIONS.riskDetections.enums.riskState;
    const upns = [...new Set(users.map((u) => u.userPrincipalName).filter((u): u is string => typeof u === 'string'))];
    const stamp = fc.date({ min: new Date(now - 60 * DAY), max: new Date(now + DAY), noInvalidDate: true }).map((d) => {
      d.setUTCSeconds(0, 0); // whole minutes: Azurite compares datetimes to the millisecond, Azure to the tick
      return d.toISOString();
    });
    const junk = fc.string({ maxLength: 30 });
    // Mostly valid values (so many requests reach the table), sometimes junk.
    const mostly = (valid: fc.Arbitrary<string>) => fc.oneof({ arbitrary: valid, weight: 5 }, { arbitrary: junk, weight: 1 });
    const param = fc.oneof(
      fc.tuple(fc.constant('riskLevel'), mostly(fc.subarray([...levels], { minLength: 1 }).map((a) => a.join(',')))),
      fc.tuple(fc.constant('riskState'), mostly(fc.subarray([...states], { minLength: 1 }).map((a) => a.join(',')))),
      fc.tuple(fc.constant('userId'), mostly(fc.oneof(fc.constantFrom(...users.slice(0, 5).map((u) => u.id)), fc.uuid()))),
      fc.tuple(fc.constant('userPrincipalName'), mostly(fc.constantFrom(...upns.slice(0, 8), INJECTION))),
      fc.tuple(fc.constant('since'), mostly(stamp)),
      fc.tuple(fc.constant('until'), mostly(stamp)),
      fc.tuple(fc.constant('top'), mostly(fc.integer({ min: -5, max: 1200 }).map(String))),
      fc.tuple(fc.constant('format'), fc.constantFrom('json', 'csv', 'csv', 'CSV', '')),
      fc.tuple(fc.constant('continuationToken'), fc.oneof(junk, fc.base64String({ maxLength: 60 }))),
      fc.tuple(fc.oneof(fc.constant('code'), junk), junk),
    );
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
    const headers = fc.record(
      {
        accept: fc.oneof(fc.constantFrom('text/csv', 'application/json', '*/*', 'text/*;q=0.5, application/json', 'text/csv;q=0'), printable),
        'if-none-match': printable,
      },
      { requiredKeys: [] },
    );
    const collection = fc.constantFrom<CollectionName>('riskDetections', 'riskyUsers');
    const seen = { runs: 0, ok: 0, withRows: 0, csv: 0, refused: 0 };

    await fc.assert(
      fc.asyncProperty(collection, fc.array(param, { maxLength: 5 }), headers, async (c, params, hdrs) => {
        const response = await fetch(url(`snapshot/${c}`, params), { headers: hdrs });
        const text = await response.text();
        seen.runs++;
        expect(response.status).toBeLessThan(500);
        if (response.status !== 200) {
          seen.refused++;
          expect(JSON.parse(text).error.code).toMatch(/^(BadRequest|NotFound)$/);
          return;
        }
        seen.ok++;
        const given = new Map(params);
        const matches = (r: Record<string, unknown>) => {
          const get = (k: string) => given.get(k);
          const cursor = cursorOf(c, r).slice(0, 23); // Azurite's millisecond precision
          if (get('riskLevel') && !get('riskLevel')!.split(',').includes(String(r.riskLevel))) return false;
          if (get('riskState') && !get('riskState')!.split(',').includes(String(r.riskState))) return false;
          if (get('userId') && get('userId')!.toLowerCase() !== (c === 'riskyUsers' ? r.id : r.userId)) return false;
          if (get('userPrincipalName') !== undefined && get('userPrincipalName') !== r.userPrincipalName) return false;
          if (get('since') && cursor < get('since')!.slice(0, 23)) return false;
          if (get('until') && cursor > get('until')!.slice(0, 23)) return false;
          return true;
        };
        if (response.headers.get('content-type')!.startsWith('text/csv')) {
          const rows = parseCsv(text);
          const ids = new Set(rows.slice(1).map((r) => r[0]));
          const want = expected(c).filter(matches);
          expect([...ids].sort()).toEqual(sortIds(want));
          seen.csv++;
          if (ids.size > 0) seen.withRows++;
        } else {
          const body = JSON.parse(text) as ListBody;
          const all = new Map(expected(c).map((r) => [r.id, r]));
          for (const item of body.value) expect(matches(all.get(item.id as string)!)).toBe(true);
          for (const item of body.value) expect(item).toEqual(all.get(item.id as string));
          if (body.value.length > 0) seen.withRows++;
          if (!body['@odata.nextLink']) {
            const top = Number(given.get('top') ?? 100);
            if (!given.has('continuationToken')) expect(body.value.length).toBe(Math.min(top, expected(c).filter(matches).length));
          }
        }
      }),
      { numRuns: 200, interruptAfterTimeLimit: 10_000, seed: 4242 },
    );
    // The generated requests reached the tables and the validation both.
    expect(seen.runs).toBeGreaterThanOrEqual(50);
    expect(seen.withRows).toBeGreaterThanOrEqual(10);
    expect(seen.csv).toBeGreaterThanOrEqual(1);
    expect(seen.refused).toBeGreaterThanOrEqual(10);
  });
});
