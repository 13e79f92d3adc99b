import { fixedServices } from '../../src/app/services';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { buildFunctions } from '../../src/app/functions';
import { startLocalHost } from '../../tools/host/localHost';
import { COLLECTIONS, type CollectionName } from '../../src/domain/collections';
import { normalizeDateTime } from '../../src/domain/datetime';
import { parseCsv } from '../api/helpers';
import { ALL_TABLES, quietLogger, type World } from './world';

/**
 * Hostile input to the HTTP API (the local host serving the app's functions over a world the real sync wrote):
 * generated paths, methods, raw query strings (known parameters with valid, odd, huge, unicode and injection values,
 * unknown and repeated parameters, broken percent-encoding), headers (Accept, If-None-Match, Host, huge values) and
 * continuation tokens (random, and valid ones altered). Never a 5xx; every row of a 200 is a row of the tenant that
 * satisfies the request's filters, as stored; when a list ends, it has every matching row; errors are JSON that leaks
 * nothing; the stored data is the same afterwards.
 */
export interface HttpResult {
  seed: number;
  requests: number;
  statuses: Record<string, number>;
  violations: string[];
}

interface Request {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const LEVELS = COLLECTIONS.riskDetections.enums.riskLevel;
const STATES = COLLECTIONS.riskDetections.enums.riskState;
const INJECTIONS = [
  "x' or PartitionKey ne 'y",
  "' or 1 eq 1 or '",
  "x') or (PartitionKey ne '",
  'high or riskLevel ne null',
  "high' or RowKey gt '",
  '$filter=PartitionKey ne null',
  '*',
  '%27%20or%20true',
  '\\u0027',
];
const ODD_PATHS = [
  '/api/snapshot/RISKYUSERS',
  '/api/snapshot/riskDetections/',
  '/api/snapshot//riskyUsers',
  '/api/snapshot/%72iskyUsers',
  '/api/snapshot/%zz',
  '/api/snapshot/%E0%A4%A',
  '/api/snapshot/..%2F..%2Fhealth',
  '/api/snapshot/riskDetections/extra',
  '/api/SNAPSHOT',
  '/api/Health',
  '/api/snapshot/signIns',
  '/api/snapshot/%00',
  '/api/../api/health',
  '/api',
  '/api/',
  '/',
  '/api/snapshot/__proto__',
  '/api/snapshot/constructor',
  '/api/snapshot/hasOwnProperty',
  `/api/snapshot/${'a'.repeat(3000)}`,
];

export async function runHttp(world: World, seed: number, numRuns: number): Promise<HttpResult> {
  const result: HttpResult = { seed, requests: 0, statuses: {}, violations: [] };
  const label = `seed ${seed} http`;
  const service = world.service();
  const tenant = world.tenantId;

  // What the API must serve: the tenant's stored rows (the fault runs already checked them against Graph).
  const expected: Record<CollectionName, Record<string, unknown>[]> = {
    riskDetections: await world.stored('riskDetections'),
    riskyUsers: await world.stored('riskyUsers'),
  };
  // Rows of other tenants, and keys next to ours, in the same tables: the API must never serve them.
  const foreign = {
    riskLevel: 'high',
    riskState: 'atRisk',
    userPrincipalName: "donal.o'brien@contoso.com",
    userId: '00000000-0000-0000-0000-000000000001',
  };
  await world.direct('RiskDetections').upsertEntity({ partitionKey: '00000000-0000-0000-0000-000000000000_2024-01', rowKey: 'foreign1', ...foreign });
  await world.direct('RiskDetections').upsertEntity({ partitionKey: `${tenant}a`, rowKey: 'foreign2', ...foreign });
  await world.direct('RiskyUsers').upsertEntity({ partitionKey: `${tenant}_x`, rowKey: 'foreign4', ...foreign });
  await world.direct('RiskyUsers').upsertEntity({ partitionKey: 'zzzz', rowKey: '00000000-0000-0000-0000-000000000001', ...foreign });

  const byId = (c: CollectionName) => new Map(expected[c].map((r) => [String(r.id), r]));
  const index = { riskDetections: byId('riskDetections'), riskyUsers: byId('riskyUsers') };
  const before = await tableHash(world);

  const host = await startLocalHost({ functions: buildFunctions(service.settings, fixedServices(service)), port: 0, log: quietLogger });
  try {
    const base = new URL(host.url);
    const send = (r: Request) => request(base, r);
    // Tokens and an ETag the API really issued, to alter.
    const seeds = await harvest(send);

    const upns = [...new Set(expected.riskDetections.map((d) => d.userPrincipalName).filter((u): u is string => typeof u === 'string'))].slice(0, 12);
    const userIds = [...new Set(expected.riskDetections.map((d) => d.userId).filter((u): u is string => typeof u === 'string'))].slice(0, 8);
    const cursors = expected.riskDetections.map((d) => String(d.lastUpdatedDateTime)).sort();
    const arbitrary = requestArbitrary({ upns, userIds, cursors, tokens: seeds.tokens, etag: seeds.etag });
    const samples = fc.sample(arbitrary, { numRuns, seed });

    for (const r of samples) {
      const answer = await send(r).catch(
        (e: Error & { code?: string }) => ({ status: 0, headers: {}, body: `${e.code ?? ''} ${e.message}` }) as Answer,
      );
      // Requests Node's client refuses to send (a header value it deems invalid) are not requests the API saw.
      if (answer.status === 0 && /ERR_INVALID_CHAR|ERR_INVALID_HTTP_TOKEN|ERR_UNESCAPED_CHARACTERS/.test(answer.body)) continue;
      result.requests++;
      result.statuses[answer.status] = (result.statuses[answer.status] ?? 0) + 1;
      const problems = check(r, answer, expected, index, seeds.healthy);
      if (problems.length === 0 && answer.status === 200 && isList(r) && r.method === 'GET' && !isCsv(answer) && result.requests % 4 === 0) {
        problems.push(...(await followToEnd(send, r, answer, expected, index)));
      }
      for (const p of problems) result.violations.push(`${label}: ${describe(r)} -> ${answer.status}: ${p}`);
      if (result.violations.length > 20) break;
    }
  } finally {
    await host.close();
  }
  const after = await tableHash(world);
  if (after !== before) result.violations.push(`${label}: the stored data changed while serving the requests`);
  return result;
}

function isList(r: Request): boolean {
  return /^\/api\/snapshot\/(riskDetections|riskyUsers)$/i.test(r.path);
}

function isCsv(a: Answer): boolean {
  return String(a.headers['content-type'] ?? '').startsWith('text/csv');
}

/** Requests once: a healthy check, a snapshot ETag, continuation tokens of a few queries. */
async function harvest(send: (r: Request) => Promise<Answer>) {
  const tokens: string[] = [];
  for (const query of ['top=3', 'top=5&riskLevel=high', 'top=2&riskState=atRisk,dismissed', 'top=1']) {
    for (const c of ['riskDetections', 'riskyUsers']) {
      const a = await send({ method: 'GET', path: `/api/snapshot/${c}`, query, headers: {} });
      const next = a.status === 200 ? (JSON.parse(a.body) as { '@odata.nextLink'?: string })['@odata.nextLink'] : undefined;
      const token = next && new URL(next, 'http://127.0.0.1').searchParams.get('continuationToken'); // a relative link
      if (token) tokens.push(token);
    }
  }
  const snapshot = await send({ method: 'GET', path: '/api/snapshot', query: '', headers: {} });
  const health = await send({ method: 'GET', path: '/api/health', query: '', headers: {} });
  return { tokens: tokens.length > 0 ? tokens : ['eyJ2IjoxfQ'], etag: String(snapshot.headers.etag ?? '"none"'), healthy: health.status === 200 };
}

interface Pools {
  upns: string[];
  userIds: string[];
  cursors: string[];
  tokens: string[];
  etag: string;
}

function requestArbitrary(pools: Pools): fc.Arbitrary<Request> {
  const text = fc.string({ unit: 'grapheme', maxLength: 40 });
  const huge = fc.tuple(fc.constantFrom('a', 'é', '%', "'", ',', '9', 'high,'), fc.integer({ min: 1000, max: 20_000 })).map(([c, n]) => c.repeat(n));
  const cursor = fc.constantFrom(...(pools.cursors.length ? pools.cursors : ['2025-01-01T00:00:00.0000000Z']));
  const stamp = fc.oneof(
    cursor,
    cursor.map((c) => c.slice(0, 19) + 'Z'),
    cursor.map((c) => `${c.slice(0, 19)}+02:00`),
    cursor.map((c) => `${c.slice(0, 19)} 02:00`), // a + that arrived as a space
    fc.date({ min: new Date('1500-01-01'), max: new Date('9999-12-31'), noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom(
      '1601-01-01T00:00:00Z',
      '9999-12-31T23:59:59.9999999Z',
      '2024-02-30T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2024-02-29T00:00:00Z',
      '2024-05-01',
      'now',
      '0',
      '2024-05-01T00:00:00+14:59',
      '2024-05-01T00:00:00-24:00',
      '+002024-05-01T00:00:00Z',
      '2024-05-01T00:00:00.12345678Z',
    ),
  );
  const levels = fc.subarray([...LEVELS, 'someFutureLevel', 'HIGH', ''], { minLength: 1 }).map((a) => a.join(','));
  const states = fc.subarray([...STATES, 'AtRisk', ''], { minLength: 1 }).map((a) => a.join(','));
  const mutatedToken = fc
    .tuple(fc.constantFrom(...pools.tokens), fc.nat(), fc.constantFrom('flip', 'cut', 'append', 'swap', 'resign', 'double'))
    .map(([t, n, how]) => {
      const i = n % t.length;
      switch (how) {
        case 'flip':
          return t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
        case 'cut':
          return t.slice(0, i);
        case 'append':
          return `${t}AAAA`;
        case 'double':
          return t + t;
        case 'swap': {
          const json = JSON.parse(Buffer.from(t, 'base64url').toString()) as Record<string, unknown>;
          json.c = Buffer.from(JSON.stringify({ nextPartitionKey: 'zzzz', nextRowKey: '' })).toString('base64');
          return Buffer.from(JSON.stringify(json)).toString('base64url');
        }
        default: {
          const json = JSON.parse(Buffer.from(t, 'base64url').toString()) as Record<string, unknown>;
          json.s = createHash('sha256').update(String(n)).digest('base64url');
          return Buffer.from(JSON.stringify(json)).toString('base64url');
        }
      }
    });
  const values: Record<string, fc.Arbitrary<string>> = {
    riskLevel: fc.oneof({ weight: 5, arbitrary: levels }, text, fc.constantFrom(...INJECTIONS), huge),
    riskState: fc.oneof({ weight: 5, arbitrary: states }, text, fc.constantFrom(...INJECTIONS)),
    userId: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...(pools.userIds.length ? pools.userIds : ['x'])) },
      fc.constantFrom(...pools.userIds.map((u) => u.toUpperCase()), '00000000-0000-0000-0000-000000000001'),
      fc.uuid(),
      text,
      fc.constantFrom(...INJECTIONS),
    ),
    userPrincipalName: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...(pools.upns.length ? pools.upns : ['x'])) },
      text,
      fc.constantFrom(...INJECTIONS, "donal.o'brien@contoso.com", '\u0000', 'a\nb'),
      huge,
    ),
    since: stamp,
    until: stamp,
    top: fc.oneof(
      fc.integer({ min: -5, max: 1100 }).map(String),
      fc.constantFrom('0', '01', '1e3', ' 5', '5 ', '1.0', '99999999999', 'NaN', '0x10', ''),
    ),
    format: fc.constantFrom('json', 'csv', 'CSV', '', 'xml', 'csv,json'),
    continuationToken: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...pools.tokens) },
      { weight: 3, arbitrary: mutatedToken },
      fc.base64String({ maxLength: 200 }),
      text,
      huge,
    ),
    code: text,
  };
  const knownName = fc.constantFrom(...Object.keys(values));
  const pair = fc.oneof(
    { weight: 8, arbitrary: knownName.chain((name) => values[name]!.map((v) => `${enc(name)}=${enc(v)}`)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('risklevel', 'RiskLevel', 'TOP', '$filter', '$top', 'filter', 'skip', '__proto__', 'constructor', 'userid'), text)
        .map(([n, v]) => `${enc(n)}=${enc(v)}`),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '%',
        '%zz',
        '%00',
        '&&',
        '=',
        'a=b=c',
        '%E0%A4%A',
        '+',
        ';',
        'riskLevel',
        'riskLevel=',
        '=high',
        'top=%31%30',
        'riskLevel=high%2Clow',
        'riskLevel=high&riskLevel=low',
        'since=2024-05-01T00:00:00+02:00',
      ),
    },
  );
  const query = fc.array(pair, { maxLength: 6 }).map((pairs) => pairs.join('&'));
  const path = fc.oneof(
    { weight: 5, arbitrary: fc.constant('/api/snapshot/riskDetections') },
    { weight: 4, arbitrary: fc.constant('/api/snapshot/riskyUsers') },
    { weight: 2, arbitrary: fc.constant('/api/snapshot') },
    { weight: 1, arbitrary: fc.constant('/api/health') },
    { weight: 1, arbitrary: fc.constantFrom(...ODD_PATHS) },
  );
  const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
  const headers = fc.record(
    {
      accept: fc.oneof(
        fc.constantFrom(
          'text/csv',
          'application/json',
          '*/*',
          'text/*;q=0.5, application/json',
          'text/csv;q=0',
          'text/csv;q=abc',
          'text/csv;q=1e309',
          'text/csv, application/json;q=0.9',
          '',
        ),
        headerValue,
        fc.constant(`text/csv;${'q=1;'.repeat(2000)}`),
      ),
      'if-none-match': fc.oneof(fc.constantFrom(pools.etag, `W/${pools.etag}`, '*', `"x", ${pools.etag}`, '""', ',,,', 'W/'), headerValue),
      // Mostly hosts the host serves; the others are a 400 (never a 500, never a URL built from them).
      host: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom('localhost', '127.0.0.1', 'xn--nxasmq6b', '[::1]:7071') },
        {
          weight: 1,
          arbitrary: fc.constantFrom('exa mple', '[', 'a:b:c', '::1', '', '127.0.0.1:99999', '%zz', '127.0.0.1:7071@evil.example', '[::1'),
        },
      ),
      'x-functions-key': headerValue,
      range: fc.constantFrom('bytes=0-10', 'rows=1-2', 'junk'),
      'content-type': fc.constantFrom('application/json', 'text/csv', 'multipart/form-data; boundary=x'),
      cookie: headerValue,
      'x-huge': fc.integer({ min: 1000, max: 12_000 }).map((n) => 'h'.repeat(n)),
    },
    { requiredKeys: [] },
  );
  const method = fc.oneof(
    { weight: 10, arbitrary: fc.constant('GET') },
    { weight: 2, arbitrary: fc.constant('HEAD') },
    { weight: 1, arbitrary: fc.constantFrom('POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS') },
  );
  return fc.record({ method, path, query, headers });
}

