import { HttpRequest } from '@azure/functions';
import { cellText, csvColumns, csvLines, wantsCsv } from '../../src/api/csv';
import { listFilters, listSpec, parseListQuery, tableFilter } from '../../src/api/list';
import { comparisons } from '../../src/api/query';
import { etagOf, matchesIfNoneMatch } from '../../src/api/snapshot';
import { httpFunctions } from '../../src/app/functions';
import { loadSettings } from '../../src/config/settings';
import { catalogOf, COLLECTIONS, DEFAULT_CATALOG, type CollectionDefinition } from '../../src/domain/collections';

/** The API's pure parts: negotiation, CSV cells, ETag matching, query parsing and the Table filter text. */
const TENANT = '5b0a4a4e-8d1c-4f7a-9e61-3c3f1e0d2a11';
const request = (query: string) => new HttpRequest({ method: 'GET', url: `http://localhost/api/snapshot/x?${query}` });

describe('httpFunctions', () => {
  it('declares snapshot, snapshotCollection and health with the configured auth levels', () => {
    const settings = loadSettings({
      AZURE_TENANT_ID: TENANT,
      TABLES_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      HTTP_AUTH_LEVEL: 'admin',
      HTTP_HEALTH_AUTH_LEVEL: 'anonymous',
    });
    const unused = () => {
      throw new Error('not used');
    };
    const fns = httpFunctions(settings, { sync: unused, readModel: unused });
    expect(fns.map((f) => [f.name, f.route, f.methods, f.authLevel])).toEqual([
      ['snapshot', 'snapshot', ['GET', 'HEAD'], 'admin'],
      ['snapshotCollection', 'snapshot/{collection}', ['GET', 'HEAD'], 'admin'],
      ['snapshotRecord', 'snapshot/{collection}/{id}', ['GET', 'HEAD'], 'admin'],
      ['snapshotHistory', 'snapshot/{collection}/{id}/history', ['GET', 'HEAD'], 'admin'],
      ['changes', 'changes', ['GET', 'HEAD'], 'admin'],
      ['health', 'health', ['GET', 'HEAD'], 'anonymous'],
    ]);
    const byDefault = httpFunctions(loadSettings({ AZURE_TENANT_ID: TENANT, TABLES_CONNECTION_STRING: 'UseDevelopmentStorage=true' }), {
      sync: unused,
      readModel: unused,
    });
    expect(byDefault.every((f) => f.authLevel === 'function' && f.kind === 'http')).toBe(true);
  });
});

