/** The Graph API surface of the emulator: auth, query options, paging, enum drift, errors, admin routes. */
import { type GraphEmulator, type RiskDetection, generateRiskDetections, startGraphEmulator } from '../../tools/emulator/index.js';
import { PREFER_UNKNOWN, expectGraphError, filterPath, getAllPages, graphGet, ids, json, sleep } from './helpers.js';

const DETECTIONS = '/v1.0/identityProtection/riskDetections';
const USERS = '/v1.0/identityProtection/riskyUsers';
const FROM = new Date('2026-01-01T00:00:00Z');
const TO = new Date('2026-03-01T00:00:00Z');

let emulator: GraphEmulator;

beforeAll(async () => {
  emulator = await startGraphEmulator({ throttling: false, seed: 42 });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.clear();
  emulator.faults.clear();
  emulator.configure({ emptyPageProbability: 0, skipTokenTtlMs: 600_000 });
});

function detection(id: string, fields: Partial<RiskDetection> = {}): Partial<RiskDetection> & { id: string } {
  return { id, riskLevel: 'low', riskState: 'atRisk', riskDetail: 'none', lastUpdatedDateTime: '2026-01-01T00:00:00Z', ...fields };
}

describe('authentication', () => {
  it('answers 401 InvalidAuthenticationToken without a token, with an unknown one, and with a revoked one', async () => {
    const none = await graphGet(emulator, DETECTIONS, { token: null });
    expect(expectGraphError(none, 401, 'InvalidAuthenticationToken')).toMatch(/empty/);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);

    expectGraphError(await graphGet(emulator, DETECTIONS, { token: 'not-a-token' }), 401, 'InvalidAuthenticationToken');
    expectGraphError(
      await graphGet(emulator, DETECTIONS, { headers: { authorization: 'Basic abc' }, token: null }),
      401,
      'InvalidAuthenticationToken',
    );

    const { token } = emulator.issueToken();
    expect((await graphGet(emulator, DETECTIONS, { token })).status).toBe(200);
    emulator.revokeTokens();
    expect(expectGraphError(await graphGet(emulator, DETECTIONS, { token }), 401, 'InvalidAuthenticationToken')).toMatch(/revoked/i);
    expect((await graphGet(emulator, DETECTIONS, { token: emulator.issueToken().token })).status).toBe(200);
  });

  it('rejects an expired token', async () => {
    const shortLived = await startGraphEmulator({ throttling: false, tenantId: 'expiry.example.com', tokenLifetimeSeconds: 0.2 });
    try {
      const { token } = shortLived.issueToken();
      expect((await graphGet(shortLived, DETECTIONS, { token })).status).toBe(200);
      await sleep(250);
      expect(expectGraphError(await graphGet(shortLived, DETECTIONS, { token }), 401, 'InvalidAuthenticationToken')).toMatch(/expired/);
    } finally {
      await shortLived.close();
    }
  });
});

