import { COLLECTIONS } from '../../src/domain/collections';
import {
  fromEntity,
  idOfRowKey,
  MAX_PROPERTIES,
  MAX_STRING_UNITS,
  OVERFLOW_COLUMN,
  rowKeyOf,
  toEntity,
  truncationMarker,
} from '../../src/store/entityMapping';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SYNCED = '2026-11-23T05:00:00.0000000Z';
const detections = COLLECTIONS.riskDetections;
const users = COLLECTIONS.riskyUsers;

const detection = {
  id: 'd52a631815aaa527bf642b196715da5cf0f35b6879204ea5b5c99b21bd4c16f4',
  requestId: '06f7fd18-b8f1-407d-86a3-f6cbe3a4be00',
  correlationId: '2a38abff-5701-4073-a81e-fd3aac09cba3',
  riskEventType: 'anonymizedIPAddress',
  riskState: 'atRisk',
  riskLevel: 'medium',
  riskDetail: 'none',
  source: 'IdentityProtection',
  detectionTimingType: 'realtime',
  activity: 'signin',
  tokenIssuerType: 'AzureAD',
  ipAddress: '178.17.170.23',
  activityDateTime: '2020-11-03T20:51:34.6245276Z',
  detectedDateTime: '2020-11-03T20:51:34.6245276Z',
  lastUpdatedDateTime: '2020-11-03T20:53:12.1984203Z',
  userId: 'e3835755-80b0-4b61-a1c0-5ea9ead75300',
  userDisplayName: "Seán O'Brien",
  userPrincipalName: "sean.o'brien@contoso.com",
  additionalInfo: '[{"Key":"userAgent","Value":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}]',
  location: { city: 'Chișinău', state: 'Chișinău', countryOrRegion: 'MD', geoCoordinates: { latitude: 47.0, longitude: 28.8575 } },
};

/** Writes then reads through the SDK's JSON shape: typed values come back as {value, type} objects. */
function stored(entity: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(entity));
}

