import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import type { LocalHost } from '../../tools/host/localHost';
import { changeFields, changesFilter } from '../../src/api/changes';
import { parseQuery } from '../../src/api/query';
import { changesSpec } from '../../src/api/changes';
import { HttpRequest } from '@azure/functions';
import { COLLECTIONS } from '../../src/domain/collections';
import type { SyncService } from '../../src/sync/service';
import { quietLogger, startHarness, type Harness } from '../support/harness';
import { apiUrl, getJson, listAll, parseCsv, startApi, type ListBody } from './helpers';

/**
 * One record, its history and the changes feed, over the wire: local host -> handlers -> Azurite, on data the real
 * sync wrote in two runs from the Graph emulator (a user remediated, a user dismissed, a detection dismissed between).
 */
const DAY = 86_400_000;
const ODD_ID = 'odd#id?with%~ é';
type Item = Record<string, unknown>;
type ErrorBody = { error: { code: string; message: string } };

describe('one record, its history, the changes feed', () => {
  let h: Harness;
  let service: SyncService;
  let api: LocalHost & { errors: string[] };
  let tenant: string;
  const now = Date.now();
  const users = generateRiskyUsers(20, { seed: 31, from: new Date(now - 40 * DAY), to: new Date(now - 3 * DAY) });
  const detections = generateRiskDetections(150, { seed: 31, users, from: new Date(now - 70 * DAY), to: new Date(now - 3 * DAY) });
  detections[7] = { ...detections[7]!, id: ODD_ID };
  const remediated = { ...users[2]!, riskLevel: 'high', riskState: 'atRisk', riskDetail: 'none' };
  const dismissed = { ...users[3]!, riskLevel: 'medium', riskState: 'atRisk', riskDetail: 'none' };
  const detection = { ...detections[11]!, riskState: 'atRisk', riskLevel: 'high' };
  const url = (path: string, params: Record<string, string> = {}) => apiUrl(api, path, params);
  const at = (msAgo: number) => new Date(now - msAgo).toISOString().replace('Z', '0000Z');

  /** Every change row of a table, in storage order (month, then cursor), as the feed must give them. */
  const changeRows = async (table: string) => {
    const rows: Item[] = [];
    for await (const row of h.table(table).listEntities<Item>()) {
      if (String(row.partitionKey).startsWith(`${tenant}_`)) rows.push(row);
    }
    return rows;
  };

  /** The cursor as the API shows it: Graph's 7 digits (the RowKey starts with it; the typed column reads as a Date). */
  const cursorOf = (row: Item) => (row.cursor === undefined ? null : String(row.rowKey).slice(0, 28));

  beforeAll(async () => {
    h = await startHarness();
    tenant = h.emulator.tenantId;
    users[2] = remediated;
    users[3] = dismissed;
    detections[11] = detection;
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
    service = h.service();
    expect((await service.runAll([], { trigger: 'test' }, quietLogger)).map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    h.emulator.upsert('riskyUsers', [
      {
        ...remediated,
        riskLevel: 'none',
        riskState: 'remediated',
        riskDetail: 'userPerformedSecuredPasswordChange',
        riskLastUpdatedDateTime: at(2 * DAY),
      },
      { ...dismissed, riskLevel: 'none', riskState: 'dismissed', riskDetail: 'adminDismissedAllRiskForUser', riskLastUpdatedDateTime: at(2 * DAY) },
    ]);
    h.emulator.upsert('riskDetections', { ...detection, riskState: 'dismissed', riskLevel: 'none', lastUpdatedDateTime: at(DAY) });
    await service.runAll([], { trigger: 'test', sweep: true }, quietLogger);
    h.emulator.upsert('riskyUsers', { ...remediated, riskLevel: 'low', riskState: 'atRisk', riskDetail: 'none', riskLastUpdatedDateTime: at(DAY) });
    await service.runAll(['riskyUsers'], { trigger: 'test', sweep: true }, quietLogger);
    // Another tenant's rows next to ours: never served.
    await h
      .table('RiskyUserChanges')
      .createEntity({ partitionKey: `00000000-0000-0000-0000-000000000000_${at(0).slice(0, 7)}`, rowKey: 'x', recordId: remediated.id });
    api = await startApi(h, () => service);
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });
  afterEach(() => expect(api.errors).toEqual([]));

  describe('GET /api/snapshot/{collection}/{id}', () => {
    it('answers the stored record, shaped like Graph (a tenant partition, and a month-partitioned collection)', async () => {
      const user = await getJson<Item>(url(`snapshot/riskyUsers/${remediated.id}`));
      expect(user.status).toBe(200);
      expect(user.body).toEqual(h.expected('riskyUsers').find((u) => u.id === remediated.id));
      expect(user.body).toMatchObject({ riskLevel: 'low', riskState: 'atRisk' });
      const stored = h.expected('riskDetections');
      for (const d of [detections[0]!, detections[60]!, detection]) {
        const answer = await getJson<Item>(url(`snapshot/riskDetections/${d.id}`));
        expect(answer.body).toEqual(stored.find((s) => s.id === d.id));
      }
      // The case of the collection does not matter; HEAD has no body.
      expect((await getJson(url(`snapshot/RISKYUSERS/${remediated.id}`))).status).toBe(200);
      const head = await fetch(url(`snapshot/riskyUsers/${remediated.id}`), { method: 'HEAD' });
      expect([head.status, await head.text()]).toEqual([200, '']);
    });

    it('an id with characters a RowKey can not hold (stored ~-escaped) is found by the id itself', async () => {
      const answer = await getJson<Item>(url(`snapshot/riskDetections/${encodeURIComponent(ODD_ID)}`));
      expect(answer.status).toBe(200);
      expect(answer.body.id).toBe(ODD_ID);
    });

    it('404 naming the collection and the id; 400 for a parameter', async () => {
      const missing = await getJson<ErrorBody>(url('snapshot/riskDetections/no-such-detection'));
      expect(missing.status).toBe(404);
      expect(missing.body.error).toEqual({
        code: 'NotFound',
        message: "no riskDetections record with id 'no-such-detection' is stored for this tenant",
      });
      // A user of another tenant is not ours.
      expect((await getJson(url('snapshot/riskyUsers/00000000-0000-0000-0000-000000000000'))).status).toBe(404);
      expect((await getJson<ErrorBody>(url('snapshot/signIns/x'))).body.error.message).toMatch(/^no collection 'signIns': accepted collections are/);
      expect((await getJson<ErrorBody>(url(`snapshot/riskyUsers/${remediated.id}`, { top: '1' }))).body.error.message).toMatch(
        /unknown query parameter 'top': this route takes no parameters/,
      );
    });
  });

  describe('GET /api/snapshot/{collection}/{id}/history', () => {
    const history = async (collection: string, id: string, params: Record<string, string> = {}) =>
      (await listAll(url(`snapshot/${collection}/${encodeURIComponent(id)}/history`, params))).items;

    it("a risky user: Graph's history items and the changes the sync observed, merged in time order", async () => {
      const items = await history('riskyUsers', remediated.id);
      const graph = items.filter((i) => i.source === 'graph');
      const observed = items.filter((i) => i.source === 'observed');
      // Graph's items as stored (RiskyUserHistory, the user's partition), each with when it happened.
      const stored = (await h.stored('riskyUserHistory')).filter((r) => r.userId === remediated.id);
      expect(stored.length).toBeGreaterThanOrEqual(3);
      const withoutAdded = (item: Item) =>
        Object.fromEntries(Object.entries(item).filter(([k]) => !['source', 'collection', 'dateTime'].includes(k)));
      expect(graph.map(withoutAdded).sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual(stored);
      expect(graph.every((i) => i.collection === 'riskyUserHistory' && i.dateTime === i.riskLastUpdatedDateTime)).toBe(true);
      // Ours: created, then the remediation, then the new risk.
      expect(observed.map((o) => [o.change, o.previousRiskState, o.riskState, o.previousRiskLevel, o.riskLevel])).toEqual([
        ['created', null, 'atRisk', null, 'high'],
        ['changed', 'atRisk', 'remediated', 'high', 'none'],
        ['changed', 'remediated', 'atRisk', 'none', 'low'],
      ]);
      expect(observed.every((o) => o.recordId === remediated.id && typeof o.runId === 'string' && o.dateTime === o.cursor)).toBe(true);
      // In time order, Graph's item before our observation of the same instant.
      const keys = items.map((i) => `${String(i.dateTime)} ${i.source === 'graph' ? 0 : 1}`);
      expect(keys).toEqual([...keys].sort());
      expect(items.length).toBe(graph.length + observed.length);
    });

    it('who dismissed it, and when', async () => {
      const items = await history('riskyUsers', dismissed.id);
      const dismissal = items.find((i) => i.source === 'observed' && i.riskState === 'dismissed')!;
      expect(dismissal).toMatchObject({ previousRiskState: 'atRisk', riskDetail: 'adminDismissedAllRiskForUser', dateTime: at(2 * DAY) });
      expect(items.find((i) => i.source === 'graph' && i.riskState === 'dismissed')).toMatchObject({
        riskDetail: 'adminDismissedAllRiskForUser',
        activity: { detail: 'adminDismissedAllRiskForUser' },
      });
    });

    it('paged with top and signed tokens: the pages add up to the whole, and a token fits only its own record', async () => {
      const whole = await history('riskyUsers', remediated.id);
      const paged = await listAll(url(`snapshot/riskyUsers/${remediated.id}/history`, { top: '2' }));
      expect(paged.items).toEqual(whole);
      expect(paged.pages).toBe(Math.ceil(whole.length / 2));
      const first = await getJson<ListBody>(url(`snapshot/riskyUsers/${remediated.id}/history`, { top: '2', code: 'k3y' }));
      const link = first.body['@odata.nextLink']!;
      expect(link).toMatch(new RegExp(`^/api/snapshot/riskyUsers/${remediated.id}/history\\?top=2&continuationToken=`));
      const token = new URL(link, api.url).searchParams.get('continuationToken')!;
      const foreign = await getJson<ErrorBody>(url(`snapshot/riskyUsers/${dismissed.id}/history`, { continuationToken: token }));
      expect(foreign.status).toBe(400);
      expect(foreign.body.error.message).toMatch(/^continuationToken belongs to a different query/);
    });

    it('since and until pick a window of dateTime', async () => {
      const whole = await history('riskyUsers', remediated.id);
      const since = at(2 * DAY);
      const window = await history('riskyUsers', remediated.id, { since, until: at(DAY) });
      expect(window).toEqual(whole.filter((i) => String(i.dateTime) >= since && String(i.dateTime) <= at(DAY)));
      expect(window.length).toBeGreaterThanOrEqual(2);
    });

    it('a detection: the changes observed (Graph keeps no history of detections)', async () => {
      const items = await history('riskDetections', detection.id);
      expect(items.map((i) => [i.source, i.change, i.previousRiskState, i.riskState])).toEqual([
        ['observed', 'created', null, 'atRisk'],
        ['observed', 'changed', 'atRisk', 'dismissed'],
      ]);
    });

    it('bad input: a collection without history, an unknown record, CSV', async () => {
      const none = await getJson<ErrorBody>(url('snapshot/riskyUserHistory/x/history'));
      expect(none.status).toBe(404);
      expect(none.body.error.message).toBe('no history is kept for riskyUserHistory records: it is kept for riskDetections, riskyUsers');
      const unknown = await getJson<ErrorBody>(url('snapshot/riskyUsers/7c4c3a8e-0000-4000-8000-000000000000/history'));
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.message).toMatch(/^no riskyUsers record with id '7c4c3a8e-0000-4000-8000-000000000000'/);
      const csv = await getJson<ErrorBody>(url(`snapshot/riskyUsers/${remediated.id}/history`, { format: 'csv' }));
      expect([csv.status, csv.body.error.message]).toEqual([400, expect.stringMatching(/^format csv is not offered for a history/)]);
      const since = await getJson<ErrorBody>(url(`snapshot/riskyUsers/${remediated.id}/history`, { since: 'yesterday' }));
      expect(since.body.error.message).toMatch(/^since must be an ISO 8601/);
    });
  });

  describe('GET /api/changes', () => {
    const feed = (params: Record<string, string>) => listAll(url('changes', params));

    it.each([
      ['riskyUsers', 'RiskyUserChanges'],
      ['riskDetections', 'RiskDetectionChanges'],
    ])('collection=%s: every change row of the tenant, oldest month first, paged to the end', async (collection, table) => {
      const rows = await changeRows(table);
      const definition = COLLECTIONS[collection]!;
      const { items, pages } = await feed({ collection, top: '7' });
      expect(items.map((i) => [i.recordId, i.cursor])).toEqual(rows.map((r) => [r.recordId, cursorOf(r)]));
      expect(pages).toBeGreaterThan(1);
      expect(Object.keys(items[0]!)).toEqual(changeFields(definition));
      expect(items.filter((i) => i.change === 'created')).toHaveLength(collection === 'riskyUsers' ? 20 : 150);
    });

    it('filters: the tracked enums, the record id, the user, change; since and until on the change time', async () => {
      const rows = (await changeRows('RiskyUserChanges')).map((r) => ({ ...r, cursor: cursorOf(r) }));
      const ids = (items: Item[]) => items.map((i) => `${String(i.recordId)} ${String(i.cursor)}`);
      const want = (pick: (r: Item) => boolean) => ids(rows.filter(pick));
      expect(ids((await feed({ collection: 'riskyUsers', riskState: 'remediated,dismissed' })).items)).toEqual(
        want((r) => ['remediated', 'dismissed'].includes(String(r.riskState))),
      );
      expect(ids((await feed({ collection: 'riskyUsers', change: 'changed' })).items)).toEqual(want((r) => r.change === 'changed'));
      expect(ids((await feed({ collection: 'riskyUsers', userId: remediated.id.toUpperCase() })).items)).toEqual(
        want((r) => r.recordId === remediated.id),
      );
      expect(ids((await feed({ collection: 'riskyUsers', userPrincipalName: dismissed.userPrincipalName! })).items)).toEqual(
        want((r) => r.userPrincipalName === dismissed.userPrincipalName),
      );
      const [since, until] = [at(2.5 * DAY), at(0.5 * DAY)];
      const window = await feed({ collection: 'riskyUsers', since, until });
      expect(ids(window.items)).toEqual(want((r) => String(r.cursor) >= since && String(r.cursor) <= until));
      expect(window.items).toHaveLength(3);
      // A window across months: the partitions of both.
      const wide = await feed({ collection: 'riskDetections', since: at(50 * DAY), until: at(20 * DAY) });
      const detectionRows = (await changeRows('RiskDetectionChanges')).map((r) => String(cursorOf(r)));
      expect(wide.items.map((i) => String(i.cursor))).toEqual(detectionRows.filter((c) => c >= at(50 * DAY) && c <= at(20 * DAY)));
      expect(new Set(wide.items.map((i) => String(i.cursor).slice(0, 7))).size).toBeGreaterThan(1);
    });

    it('CSV: the same fields as columns, every row, the injection guard', async () => {
      const response = await fetch(url('changes', { collection: 'riskyUsers', format: 'csv', top: '3' }));
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(response.headers.get('content-disposition')).toBe('attachment; filename="riskyUsersChanges.csv"');
      const rows = parseCsv(await response.text());
      expect(rows[0]).toEqual(changeFields(COLLECTIONS.riskyUsers!));
      expect(rows.length - 1).toBe((await changeRows('RiskyUserChanges')).length);
    });

    it('a window is a PartitionKey and RowKey range, never a scan of the whole table', () => {
      const request = new HttpRequest({
        method: 'GET',
        url: 'http://localhost/api/changes?since=2025-04-30T22:00:00-02:00&until=2025-06-02T00:00:00Z',
      });
      const query = parseQuery(request, changesSpec(COLLECTIONS.riskyUsers!));
      expect(changesFilter(query, COLLECTIONS.riskyUsers!, 'T')).toBe(
        "PartitionKey ge 'T_2025-05' and PartitionKey le 'T_2025-06' and RowKey ge '2025-05-01T00:00:00.0000000Z' and RowKey lt '2025-06-02T00:00:00.0000000Z`'",
      );
      const open = parseQuery(
        new HttpRequest({ method: 'GET', url: 'http://localhost/api/changes?riskLevel=high' }),
        changesSpec(COLLECTIONS.riskyUsers!),
      );
      expect(changesFilter(open, COLLECTIONS.riskyUsers!, 'T')).toBe("PartitionKey ge 'T_' and PartitionKey lt 'T`' and (riskLevel eq 'high')");
    });

    it.each([
      [{}, /^collection is required: the collection whose changes to read, one of riskDetections, riskyUsers$/],
      [{ collection: 'riskyUserHistory' }, /^collection 'riskyUserHistory' is not accepted: use one of riskDetections, riskyUsers/],
      [{ collection: 'riskyUsers', riskLevel: 'severe' }, /^riskLevel 'severe' is not accepted/],
      [
        { collection: 'riskyUsers', riskEventType: 'x' },
        /^unknown query parameter 'riskEventType': accepted parameters: collection, riskLevel, riskState, userId/,
      ],
      [
        { collection: 'riskyUsers', since: '2025-02-30T00:00:00Z' },
        /^since must be an ISO 8601 .*compared with the change's riskLastUpdatedDateTime/,
      ],
      [{ collection: 'riskyUsers', since: '2025-05-02T00:00:00Z', until: '2025-05-01T00:00:00Z' }, /^since .* is after until/],
      [{ collection: 'riskyUsers', change: 'deleted' }, /^change 'deleted' is not accepted: use one of created, changed/],
      [{ collection: 'riskyUsers', continuationToken: 'nope' }, /^continuationToken is not a token this API issued/],
    ])('400 for %j', async (params, message) => {
      const answer = await getJson<ErrorBody>(url('changes', params as Record<string, string>));
      expect(answer.status).toBe(400);
      expect(answer.body.error.message).toMatch(message);
    });
  });
});