/** Percent-encodes a value, lone surrogates included (as the replacement character, as a browser would). */
function enc(value: string): string {
  return encodeURIComponent(value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));
}

const BODY = '{"riskLevel":"high"}';

function request(base: URL, r: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        agent: false, // a connection per request: a reset is this request's own answer
        method: r.method,
        path: r.path + (r.query ? `?${r.query}` : ''),
        // A body is framed (Node sends none for DELETE and OPTIONS otherwise: the server would read it as the next request).
        headers: { ...r.headers, ...(r.method === 'GET' || r.method === 'HEAD' ? {} : { 'content-length': String(Buffer.byteLength(BODY)) }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.end(r.method === 'GET' || r.method === 'HEAD' ? undefined : BODY);
  });
}

function headerBytes(r: Request): number {
  const line = Buffer.byteLength(`${r.method} ${r.path}${r.query ? `?${r.query}` : ''} HTTP/1.1\r\n`);
  return line + Object.entries(r.headers).reduce((n, [k, v]) => n + Buffer.byteLength(`${k}: ${v}\r\n`), 0);
}

/** The parameters as the API reads them (URLSearchParams), when each is given once. */
function paramsOf(r: Request): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(r.query)) out.set(k, v);
  return out;
}

const LEAKS = [/AccountKey/i, /DefaultEndpointsProtocol/i, /\n\s+at /, /node_modules/, /\/work\//, /Eby8vdM02/, /evil\.example/];

function check(
  r: Request,
  a: Answer,
  expected: Record<CollectionName, Record<string, unknown>[]>,
  index: Record<CollectionName, Map<string, Record<string, unknown>>>,
  healthy: boolean,
): string[] {
  const problems: string[] = [];
  // Past Node's limit on the request line and headers (16 KiB), the server refuses with 431 or closes the connection.
  const oversized = headerBytes(r) > http.maxHeaderSize - 256;
  if (oversized && (a.status === 0 || a.status === 431)) return [];
  if (a.status === 0) return [`no answer: ${a.body}`];
  const isHealth = /^\/api\/health$/i.test(r.path);
  if (a.status >= 500 && !(isHealth && a.status === 503 && !healthy)) problems.push(`a ${a.status}: ${a.body.slice(0, 200)}`);
  for (const leak of LEAKS) if (leak.test(a.body)) problems.push(`the answer leaks ${leak}: ${a.body.slice(0, 200)}`);
  if (r.method === 'HEAD' && a.body.length > 0) problems.push('HEAD answered with a body');
  if (a.status >= 400 && r.method !== 'HEAD' && a.body.length > 0) {
    try {
      const error = (JSON.parse(a.body) as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof error?.code !== 'string' || typeof error.message !== 'string')
        problems.push(`an error body without code and message: ${a.body.slice(0, 200)}`);
    } catch {
      problems.push(`an error body that is not JSON: ${a.body.slice(0, 200)}`);
    }
  }
  if (a.status === 304 && !/^\/api\/snapshot$/i.test(r.path)) problems.push('a 304 outside the summary');
  if (a.status !== 200 || r.method !== 'GET') return problems;

  const m = /^\/api\/snapshot\/(riskDetections|riskyUsers)$/i.exec(r.path);
  if (!m) return problems;
  const collection: CollectionName = m[1]!.toLowerCase() === 'riskdetections' ? 'riskDetections' : 'riskyUsers';
  const params = paramsOf(r);
  const matches = filterOf(collection, params, problems);
  if (!matches) return problems;
  const want = expected[collection].filter(matches);
  if (isCsv(a)) {
    const ids = parseCsv(a.body)
      .slice(1)
      .map((row) => row[0] ?? '');
    for (const id of ids) {
      const record = index[collection].get(id.replace(/^'/, ''));
      if (!record) problems.push(`CSV row ${JSON.stringify(id).slice(0, 60)} is not a stored record of the tenant`);
      else if (!matches(record)) problems.push(`CSV row ${JSON.stringify(id).slice(0, 60)} does not satisfy the filter`);
    }
    if (!params.has('continuationToken') && new Set(ids).size !== want.length)
      problems.push(`CSV has ${new Set(ids).size} rows, ${want.length} match`);
    return problems;
  }
  let body: { value?: Record<string, unknown>[]; '@odata.nextLink'?: string };
  try {
    body = JSON.parse(a.body);
  } catch {
    return [...problems, `a 200 that is not JSON: ${a.body.slice(0, 100)}`];
  }
  if (!Array.isArray(body.value)) return [...problems, 'a 200 without a value array'];
  const seen = new Set<string>();
  for (const item of body.value) {
    const id = String(item.id);
    if (seen.has(id)) problems.push(`id ${id.slice(0, 40)} twice in one page`);
    seen.add(id);
    const record = index[collection].get(id);
    if (!record) problems.push(`row ${JSON.stringify(id).slice(0, 60)} is not a stored record of the tenant (leak)`);
    else if (!isDeepStrictEqual(item, record)) problems.push(`row ${id.slice(0, 40)} differs from the stored record`);
    else if (!matches(record)) problems.push(`row ${id.slice(0, 40)} does not satisfy the filter`);
  }
  const top = Number(params.get('top') ?? 100);
  if (!body['@odata.nextLink'] && !params.has('continuationToken') && body.value.length !== Math.min(top, want.length)) {
    problems.push(`the last page has ${body.value.length} rows, ${Math.min(top, want.length)} match`);
  }
  return problems;
}

/** The filter of an accepted request, as documented (docs/api.md); undefined when a value can not be read back. */
function filterOf(
  collection: CollectionName,
  params: Map<string, string>,
  problems: string[],
): ((r: Record<string, unknown>) => boolean) | undefined {
  const cursorName = COLLECTIONS[collection].cursor;
  const dt = (name: string) => {
    const raw = params.get(name);
    if (raw === undefined) return undefined;
    const v = normalizeDateTime(raw.replace(/ (\d{2}:\d{2})$/, '+$1'));
    if (!v) problems.push(`${name}=${raw} was accepted but is not a date-time`);
    return v?.slice(0, 23); // Azurite compares datetimes to the millisecond
  };
  const since = dt('since');
  const until = dt('until');
  const levels = params.get('riskLevel')?.split(',');
  const states = params.get('riskState')?.split(',');
  for (const [name, list, accepted] of [
    ['riskLevel', levels, LEVELS],
    ['riskState', states, STATES],
  ] as const) {
    for (const v of list ?? []) if (!(accepted as readonly string[]).includes(v)) problems.push(`${name} value '${v}' was accepted`);
  }
  const userId = params.get('userId')?.toLowerCase();
  const upn = params.get('userPrincipalName');
  const top = params.get('top');
  if (top !== undefined && !(/^\d+$/.test(top) && Number(top) >= 1 && Number(top) <= 1000)) problems.push(`top=${top} was accepted`);
  return (r) => {
    const cursor = String(r[cursorName] ?? '').slice(0, 23);
    if (levels && !levels.includes(String(r.riskLevel))) return false;
    if (states && !states.includes(String(r.riskState))) return false;
    if (userId !== undefined && userId !== String(collection === 'riskyUsers' ? r.id : r.userId)) return false;
    if (upn !== undefined && upn !== r.userPrincipalName) return false;
    if (since && cursor < since) return false;
    if (until && cursor > until) return false;
    return true;
  };
}

/** Follows the nextLinks of an accepted list to the end: every matching row exactly once. */
async function followToEnd(
  send: (r: Request) => Promise<Answer>,
  r: Request,
  first: Answer,
  expected: Record<CollectionName, Record<string, unknown>[]>,
  index: Record<CollectionName, Map<string, Record<string, unknown>>>,
): Promise<string[]> {
  const params = paramsOf(r);
  if (params.has('continuationToken')) return [];
  const collection: CollectionName = /riskdetections/i.test(r.path) ? 'riskDetections' : 'riskyUsers';
  const problems: string[] = [];
  const matches = filterOf(collection, params, problems)!;
  const want = expected[collection]
    .filter(matches)
    .map((x) => String(x.id))
    .sort();
  const got: string[] = [];
  let answer = first;
  for (let pages = 0; ; pages++) {
    const body = JSON.parse(answer.body) as { value: Record<string, unknown>[]; '@odata.nextLink'?: string };
    got.push(...body.value.map((x) => String(x.id)));
    const next = body['@odata.nextLink'];
    if (!next || pages > 2000) break;
    const url = new URL(next, 'http://127.0.0.1'); // relative: no API_PUBLIC_BASE_URL
    const nextRequest: Request = { method: 'GET', path: r.path, query: url.search.slice(1), headers: {} };
    answer = await send(nextRequest);
    if (answer.status !== 200) return [`following the nextLink answered ${answer.status}: ${answer.body.slice(0, 200)}`];
    problems.push(...check(nextRequest, answer, expected, index, true).map((p) => `next page: ${p}`));
  }
  got.sort();
  if (!isDeepStrictEqual(got, want)) problems.push(`paging to the end gave ${got.length} rows (${new Set(got).size} distinct), ${want.length} match`);
  return problems;
}

/** A hash of every row of the suite's tables (the API's signing key excepted). */
export async function tableHash(world: World): Promise<string> {
  const hash = createHash('sha256');
  for (const name of ALL_TABLES) {
    const rows: string[] = [];
    try {
      for await (const row of world.direct(name).listEntities({ disableTypeConversion: true } as never)) {
        const { etag: _etag, ...rest } = row as Record<string, unknown>;
        if (rest.partitionKey === '_api') continue;
        rows.push(JSON.stringify(rest));
      }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    hash.update(`${name}\n${rows.sort().join('\n')}\n`);
  }
  return hash.digest('hex');
}

function describe(r: Request): string {
  const headers = Object.entries(r.headers).map(([k, v]) => `${k}: ${v.length > 40 ? `${v.slice(0, 37)}...(${v.length})` : v}`);
  const query = r.query.length > 200 ? `${r.query.slice(0, 197)}...(${r.query.length})` : r.query;
  return `${r.method} ${r.path.length > 80 ? `${r.path.slice(0, 77)}...` : r.path}${query ? `?${query}` : ''}${headers.length ? ` [${headers.join('; ')}]` : ''}`;
}