describe('toEntity / fromEntity', () => {
  it('maps a risk detection to typed, flattened columns', () => {
    const { entity, cursor, aggregates, adjustments } = toEntity(detections, detection, TENANT, SYNCED);
    expect(entity.partitionKey).toBe(`${TENANT}_2020-11`);
    expect(entity.rowKey).toBe(detection.id);
    expect(entity.lastUpdatedDateTime).toEqual({ value: '2020-11-03T20:53:12.1984203Z', type: 'DateTime' });
    expect(entity.locationCity).toBe('Chișinău');
    expect(entity.locationCountryOrRegion).toBe('MD');
    expect(entity.locationLatitude).toEqual({ value: '47', type: 'Double' });
    expect(entity.locationLongitude).toEqual({ value: '28.8575', type: 'Double' });
    expect(entity.additionalInfo).toBe(detection.additionalInfo);
    expect(entity.tenantId).toBe(TENANT);
    expect(entity.syncedAt).toEqual({ value: SYNCED, type: 'DateTime' });
    expect(entity).not.toHaveProperty('location');
    expect(entity).not.toHaveProperty('id');
    expect(cursor).toBe('2020-11-03T20:53:12.1984203Z');
    expect(aggregates).toEqual({ riskLevel: 'medium', riskState: 'atRisk' });
    expect(adjustments).toEqual([]);
  });

  it('round-trips a detection exactly', () => {
    const { entity } = toEntity(detections, detection, TENANT, SYNCED);
    expect(fromEntity(detections, stored(entity))).toEqual(detection);
  });

  it('keeps a null location null and a null geoCoordinates null', () => {
    const noLocation = { ...detection, location: null };
    expect(fromEntity(detections, stored(toEntity(detections, noLocation, TENANT, SYNCED).entity))).toEqual(noLocation);
    const noGeo = { ...detection, location: { city: 'Oslo', state: null, countryOrRegion: 'NO', geoCoordinates: null } };
    expect(fromEntity(detections, stored(toEntity(detections, noGeo, TENANT, SYNCED).entity))).toEqual(noGeo);
  });

  it('types booleans and keeps riskyUser cursor; partition is the tenant', () => {
    const user = {
      id: 'e3835755-80b0-4b61-a1c0-5ea9ead75300',
      isDeleted: false,
      isProcessing: true,
      riskLastUpdatedDateTime: '2026-11-01T10:00:00.1234567Z',
      riskLevel: 'none',
      riskState: 'dismissed',
      riskDetail: 'adminDismissedAllRiskForUser',
      userDisplayName: 'Zoë Müller',
      userPrincipalName: 'zoe@contoso.com',
    };
    const mapped = toEntity(users, user, TENANT, SYNCED);
    expect(mapped.entity.partitionKey).toBe(TENANT);
    expect(mapped.entity.isDeleted).toBe(false);
    expect(mapped.entity.isProcessing).toBe(true);
    expect(mapped.cursor).toBe('2026-11-01T10:00:00.1234567Z');
    expect(fromEntity(users, stored(mapped.entity))).toEqual(user);
  });

  it('keeps properties Graph adds later, including unknown enum values', () => {
    const drifted = { ...detection, riskDetail: 'microsoftRevokedSessions', mitreTechniqueId: 'T1078', score: 0.75, flagged: true, tags: ['a', 'b'] };
    const { entity } = toEntity(detections, drifted, TENANT, SYNCED);
    expect(entity.riskDetail).toBe('microsoftRevokedSessions');
    expect(entity.mitreTechniqueId).toBe('T1078');
    expect(entity.score).toEqual({ value: '0.75', type: 'Double' });
    expect(entity.flagged).toBe(true);
    expect(entity.tags).toBe('["a","b"]');
    const back = fromEntity(detections, stored(entity));
    expect(back).toEqual({ ...drifted, tags: '["a","b"]' });
  });

  it('splits a string over the property limit and joins it back', () => {
    const huge = `[${Array.from({ length: 5000 }, (_, i) => `{"Key":"k${i}","Value":"ü${'x'.repeat(10)}"}`).join(',')}]`;
    expect(huge.length).toBeGreaterThan(2 * MAX_STRING_UNITS);
    const record = { ...detection, additionalInfo: huge };
    const { entity, adjustments } = toEntity(detections, record, TENANT, SYNCED);
    expect(adjustments.join()).toMatch(/additionalInfo has \d+ characters: split over \d+ columns/);
    for (const [, v] of Object.entries(entity)) if (typeof v === 'string') expect(v.length).toBeLessThanOrEqual(MAX_STRING_UNITS);
    expect(entity).toHaveProperty('additionalInfo_part3');
    expect(fromEntity(detections, stored(entity))).toEqual(record);
  });

  it('never splits a surrogate pair', () => {
    const emoji = '😀'.repeat(MAX_STRING_UNITS); // 2 units each
    const record = { ...detection, userDisplayName: emoji };
    const { entity } = toEntity(detections, record, TENANT, SYNCED);
    const first = entity.userDisplayName as string;
    const last = first.charCodeAt(first.length - 1);
    expect(last >= 0xd800 && last <= 0xdbff).toBe(false);
    expect(fromEntity(detections, stored(entity)).userDisplayName).toBe(emoji);
  });

  it('moves properties beyond the 252 limit into one overflow column', () => {
    const extra = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`extra${i}`, `v${i}`]));
    const record = { ...detection, ...extra };
    const { entity, adjustments } = toEntity(detections, record, TENANT, SYNCED);
    expect(Object.keys(entity).length - 2).toBeLessThanOrEqual(MAX_PROPERTIES);
    expect(entity[OVERFLOW_COLUMN]).toBeDefined();
    expect(entity.riskLevel).toBe('medium');
    expect(adjustments.join()).toMatch(/kept in overflowProperties/);
    expect(fromEntity(detections, stored(entity))).toEqual(record);
  });

  it("counts a long string's continuation columns against the 252 properties (Azure refuses a 253rd)", () => {
    // Found with the storage proxy's Azure limits: 245 new properties fitted, then two 70K strings added 4 part columns.
    const extra = Object.fromEntries(Array.from({ length: 245 }, (_, i) => [`extra${i}`, `v${i}`]));
    const record = { ...detection, ...extra, userDisplayName: 'n'.repeat(70_000), additionalInfo: 'i'.repeat(70_000) };
    const { entity } = toEntity(detections, record, TENANT, SYNCED);
    expect(Object.keys(entity).length - 2).toBeLessThanOrEqual(MAX_PROPERTIES);
    expect(entity.userDisplayName_part3).toBeDefined();
    expect(fromEntity(detections, stored(entity))).toEqual(record);
  });

  it('keeps an entity of CJK text under 1 MiB as UTF-8 JSON too (Azurite counts that for an update), cut with its marker', () => {
    const text = '漢字仮名'.repeat(125_000); // 500K characters: 1 MB as Azure counts, 1.5 MB in UTF-8
    const { entity, adjustments, bytes } = toEntity(detections, { ...detection, additionalInfo: text }, TENANT, SYNCED);
    expect(bytes).toBeLessThanOrEqual(1_000_000);
    expect(Buffer.byteLength(JSON.stringify(entity))).toBeLessThan(1024 * 1024);
    const back = fromEntity(detections, stored(entity)).additionalInfo as string;
    expect(back).toMatch(/…\[cut by entra-risk-sync: 500000 characters in all\]$/);
    expect(text.startsWith(back.slice(0, back.indexOf('…')))).toBe(true);
    expect(adjustments.join()).toMatch(/additionalInfo cut from 500000 to \d+ characters/);
  });

  it('cuts strings inside the overflow column when the overflow is what makes the record too large: it stays JSON', () => {
    // The last properties go to the overflow column, and they are the longest strings: they are the ones cut.
    const extra = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`extra${i}`, (i < 250 ? 'v' : 'w').repeat(i < 250 ? 1000 : 20_000)]));
    const record = { ...detection, ...extra };
    const { entity, adjustments } = toEntity(detections, record, TENANT, SYNCED);
    expect(Object.keys(entity).length - 2).toBeLessThanOrEqual(MAX_PROPERTIES);
    expect(adjustments.join()).toMatch(/overflowProperties\.extra2\d\d cut from 20000/);
    const back = fromEntity(detections, stored(entity)); // parses the overflow column
    let cut = 0;
    for (const [name, full] of Object.entries(extra)) {
      const value = back[name] as string;
      if (value === full) continue;
      const marker = truncationMarker(full.length);
      expect(value.endsWith(marker) && full.startsWith(value.slice(0, -marker.length))).toBe(true);
      cut++;
    }
    expect(cut).toBeGreaterThan(0);
    expect(back.riskLevel).toBe('medium');
  });

  it('stores names that are not valid column names in the overflow column', () => {
    const record = { ...detection, 'weird-name': 1, tenantId: 'graph-own-value' };
    const { entity } = toEntity(detections, record, TENANT, SYNCED);
    expect(entity.tenantId).toBe(TENANT);
    expect(fromEntity(detections, stored(entity))).toEqual(record);
  });

  it('escapes ids a RowKey can not hold, reversibly and without collisions', () => {
    for (const id of ['a/b', 'a#b?c\\d', '~x', 'tab\there', '100%']) {
      const key = rowKeyOf(id);
      expect(key).not.toMatch(/[/\\#?\t]/);
      expect(idOfRowKey(key)).toBe(id);
    }
    expect(rowKeyOf('plain-id')).toBe('plain-id');
    expect(rowKeyOf('~x')).not.toBe('~x');
    const { entity, adjustments } = toEntity(detections, { ...detection, id: 'a/b' }, TENANT, SYNCED);
    expect(adjustments.join()).toMatch(/RowKey/);
    expect(fromEntity(detections, stored(entity)).id).toBe('a/b');
  });

  it('stores a datetime column that is not a datetime as text', () => {
    const { entity, adjustments } = toEntity(detections, { ...detection, activityDateTime: 'soon' }, TENANT, SYNCED);
    expect(entity.activityDateTime).toBe('soon');
    expect(adjustments.join()).toMatch(/not a datetime/);
  });

  it("stores a datetime before 1601 (Graph's 0001-01-01 for 'never') as text, unchanged", () => {
    const { entity, adjustments, cursor } = toEntity(detections, { ...detection, activityDateTime: '0001-01-01T00:00:00Z' }, TENANT, SYNCED);
    expect(entity.activityDateTime).toBe('0001-01-01T00:00:00Z');
    expect(adjustments.join()).toMatch(/activityDateTime is before 1601.*stored as text/);
    expect(cursor).toBe('2020-11-03T20:53:12.1984203Z');
    expect(fromEntity(detections, stored(entity)).activityDateTime).toBe('0001-01-01T00:00:00Z');
  });

  it("keeps properties named like the Table SDK's own (rowKey, partitionKey, etag, timestamp) in the overflow column", () => {
    const record = { ...detection, rowKey: 'graph-row', partitionKey: 'graph-partition', etag: 'W/"1"', timestamp: '2020-01-01' };
    const { entity } = toEntity(detections, record, TENANT, SYNCED);
    expect(entity.rowKey).toBe(detection.id);
    expect(entity.partitionKey).toBe(`${TENANT}_2020-11`);
    expect(fromEntity(detections, stored(entity))).toEqual(record);
  });

  it('puts a record with no detection time in an undated partition and refuses a record without id', () => {
    expect(toEntity(detections, { ...detection, detectedDateTime: null }, TENANT, SYNCED).entity.partitionKey).toBe(`${TENANT}_undated`);
    expect(() => toEntity(detections, { ...detection, id: undefined }, TENANT, SYNCED)).toThrow(/no 'id'/);
  });
});