describe('content negotiation', () => {
  it.each([
    [undefined, null, false],
    [undefined, 'text/csv', true],
    [undefined, 'text/*', true],
    [undefined, 'text/csv, */*', true],
    [undefined, 'application/json, text/csv', false],
    [undefined, 'application/json;q=0.5, text/csv', true],
    [undefined, 'text/csv;q=0', false],
    [undefined, 'TEXT/CSV', true],
    [undefined, 'text/*;q=0.5, application/json', false],
    [undefined, 'application/*, text/csv;q=0.9', false],
    [undefined, 'text/csv;q=0.9, application/json;q=0.9', true],
    [undefined, 'image/png', false],
    [undefined, ';;,,q=x/y', false],
    [undefined, '*/*', false],
    [undefined, 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', false],
    ['json', 'text/csv', false],
    ['csv', 'application/json', true],
  ] as const)('format=%s, Accept: %s -> csv %s', (format, accept, csv) => {
    expect(wantsCsv(format, accept)).toBe(csv);
  });
});

describe('CSV cells', () => {
  it('guards text that a spreadsheet would run as a formula, not numbers', () => {
    expect(cellText('=1+1')).toBe("'=1+1");
    expect(cellText('+33 1 23')).toBe("'+33 1 23");
    expect(cellText('-x')).toBe("'-x");
    expect(cellText('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(cellText('\tx')).toBe("'\tx");
    expect(cellText('plain')).toBe('plain');
    expect(cellText(-122.33)).toBe('-122.33');
    expect(cellText(false)).toBe('false');
    expect(cellText(null)).toBe('');
    expect(cellText(undefined)).toBe('');
  });

  it('quotes commas, quotes, CR and LF; CRLF between records', () => {
    expect(csvLines([['a,b', 'say "hi"', 'l1\nl2', 'r\rx', 'é']])).toBe('"a,b","say ""hi""","l1\nl2","r\rx",é\r\n');
  });

  it('flattens location into five columns', () => {
    const columns = csvColumns(COLLECTIONS.riskDetections);
    const record = { id: '1', location: { city: 'Oslo', state: null, countryOrRegion: 'NO', geoCoordinates: { latitude: 59.9, longitude: 10.7 } } };
    const cells = Object.fromEntries(columns.map((c) => [c.name, cellText(c.cell(record))]));
    expect(cells).toMatchObject({
      id: '1',
      locationCity: 'Oslo',
      locationState: '',
      locationCountryOrRegion: 'NO',
      locationLatitude: '59.9',
      locationLongitude: '10.7',
    });
    expect(columns.map((c) => c.name)).not.toContain('location');
    expect(csvColumns(COLLECTIONS.riskyUsers).map((c) => c.name)).toEqual(['id', ...Object.keys(COLLECTIONS.riskyUsers.columns)]);
  });
});

describe('ETag', () => {
  const etag = etagOf('{"a":1}');
  it.each([
    [null, false],
    [etag, true],
    ['*', true],
    [`"x", ${etag}`, true],
    [`W/${etag}`, true],
    ['"x"', false],
    ['', false],
  ])('If-None-Match %s -> %s', (header, match) => {
    expect(matchesIfNoneMatch(header, etag)).toBe(match);
  });
  it('is strong and changes with the body', () => {
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(etagOf('{"a":2}')).not.toBe(etag);
  });
});

describe('query -> Table filter', () => {
  it('scopes to the tenant and escapes every value', () => {
    const q = parseListQuery(
      'riskDetections',
      request(`userPrincipalName=${encodeURIComponent("x' or PartitionKey ne 'y")}&riskLevel=high,low,high`),
    );
    expect(tableFilter(q, TENANT)).toBe(
      `PartitionKey ge '${TENANT}_' and PartitionKey lt '${TENANT}\`' and (riskLevel eq 'high' or riskLevel eq 'low') and userPrincipalName eq 'x'' or PartitionKey ne ''y'`,
    );
    const users = parseListQuery(
      'riskyUsers',
      request('userId=6D4F2B8E-1C3A-4E5F-9A7B-0C1D2E3F4A5B&since=2024-05-01T02:00:00.5%2B02:00&until=2024-05-02T00:00:00.1234567Z'),
    );
    expect(tableFilter(users, TENANT)).toBe(
      `PartitionKey eq '${TENANT}' and RowKey eq '6d4f2b8e-1c3a-4e5f-9a7b-0c1d2e3f4a5b' and ` +
        `riskLastUpdatedDateTime ge datetime'2024-05-01T00:00:00.5000000Z' and riskLastUpdatedDateTime le datetime'2024-05-02T00:00:00.1234567Z'`,
    );
  });

  it('equivalent queries give the same filter (so a continuationToken fits both)', () => {
    const a = tableFilter(parseListQuery('riskyUsers', request('riskState=dismissed,atRisk&since=2024-05-01T00:00:00Z')), TENANT);
    const b = tableFilter(parseListQuery('riskyUsers', request('since=2024-05-01T02:00:00%2B02:00&riskState=atRisk,dismissed&top=5')), TENANT);
    expect(a).toBe(b);
  });

  it("reads an offset's unencoded + (a space after URL decoding) as +", () => {
    expect(parseListQuery('riskyUsers', request('since=2024-05-01T02:00:00+02:00')).since).toBe('2024-05-01T00:00:00.0000000Z');
    expect(() => parseListQuery('riskyUsers', request('since=2024-05-01T02:00:00++02:00'))).toThrow(/since must be/);
  });

  it('keeps within the 15 comparisons Table Storage allows per filter', () => {
    const all =
      'riskLevel=low,medium,high,hidden,none,unknownFutureValue&riskState=none,confirmedSafe,remediated,dismissed,atRisk,confirmedCompromised,unknownFutureValue';
    const q = parseListQuery('riskDetections', request(all));
    expect(comparisons(q, listSpec(COLLECTIONS.riskDetections))).toBe(15);
    expect(tableFilter(q, TENANT).match(/ (eq|ge|lt|le) /g)).toHaveLength(15);
    expect(() => parseListQuery('riskDetections', request(`${all}&since=2024-05-01T00:00:00Z`))).toThrow(
      /riskLevel and riskState list 13 values in all; with the other filters of this request they may list at most 12/,
    );
    const users = parseListQuery('riskyUsers', request(`${all}&since=2024-05-01T00:00:00Z`));
    expect(comparisons(users, listSpec(COLLECTIONS.riskyUsers))).toBe(15);
  });

  it('reads defaults: top 100, no format', () => {
    expect(parseListQuery('riskyUsers', request(''))).toEqual({ collection: 'riskyUsers', filters: {}, top: 100 });
    expect(parseListQuery('riskyUsers', request('top=1000&format=csv&code=abc'))).toEqual({
      collection: 'riskyUsers',
      filters: {},
      top: 1000,
      format: 'csv',
    });
  });
});

describe('filters come from the declaration', () => {
  const toy: CollectionDefinition = {
    ...COLLECTIONS.riskyUsers!,
    name: 'toyThings',
    path: '/identityProtection/toyThings',
    cursor: 'changedDateTime',
    partition: { by: 'tenant' },
    columns: { colour: 'string', owner: 'string', label: 'string', changedDateTime: 'datetime' },
    enums: { colour: ['red', 'green', 'blue'] },
    aggregateBy: [],
    tracked: [],
    apiFilters: [
      { name: 'colour', kind: 'enum' },
      { name: 'owner', kind: 'guid', column: 'owner' },
      { name: 'label', kind: 'text', column: 'label' },
    ],
    settingSuffix: 'TOY_THINGS',
    defaultTable: 'ToyThings',
    defaultChangesTable: undefined,
  };
  const catalog = catalogOf([...DEFAULT_CATALOG.collections, toy]);
  const toyRequest = (query: string) => parseListQuery('toyThings', request(query), catalog);

  it('accepts exactly the declared filters and writes them into the Table filter', () => {
    const q = toyRequest(`colour=red,blue&owner=6D4F2B8E-1C3A-4E5F-9A7B-0C1D2E3F4A5B&label=${encodeURIComponent("it's")}&since=2024-05-01T00:00:00Z`);
    expect(q.filters).toEqual({ colour: ['blue', 'red'], owner: ['6d4f2b8e-1c3a-4e5f-9a7b-0c1d2e3f4a5b'], label: ["it's"] });
    expect(tableFilter(q, TENANT, catalog)).toBe(
      `PartitionKey eq '${TENANT}' and (colour eq 'blue' or colour eq 'red') and owner eq '6d4f2b8e-1c3a-4e5f-9a7b-0c1d2e3f4a5b' and ` +
        `label eq 'it''s' and changedDateTime ge datetime'2024-05-01T00:00:00.0000000Z'`,
    );
    expect(() => toyRequest('colour=purple')).toThrow(/colour 'purple' is not accepted: use one of red, green, blue/);
    expect(() => toyRequest('owner=bob')).toThrow(/owner must be the owner value, a GUID/);
    expect(() => toyRequest('riskLevel=high')).toThrow(
      /unknown query parameter 'riskLevel': accepted parameters: colour, owner, label, since, until/,
    );
    expect(() => toyRequest('since=yesterday')).toThrow(/since must be an ISO 8601 .*\(compared with changedDateTime\)/);
  });

  it('an enum filter without declared values is a declaration error, not a filter that refuses everything', () => {
    expect(() => listFilters({ ...toy, enums: {} })).toThrow(/collection 'toyThings': the enum filter 'colour' needs its values/);
  });
});