describe('routes and errors', () => {
  it('serves both collections on v1.0 and beta, case-insensitively, with @odata.context', async () => {
    emulator.upsert('riskDetections', detection('d1', { mitreTechniqueId: 'T1078' }));
    emulator.upsert('riskyUsers', { id: 'u1', riskLevel: 'high' });
    const v1 = await graphGet(emulator, DETECTIONS);
    expect(v1.status).toBe(200);
    expect(v1.headers.get('content-type')).toMatch(/^application\/json/);
    expect(v1.body['@odata.context']).toBe(`${emulator.graphUrl}/v1.0/$metadata#identityProtection/riskDetections`);
    expect(v1.body.value[0]).not.toHaveProperty('mitreTechniqueId');
    expect(v1.body.value[0].location).toBeNull(); // absent properties are served as null

    const beta = await graphGet(emulator, '/beta/identityProtection/riskDetections');
    expect(beta.body.value[0].mitreTechniqueId).toBe('T1078');
    expect(ids(await graphGet(emulator, '/v1.0/identityprotection/riskyusers'))).toEqual(['u1']);
    const item = await graphGet(emulator, `${DETECTIONS}/d1`);
    expect(item.body).toMatchObject({ id: 'd1', riskLevel: 'low' });
    expect(item.body['@odata.context']).toMatch(/\/\$entity$/);
    expectGraphError(await graphGet(emulator, `${DETECTIONS}/missing`), 404, 'ResourceNotFound');
  });

  it('answers unknown routes with a Graph-shaped 404 and other methods with 405', async () => {
    expectGraphError(await graphGet(emulator, '/v1.0/identityProtection/riskySignIns'), 404, 'NotFound');
    expectGraphError(await graphGet(emulator, '/v2.0/identityProtection/riskDetections'), 404, 'NotFound');
    const post = await fetch(`${emulator.graphUrl}${DETECTIONS}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emulator.issueToken().token}` },
    });
    expect(post.status).toBe(405);
  });

  it('echoes client-request-id and sends request-id', async () => {
    const response = await graphGet(emulator, `${DETECTIONS}?$top=0`, { headers: { 'client-request-id': 'my-id-1' } });
    expect(expectGraphError(response, 400, 'BadRequest')).toMatch(/\$top/);
    expect(response.headers.get('client-request-id')).toBe('my-id-1');
    expect(response.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('$filter over HTTP', () => {
  beforeEach(() => {
    emulator.upsert('riskDetections', [
      detection('a', { lastUpdatedDateTime: '2020-11-03T20:53:12.1984203Z', userDisplayName: "Dónal O'Brien", riskLevel: 'high' }),
      detection('b', { lastUpdatedDateTime: '2020-11-03T20:53:12.1984204Z', userPrincipalName: '李雷@contoso.com' }),
      detection('c', { lastUpdatedDateTime: '2020-11-03T20:53:12Z', userDisplayName: 'José Müller' }),
    ]);
  });
  const query = async (filter: string): Promise<string[]> => {
    const response = await graphGet(emulator, filterPath('riskDetections', filter));
    expect(response.status).toBe(200);
    return ids(response).sort();
  };

  it('applies each operator on unquoted datetimes, exact to the 7th digit', async () => {
    expect(await query('lastUpdatedDateTime eq 2020-11-03T20:53:12.1984203Z')).toEqual(['a']);
    expect(await query('lastUpdatedDateTime ge 2020-11-03T20:53:12.1984204Z')).toEqual(['b']);
    expect(await query('lastUpdatedDateTime gt 2020-11-03T20:53:12.1984203Z')).toEqual(['b']);
    expect(await query('lastUpdatedDateTime le 2020-11-03T20:53:12.1984203Z')).toEqual(['a', 'c']);
    expect(await query('lastUpdatedDateTime lt 2020-11-03T20:53:12.1984203Z')).toEqual(['c']);
    expect(await query('lastUpdatedDateTime ge 2020-11-03T20:53:12.198Z')).toEqual(['a', 'b']);
    expect(await query('lastUpdatedDateTime eq 2020-11-03T21:53:12.1984203+01:00')).toEqual(['a']);
    expect(await query("lastUpdatedDateTime ge 2020-01-01T00:00:00Z and riskLevel eq 'high'")).toEqual(['a']);
    expect(await query("(lastUpdatedDateTime ge 2020-01-01T00:00:00Z) AND (riskLevel eq 'low')")).toEqual(['b', 'c']);
  });

  it('treats an unencoded + in the query string as a space, like any form-decoding server (-> 400)', async () => {
    const raw = `${DETECTIONS}?$filter=lastUpdatedDateTime eq 2020-11-03T21:53:12.1984203+01:00`;
    expect(expectGraphError(await graphGet(emulator, raw), 400, 'BadRequest')).toMatch(/^Invalid filter clause/);
  });

  it('matches nothing with a quoted datetime', async () => {
    expect(await query("lastUpdatedDateTime ge '2020-01-01T00:00:00Z'")).toEqual([]);
  });

  it('decodes quoted strings with doubled quotes, %27, + and non-ASCII', async () => {
    expect(await query("userDisplayName eq 'Dónal O''Brien'")).toEqual(['a']);
    expect(await query("userPrincipalName eq '李雷@contoso.com'")).toEqual(['b']);
    const form = new URLSearchParams({ $filter: "userDisplayName eq 'José Müller'" }).toString(); // spaces as +
    expect(form).toContain('+');
    expect(ids(await graphGet(emulator, `${DETECTIONS}?${form}`))).toEqual(['c']);
    const hand = `${DETECTIONS}?$filter=userDisplayName%20eq%20%27D%C3%B3nal%20O%27%27Brien%27`;
    expect(ids(await graphGet(emulator, hand))).toEqual(['a']);
  });

  it.each([
    ["foo eq 'x'"],
    ["riskLevel like 'x'"],
    ['lastUpdatedDateTime ge 2020-13-01T00:00:00Z'],
    ["userDisplayName eq 'unterminated"],
    ["riskLevel eq 'high' or riskLevel eq 'low'"],
    ['riskLevel eq 7'],
  ])('answers 400 BadRequest "Invalid filter clause" for %p', async (filter) => {
    const response = await graphGet(emulator, filterPath('riskDetections', filter));
    expect(expectGraphError(response, 400, 'BadRequest')).toMatch(/^Invalid filter clause: /);
  });

  it('filters risky users on their own properties', async () => {
    emulator.upsert('riskyUsers', [
      { id: 'u1', isDeleted: true, riskLastUpdatedDateTime: '2026-01-02T00:00:00Z' },
      { id: 'u2', isDeleted: false, riskLastUpdatedDateTime: '2026-01-01T00:00:00Z' },
    ]);
    expect(ids(await graphGet(emulator, filterPath('riskyUsers', 'isDeleted eq true')))).toEqual(['u1']);
    expect(ids(await graphGet(emulator, filterPath('riskyUsers', 'riskLastUpdatedDateTime gt 2026-01-01T00:00:00Z')))).toEqual(['u1']);
    // riskyUser has no lastUpdatedDateTime
    expectGraphError(await graphGet(emulator, filterPath('riskyUsers', 'lastUpdatedDateTime gt 2026-01-01T00:00:00Z')), 400, 'BadRequest');
  });
});

describe('$top, $select and other options', () => {
  beforeEach(() => {
    emulator.upsert('riskDetections', generateRiskDetections(600, { seed: 1, from: FROM, to: TO }));
  });

  it('pages 20 by default, up to 500, and rejects anything else', async () => {
    const first = await graphGet(emulator, DETECTIONS);
    expect(first.body.value).toHaveLength(20);
    expect(first.body['@odata.nextLink']).toBeDefined();
    expect((await graphGet(emulator, `${DETECTIONS}?$top=500`)).body.value).toHaveLength(500);
    expect((await graphGet(emulator, `${DETECTIONS}?$top=1`)).body.value).toHaveLength(1);
    for (const top of ['501', '0', '-1', 'abc', '5.0', '']) {
      expect(expectGraphError(await graphGet(emulator, `${DETECTIONS}?$top=${top}`), 400, 'BadRequest')).toMatch(/\$top/);
    }
  });

  it('$select returns the listed properties and always id', async () => {
    const response = await graphGet(emulator, `${DETECTIONS}?$select=riskLevel,UserPrincipalName&$top=3`);
    expect(response.status).toBe(200);
    for (const record of response.body.value) expect(Object.keys(record)).toEqual(['id', 'riskLevel', 'userPrincipalName']);
    expect(response.body['@odata.context']).toMatch(/riskDetections\(id,riskLevel,userPrincipalName\)$/);
    const next = await graphGet(emulator, response.body['@odata.nextLink']);
    expect(Object.keys(next.body.value[0])).toEqual(['id', 'riskLevel', 'userPrincipalName']);
    expect(expectGraphError(await graphGet(emulator, `${DETECTIONS}?$select=riskLevel,nope`), 400, 'BadRequest')).toMatch(/nope/);
    expectGraphError(await graphGet(emulator, `${DETECTIONS}?$select=mitreTechniqueId`), 400, 'BadRequest');
  });

  it('accepts and ignores $orderby and $count as Graph does, refuses $skip, other system options and repeated options', async () => {
    const ordered = await getAllPages(emulator, `${DETECTIONS}?$orderBy=${encodeURIComponent('detectedDateTime desc')}&$top=500`);
    const served = ordered.flatMap((p) => p.body.value as RiskDetection[]);
    expect(served).toHaveLength(600);
    const stamps = served.map((r) => r.detectedDateTime!);
    expect(stamps).not.toEqual([...stamps].sort().reverse()); // ignored: still in no particular order
    expect(ordered[0]!.body['@odata.nextLink']).toContain('$orderBy=detectedDateTime%20desc');
    const counted = await graphGet(emulator, `${DETECTIONS}?$count=true&$top=2`);
    expect(counted.status).toBe(200);
    expect(counted.body.value).toHaveLength(2);
    expect(counted.body).not.toHaveProperty('@odata.count');

    expect(expectGraphError(await graphGet(emulator, `${DETECTIONS}?$skip=5`), 400, 'BadRequest')).toBe("'$skip' is not supported by the service.");
    expectGraphError(await graphGet(emulator, `${DETECTIONS}?$expand=user`), 400, 'BadRequest');
    expectGraphError(await graphGet(emulator, `${DETECTIONS}?$search=abc`), 400, 'BadRequest');
    expectGraphError(await graphGet(emulator, `${DETECTIONS}?$top=5&$top=6`), 400, 'BadRequest');
    expectGraphError(await graphGet(emulator, `${DETECTIONS}?$orderby=a&$orderby=b`), 400, 'BadRequest');
    expect((await graphGet(emulator, `${DETECTIONS}?foo=bar&top=50&$TOP=2`)).body.value).toHaveLength(2);
  });
});

describe('paging', () => {
  const records = generateRiskDetections(137, { seed: 5, from: FROM, to: TO });
  beforeEach(() => emulator.upsert('riskDetections', records));

  it('next links, followed verbatim, yield every record exactly once, in no particular order', async () => {
    const pages = await getAllPages(emulator, `${DETECTIONS}?$top=10`);
    expect(pages).toHaveLength(14);
    const served = pages.flatMap(ids);
    expect(served).toHaveLength(137);
    expect(new Set(served)).toEqual(new Set(records.map((r) => r.id)));
    expect(served).not.toEqual(records.map((r) => r.id));
    for (const page of pages.slice(0, -1)) {
      const link = new URL(page.body['@odata.nextLink']);
      expect(link.origin).toBe(emulator.graphUrl);
      expect(link.pathname).toBe(DETECTIONS);
      expect(link.searchParams.get('$skiptoken')).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(link.searchParams.get('$top')).toBe('10');
    }
    expect(pages[13]!.body).not.toHaveProperty('@odata.nextLink');

    const again = await getAllPages(emulator, `${DETECTIONS}?$top=10`);
    expect(again.flatMap(ids)).not.toEqual(served); // each query is shuffled anew
  });

  it('keeps the filter (non-ASCII included) in next links, and a next link can be retried', async () => {
    const user = records[0]!.userDisplayName!;
    const filter = `userDisplayName eq '${user.replace(/'/g, "''")}' and lastUpdatedDateTime ge 2026-01-01T00:00:00Z`;
    const expected = records.filter((r) => r.userDisplayName === user).map((r) => r.id);
    expect(expected.length).toBeGreaterThan(2);
    const first = await graphGet(emulator, filterPath('riskDetections', filter, '&$top=2'));
    const link = first.body['@odata.nextLink'] as string;
    expect(new URL(link).searchParams.get('$filter')).toBe(filter);
    const page2a = await graphGet(emulator, link);
    const page2b = await graphGet(emulator, link);
    expect(ids(page2b)).toEqual(ids(page2a));
    const rest = await getAllPages(emulator, link);
    expect([...ids(first), ...rest.flatMap(ids)].sort()).toEqual([...expected].sort());
  });

  it('serves the current version of the remaining records and skips removed or no longer matching ones', async () => {
    const first = await graphGet(emulator, filterPath('riskDetections', "riskState eq 'atRisk'", '&$top=5'));
    const served = new Set(ids(first));
    const remaining = emulator.list('riskDetections').filter((r) => r.riskState === 'atRisk' && !served.has(r.id));
    const [removed, closed, changed] = remaining;
    emulator.remove('riskDetections', removed!.id);
    emulator.upsert('riskDetections', { ...closed!, riskState: 'dismissed' });
    emulator.upsert('riskDetections', { ...changed!, riskLevel: 'high', lastUpdatedDateTime: '2026-06-01T00:00:00.0000001Z' });
    const rest = (await getAllPages(emulator, first.body['@odata.nextLink'])).flatMap((p) => p.body.value as RiskDetection[]);
    const restIds = rest.map((r) => r.id);
    expect(restIds).not.toContain(removed!.id);
    expect(restIds).not.toContain(closed!.id);
    expect(rest.find((r) => r.id === changed!.id)).toMatchObject({ riskLevel: 'high', lastUpdatedDateTime: '2026-06-01T00:00:00.0000001Z' });
    expect(restIds).toHaveLength(remaining.length - 2);
  });

  it('answers 400 for expired, forged and foreign skip tokens', async () => {
    const first = await graphGet(emulator, `${DETECTIONS}?$top=10`);
    const link = first.body['@odata.nextLink'] as string;
    const token = new URL(link).searchParams.get('$skiptoken')!;

    const forged = link.replace(token, `${token.slice(0, -2)}xx`);
    expect(expectGraphError(await graphGet(emulator, forged), 400, 'BadRequest')).toMatch(/\$skiptoken/);
    const foreign = `${emulator.graphUrl}${USERS}?$skiptoken=${token}`;
    expectGraphError(await graphGet(emulator, foreign), 400, 'BadRequest');

    emulator.expireSkipTokens();
    expect(expectGraphError(await graphGet(emulator, link), 400, 'BadRequest')).toMatch(/\$skiptoken/);

    emulator.configure({ skipTokenTtlMs: 50 });
    const fresh = (await graphGet(emulator, `${DETECTIONS}?$top=10`)).body['@odata.nextLink'] as string;
    await sleep(80);
    expectGraphError(await graphGet(emulator, fresh), 400, 'BadRequest');
  });

  it('sometimes serves empty pages that still carry a next link', async () => {
    emulator.configure({ emptyPageProbability: 0.4 });
    emulator.resetStats();
    const pages = await getAllPages(emulator, `${DETECTIONS}?$top=20`);
    const empty = pages.filter((p) => p.body.value.length === 0);
    expect(empty.length).toBeGreaterThan(0);
    for (const page of empty) expect(page.body['@odata.nextLink']).toBeDefined();
    expect(new Set(pages.flatMap(ids)).size).toBe(137);
    expect(pages.flatMap(ids)).toHaveLength(137);
    expect(emulator.stats().emptyPagesServed).toBe(empty.length);
  });
});

describe('enum drift', () => {
  beforeEach(() => {
    emulator.upsert('riskDetections', [
      detection('new', {
        riskDetail: 'm365DAdminDismissedDetection',
        tokenIssuerType: 'AzureADBackupAuth',
        activity: 'servicePrincipal',
        riskState: 'dismissed',
      }),
      detection('old', { riskDetail: 'adminConfirmedSigninSafe', tokenIssuerType: 'AzureAD', activity: 'signin', riskLevel: 'hidden' }),
      detection('p2', { riskDetail: 'microsoftRevokedSessions' }),
    ]);
    emulator.upsert('riskyUsers', { id: 'u', riskDetail: 'adminConfirmedAccountSafe', riskState: 'confirmedSafe', riskLevel: 'none' });
  });
  const byId = (response: { body: { value: RiskDetection[] } }): Record<string, RiskDetection> =>
    Object.fromEntries(response.body.value.map((r) => [r.id, r]));

  it('hides members after unknownFutureValue unless Prefer: include-unknown-enum-members is sent', async () => {
    const plain = await graphGet(emulator, DETECTIONS);
    expect(plain.headers.get('preference-applied')).toBeNull();
    expect(byId(plain).new).toMatchObject({
      riskDetail: 'unknownFutureValue',
      tokenIssuerType: 'UnknownFutureValue',
      activity: 'unknownFutureValue',
    });
    expect(byId(plain).p2!.riskDetail).toBe('unknownFutureValue');
    expect(byId(plain).old).toMatchObject({ riskDetail: 'adminConfirmedSigninSafe', tokenIssuerType: 'AzureAD', riskLevel: 'hidden' });
    expect((await graphGet(emulator, USERS)).body.value[0].riskDetail).toBe('unknownFutureValue');

    const opted = await graphGet(emulator, DETECTIONS, { headers: { prefer: 'odata.maxpagesize=5, include-unknown-enum-members' } });
    expect(opted.headers.get('preference-applied')).toBe('include-unknown-enum-members');
    expect(byId(opted).new).toMatchObject({
      riskDetail: 'm365DAdminDismissedDetection',
      tokenIssuerType: 'AzureADBackupAuth',
      activity: 'servicePrincipal',
    });
    expect(byId(opted).p2!.riskDetail).toBe('microsoftRevokedSessions');
    expect((await graphGet(emulator, USERS, { headers: PREFER_UNKNOWN })).body.value[0].riskDetail).toBe('adminConfirmedAccountSafe');
  });

  it('applies the header of each request, next pages included', async () => {
    const first = await graphGet(emulator, `${DETECTIONS}?$top=1`, { headers: PREFER_UNKNOWN });
    const pages = await getAllPages(emulator, first.body['@odata.nextLink']); // without the header
    const details = [...first.body.value, ...pages.flatMap((p) => p.body.value)].map((r: RiskDetection) => r.riskDetail);
    const later = pages.flatMap((p) => p.body.value as RiskDetection[]).map((r) => r.riskDetail);
    expect(later.every((d) => d === 'unknownFutureValue' || d === 'adminConfirmedSigninSafe')).toBe(true);
    expect(details).toHaveLength(3);
  });

  it('list() and get() return raw values', () => {
    expect(emulator.get('riskDetections', 'new')!.riskDetail).toBe('m365DAdminDismissedDetection');
    expect(emulator.list('riskyUsers')[0]!.riskDetail).toBe('adminConfirmedAccountSafe');
  });
});

describe('data API', () => {
  it('normalizes timestamps to 7 digits, fills absent properties with null and keeps unknown properties', async () => {
    emulator.upsert('riskDetections', detection('x', { lastUpdatedDateTime: '2026-01-01T01:00:00.5+01:00', brandNewProperty: 'kept' }));
    const record = emulator.get('riskDetections', 'x')!;
    expect(record.lastUpdatedDateTime).toBe('2026-01-01T00:00:00.5000000Z');
    expect(record.ipAddress).toBeNull();
    expect(record.brandNewProperty).toBe('kept');
    expect((await graphGet(emulator, DETECTIONS)).body.value[0].brandNewProperty).toBe('kept');
    expect(() => emulator.upsert('riskDetections', detection('y', { detectedDateTime: 'yesterday' }))).toThrow(TypeError);
    expect(() => emulator.upsert('riskDetections', { id: '' })).toThrow(TypeError);
    expect(emulator.remove('riskDetections', 'x')).toBe(true);
    expect(emulator.remove('riskDetections', 'x')).toBe(false);
  });

  it('keeps its own copy of upserted records', () => {
    const record = detection('z');
    emulator.upsert('riskDetections', record);
    record.riskLevel = 'high';
    expect(emulator.get('riskDetections', 'z')!.riskLevel).toBe('low');
  });
});

describe('admin routes', () => {
  const post = (path: string, body?: unknown): Promise<Response> =>
    fetch(`${emulator.graphUrl}/_emulator/${path}`, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body) });

  it('switch throttling, faults, tokens, skip tokens and data from another process', async () => {
    expect(await json(post('throttling', { enabled: true, rps: 2 }))).toEqual({ enabled: true, rps: 2 });
    expect(emulator.throttling).toEqual({ enabled: true, rps: 2 });
    expect((await post('throttling', { rps: -1 })).status).toBe(400);
    await post('throttling', { enabled: false });

    const added = await json(post('faults', { add: [{ kind: 'status', status: 503, count: 1 }] }));
    expect(added.ids).toHaveLength(1);
    expect(emulator.faults.list()).toHaveLength(1);
    expect((await post('faults', { add: { kind: 'status', status: 200 } })).status).toBe(400);
    await post('faults', { clear: true });
    expect(emulator.faults.list()).toHaveLength(0);

    expect((await post('data/riskyUsers', { records: [{ id: 'remote', riskLevel: 'medium' }] })).status).toBe(200);
    expect(emulator.get('riskyUsers', 'remote')!.riskLevel).toBe('medium');
    expect((await post('data/nope', { records: [] })).status).toBe(404);

    const { access_token } = await json(post('token'));
    expect((await graphGet(emulator, USERS, { token: access_token })).status).toBe(200);
    await post('revoke');
    expect((await graphGet(emulator, USERS, { token: access_token })).status).toBe(401);

    const link = (await graphGet(emulator, `${USERS}?$top=1`)).body['@odata.nextLink'];
    expect(link).toBeUndefined(); // one user: no next link
    emulator.upsert('riskyUsers', { id: 'second' });
    const link2 = (await graphGet(emulator, `${USERS}?$top=1`)).body['@odata.nextLink'];
    await post('expire-skiptokens');
    expect((await graphGet(emulator, link2)).status).toBe(400);

    const stats = await json(fetch(`${emulator.graphUrl}/_emulator/stats`));
    expect(stats.requests.riskyUsers['200']).toBeGreaterThan(0);
    expect((await post('nope')).status).toBe(404);
    expect((await post('throttling', '{bad')).status).toBe(400);
  });
});