describe('sizes as Table Storage counts them', () => {
  const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  /** Table Storage's count: 4 bytes, keys in UTF-16, per property 8 bytes + name in UTF-16 + value (strings 4 + UTF-16). */
  const entitySize = (entity: Record<string, unknown>) =>
    Object.entries(entity).reduce((n, [name, value]) => {
      if (name === 'partitionKey' || name === 'rowKey') return n + 2 * String(value).length;
      const v = typeof value === 'string' ? 4 + 2 * value.length : typeof value === 'boolean' ? 1 : 8;
      return n + 8 + 2 * name.length + v;
    }, 4);

  it('keeps an entity under 1 MiB: the longest strings are cut, each with a marker giving its full length', () => {
    const record: Record<string, unknown> = { id: 'huge', detectedDateTime: '2026-10-10T00:00:00Z', lastUpdatedDateTime: '2026-10-10T00:00:00Z' };
    for (let i = 0; i < 40; i++) record[`note${i}`] = String.fromCharCode(65 + (i % 26)).repeat(30_000); // 40 x 60 KB in UTF-16: 2.4 MB
    const { entity, adjustments } = toEntity(COLLECTIONS.riskDetections, record, TENANT, '2026-11-23T00:00:00.0000000Z');
    expect(entitySize(entity as Record<string, unknown>)).toBeLessThanOrEqual(1024 * 1024);
    expect(adjustments.some((a) => /cut from \d+ to \d+ characters/.test(a))).toBe(true);
    const cut = Object.values(entity).filter((v) => typeof v === 'string' && v.includes('…[cut by entra-risk-sync: 30000 characters in all]'));
    expect(cut.length).toBeGreaterThan(0);
  });

  it('sizes the wire in UTF-8 bytes, type annotations included: CJK text counts three bytes a character', () => {
    const ascii = toEntity(COLLECTIONS.riskDetections, { id: 'a', userDisplayName: 'x'.repeat(10_000) }, TENANT, '2026-11-23T00:00:00.0000000Z');
    const cjk = toEntity(COLLECTIONS.riskDetections, { id: 'a', userDisplayName: '漢'.repeat(10_000) }, TENANT, '2026-11-23T00:00:00.0000000Z');
    expect(cjk.bytes - ascii.bytes).toBe(20_000);
    const json = (e: Record<string, unknown>) =>
      Buffer.byteLength(
        JSON.stringify(
          Object.fromEntries(
            Object.entries(e).flatMap(([k, v]) =>
              v && typeof v === 'object'
                ? [
                    [k, (v as { value: string }).value],
                    [`${k}@odata.type`, `Edm.${(v as { type: string }).type}`],
                  ]
                : [[k, v]],
            ),
          ),
        ),
      );
    expect(cjk.bytes).toBeGreaterThanOrEqual(json(cjk.entity as Record<string, unknown>));
    expect(cjk.bytes - json(cjk.entity as Record<string, unknown>)).toBeLessThan(64);
  });
});
