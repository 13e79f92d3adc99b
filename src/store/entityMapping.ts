import { createHash } from 'node:crypto';
import { countedValue } from '../domain/aggregates';
import type { TableEntity } from '@azure/data-tables';
import type { CollectionDefinition } from '../domain/collections';
import { normalizeDateTime } from '../domain/datetime';
import type { GraphRecord } from '../domain/collection';

/**
 * Graph record <-> Table entity. Columns carry the Graph property names; datetimes are typed Edm.DateTime with
 * Graph's 7 digits kept, booleans typed, `location` flattened, unknown properties kept. A record that does not fit
 * Table Storage as it is (a string over 32K UTF-16 units, too many properties, a key with forbidden characters) is
 * stored losslessly in a documented way and reported as `adjusted` (a long string's continuation columns count
 * against the 252 properties); only a record too large for one entity (1 MiB as Table Storage counts it, or as UTF-8
 * JSON, which Azurite counts) loses data: its longest strings are cut, each ending with a marker that gives its full
 * length (strings kept in the overflow column are cut inside it). Every row carries `recordHash`, a fingerprint of the record as Graph served it, so a record read again as it
 * is stored is recognized without comparing its columns.
 */

export type EntityValue = string | boolean | { value: string; type: 'DateTime' | 'Double' | 'Int64' };
export type Entity = TableEntity<Record<string, EntityValue>>;

export interface MappedRecord {
  entity: Entity;
  /** The record's cursor value (normalized), if it has one. */
  cursor?: string;
  /** Values of the collection's aggregate columns ('(none)' when absent). */
  aggregates: Record<string, string>;
  /** Why the record had to be stored differently from the plain mapping (empty when it fits as it is). */
  adjustments: string[];
  /** The entity's size in a transaction's body as sent: UTF-8 JSON bytes, names, escapes and type annotations included. */
  bytes: number;
  /** Fingerprint of the record as Graph served it (equal for equal records). */
  hash: string;
  /** The record's tracked properties (the collection's change table records their changes). */
  tracked: Record<string, string | null>;
  /** The record as Graph served it (for the quarantine, should Table Storage refuse the row). */
  raw: GraphRecord;
}

/** The longest string a property may hold (64 KiB of UTF-16), with room to spare. */
export const MAX_STRING_UNITS = 32_000;
/** Table Storage allows 252 properties besides PartitionKey, RowKey and Timestamp. */
export const MAX_PROPERTIES = 252;
/** An entity may hold 1 MiB as Table Storage counts it (strings in UTF-16), and as UTF-8 JSON for Azurite; we stay a little under. */
export const MAX_ENTITY_BYTES = 1_000_000;

/** Suffix of the extra columns a long string continues in: `additionalInfo`, `additionalInfo_part2`, ... */
const PART = '_part';
/** JSON object of the properties that could not be stored as columns of their own. */
export const OVERFLOW_COLUMN = 'overflowProperties';
/** Columns we add to every row. */
export const SYNC_COLUMNS = ['tenantId', 'syncedAt', 'recordHash'] as const;

const LOCATION_COLUMNS = {
  city: 'locationCity',
  state: 'locationState',
  countryOrRegion: 'locationCountryOrRegion',
} as const;
const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
// partitionKey, rowKey, etag, timestamp: names the Table SDK gives a meaning of its own (keys, metadata) on write or read.
const RESERVED = new Set([
  'PartitionKey',
  'RowKey',
  'Timestamp',
  'partitionKey',
  'rowKey',
  'etag',
  'timestamp',
  'odata',
  ...SYNC_COLUMNS,
  OVERFLOW_COLUMN,
]);
const KEY_UNSAFE = /[/\\#?%\u0000-\u001f\u007f-\u009f]/g;

/** RowKey of a Graph id: the id itself, or `~` + the id with unsafe characters percent-escaped. */
export function rowKeyOf(id: string): string {
  if (!id.startsWith('~') && !KEY_UNSAFE.test(id)) return id;
  KEY_UNSAFE.lastIndex = 0;
  return `~${id.replace(/[~/\\#?%\u0000-\u001f\u007f-\u009f]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`;
}

export function idOfRowKey(rowKey: string): string {
  return rowKey.startsWith('~') ? rowKey.slice(1).replace(/%([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : rowKey;
}

export function partitionKeyOf(collection: CollectionDefinition, tenantId: string, record: GraphRecord): string {
  const scheme = collection.partition;
  return partitionOf(
    collection,
    tenantId,
    scheme.by === 'month' ? normalizeDateTime(record[scheme.property]) : scheme.by === 'property' ? record[scheme.property] : undefined,
  );
}

/**
 * The PartitionKey: `<tenantId>`; `<tenantId>_<yyyy-MM>` of a normalized datetime (`_undated` without one); or
 * `<tenantId>_<value>` with the value escaped as a RowKey is (a PartitionKey can not hold `/ \ # ?` either).
 */
function partitionOf(collection: CollectionDefinition, tenantId: string, value: unknown): string {
  const scheme = collection.partition;
  if (scheme.by === 'tenant') return tenantId;
  if (scheme.by === 'month') return `${tenantId}_${typeof value === 'string' && value ? value.slice(0, 7) : 'undated'}`;
  return `${tenantId}_${rowKeyOf(String(value ?? ''))}`;
}

/** Table Storage's Edm.DateTime starts in 1601; Graph prints 0001-01-01T00:00:00Z for "never". */
const EARLIEST_TABLE_DATETIME = '1601-01-01T00:00:00.0000000Z';

export function toEntity(collection: CollectionDefinition, record: GraphRecord, tenantId: string, syncedAt: string): MappedRecord {
  const id = record[collection.key];
  if (typeof id !== 'string' || id === '') throw new Error(`a ${collection.name} record has no '${collection.key}'`);
  const adjustments: string[] = [];
  const rowKey = rowKeyOf(id);
  if (rowKey !== id) adjustments.push('the id has characters a RowKey cannot hold: RowKey is ~ + the escaped id');
  // The columns go straight into the entity: copying them into it afterwards costs more than all the mapping.
  const entity = { partitionKey: '', rowKey } as Entity;
  const columns = entity as Record<string, EntityValue>;
  const overflow: Record<string, unknown> = {};
  /** Normalized values of the datetime columns (each parsed once: the cursor and the partition use them too). */
  const datetimes: Record<string, string | undefined> = {};
  let properties = 0;

  for (const name of Object.keys(record)) {
    const value = record[name];
    if (name === collection.key || value === null || value === undefined) continue;
    if (name.charCodeAt(0) === 64) continue; // '@': OData annotations, not record data
    const type = collection.columns[name];
    if (type === 'location') {
      properties += flattenLocation(value, columns, overflow, adjustments);
      continue;
    }
    if (type === 'activity') {
      properties += flattenActivity(value, columns, overflow, adjustments);
      continue;
    }
    if (type === 'datetime' && (datetimes[name] = normalizeDateTime(value)) && datetimes[name]! >= EARLIEST_TABLE_DATETIME) {
      columns[name] = { value: datetimes[name]!, type: 'DateTime' };
    } else if (!isColumnName(name)) {
      overflow[name] = value;
      continue;
    } else if (typeof value === 'string') {
      if (type === 'datetime')
        adjustments.push(`${name} ${datetimes[name] ? 'is before 1601, the first date Table Storage holds' : 'is not a datetime'}, stored as text`);
      columns[name] = value;
    } else if (typeof value === 'boolean') {
      columns[name] = value;
    } else if (typeof value === 'number') {
      columns[name] = { value: String(value), type: 'Double' };
    } else {
      columns[name] = JSON.stringify(value);
    }
    properties++;
  }

  // Too many properties (a long string's continuation columns count too): unknown ones move into the overflow column.
  const moved = fitProperties(collection, record, columns, overflow);
  if (moved > 0) adjustments.push(`${properties} properties: ${moved} kept in ${OVERFLOW_COLUMN}`);
  for (const _ in overflow) {
    columns[OVERFLOW_COLUMN] = JSON.stringify(overflow);
    break;
  }

  // A record too large for one entity: its longest strings are cut (the only adjustment that loses data).
  adjustments.push(...fitEntity(columns, rowKey, overflow));
  // Strings over the property limit continue in <name>_part2, <name>_part3, ...
  for (const name of Object.keys(columns)) {
    const value = columns[name];
    if (typeof value !== 'string' || value.length <= MAX_STRING_UNITS || name === 'rowKey') continue;
    const parts = splitString(value);
    columns[name] = parts[0]!;
    parts.slice(1).forEach((part, i) => (columns[`${name}${PART}${i + 2}`] = part));
    adjustments.push(`${name} has ${value.length} characters: split over ${parts.length} columns`);
  }

  const scheme = collection.partition;
  const dated = (name: string) => (name in datetimes ? datetimes[name] : normalizeDateTime(record[name]));
  entity.partitionKey = partitionOf(
    collection,
    tenantId,
    scheme.by === 'month' ? dated(scheme.property) : record[scheme.by === 'property' ? scheme.property : 'id'],
  );
  const hash = fingerprint(record);
  columns.tenantId = tenantId;
  columns.syncedAt = { value: syncedAt, type: 'DateTime' };
  columns.recordHash = hash;
  const aggregates: Record<string, string> = {};
  for (const column of collection.aggregateBy) aggregates[column] = countedValue(record[column]);
  const tracked: Record<string, string | null> = {};
  for (const column of collection.tracked) tracked[column] = typeof record[column] === 'string' ? (record[column] as string) : null;
  return { entity, cursor: dated(collection.cursor), aggregates, adjustments, bytes: wireBytes(entity), hash, tracked, raw: record };
}

/** A fingerprint of the record as Graph served it: 128 bits of SHA-256 of its JSON (property order included). */
export function fingerprint(record: GraphRecord): string {
  return createHash('sha256').update(JSON.stringify(record)).digest('base64url').slice(0, 22);
}

/** Characters JSON writes as an escape: a slower, exact count is taken for strings that hold one. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Bytes of a string as a JSON string in UTF-8 (quotes included). */
function jsonStringBytes(value: string): number {
  return NEEDS_ESCAPE.test(value) ? Buffer.byteLength(JSON.stringify(value)) : Buffer.byteLength(value) + 2;
}

/** The entity as the Table SDK sends it in a batch: `"name":value,` per property, and `"name@odata.type":"Edm.X",` for typed ones. */
export function wireBytes(entity: Entity): number {
  let bytes = 2;
  for (const name of Object.keys(entity)) {
    const value = (entity as Record<string, EntityValue>)[name]!;
    const key = jsonStringBytes(name === 'partitionKey' ? 'PartitionKey' : name === 'rowKey' ? 'RowKey' : name);
    if (typeof value === 'string') bytes += key + 1 + jsonStringBytes(value) + 1;
    else if (typeof value === 'boolean') bytes += key + 1 + 5 + 1;
    else bytes += key + 1 + jsonStringBytes(value.value) + 1 + (key + 11) + 1 + (value.type.length + 6) + 1;
  }
  return bytes;
}

/** Table Storage's count of an entity's size: 4 bytes, the keys in UTF-16, and per property 8 bytes, its name and value. */
function entitySize(columns: Record<string, EntityValue>, rowKey: string, partitionKeyLength: number): number {
  let size = 4 + 2 * (rowKey.length + partitionKeyLength);
  for (const name of Object.keys(columns)) {
    if (name === 'partitionKey' || name === 'rowKey') continue;
    const value = columns[name]!;
    size += 8 + 2 * name.length;
    // A long string is split into parts: each adds a property of its own.
    if (typeof value === 'string') size += 4 + 2 * value.length + Math.floor(value.length / MAX_STRING_UNITS) * (12 + 2 * (name.length + 7));
    else if (typeof value === 'boolean') size += 1;
    else size += 8;
  }
  return size;
}

/** Columns a value takes: one, or one per part of a string longer than a property may hold (an upper bound). */
function columnsTaken(value: EntityValue | undefined): number {
  return typeof value === 'string' && value.length > MAX_STRING_UNITS ? Math.ceil(value.length / (MAX_STRING_UNITS - 1)) : 1;
}

/**
 * Moves unknown properties into the overflow object until the columns, their continuation columns (`_part2`, ...),
 * the overflow column's own and ours (SYNC_COLUMNS) fit in MAX_PROPERTIES. Known properties stay columns (they are few:
 * their parts are bounded by the entity size). Returns how many moved.
 */
function fitProperties(
  collection: CollectionDefinition,
  record: GraphRecord,
  columns: Record<string, EntityValue>,
  overflow: Record<string, unknown>,
): number {
  const budget = MAX_PROPERTIES - SYNC_COLUMNS.length;
  const known = new Set([
    ...Object.keys(collection.columns),
    ...Object.values(LOCATION_COLUMNS),
    'locationLatitude',
    'locationLongitude',
    ACTIVITY_DETAIL,
    ACTIVITY_EVENT_TYPES,
  ]);
  let moved = 0;
  for (;;) {
    let taken = 0;
    for (const name of Object.keys(columns)) if (name !== 'partitionKey' && name !== 'rowKey') taken += columnsTaken(columns[name]);
    for (const _ in overflow) {
      taken += columnsTaken(JSON.stringify(overflow));
      break;
    }
    const excess = taken - budget;
    if (excess <= 0) return moved;
    const movable = Object.keys(columns).filter((n) => n !== 'partitionKey' && n !== 'rowKey' && !known.has(n));
    if (movable.length === 0) return moved;
    for (const name of movable.slice(Math.max(0, movable.length - excess))) {
      overflow[name] = record[name];
      delete columns[name];
      moved++;
    }
  }
}

/** The marker that ends a string cut to fit the entity: it gives the full length. */
export function truncationMarker(fullLength: number): string {
  return `…[cut by entra-risk-sync: ${fullLength} characters in all]`;
}

/**
 * Cuts the longest strings until the entity fits 1 MiB both as Table Storage counts it (UTF-16) and as its JSON body
 * in UTF-8 (what Azurite counts for an update: CJK text takes 3 bytes a character there, 2 in Azure's count); the
 * partition key, at most 80 characters, is counted ahead. A string kept in the overflow column is cut inside it (the
 * column stays valid JSON). Returns the adjustments made.
 */
function fitEntity(columns: Record<string, EntityValue>, rowKey: string, overflow: Record<string, unknown>): string[] {
  /** Strings cut so far, by column (or `overflowProperties.<name>`): the full value and how many characters are kept. */
  const cut = new Map<string, { full: string; kept: number }>();
  const valueOf = (key: string) => (key.startsWith(OVERFLOW_PREFIX) ? overflow[key.slice(OVERFLOW_PREFIX.length)] : columns[key]);
  for (;;) {
    const over16 = entitySize(columns, rowKey, 80) - MAX_ENTITY_BYTES;
    const over8 = wireBytes(columns as Entity) + 3 * 80 - MAX_ENTITY_BYTES;
    if (over16 <= 0 && over8 <= 0) break;
    let key: string | undefined;
    let longest = -1;
    const consider = (k: string, v: unknown) => {
      if (typeof v === 'string' && v.length > longest && cut.get(k)?.kept !== 0) [key, longest] = [k, v.length];
    };
    for (const n of Object.keys(columns)) if (n !== 'rowKey' && n !== 'partitionKey' && n !== OVERFLOW_COLUMN) consider(n, columns[n]);
    for (const n of Object.keys(overflow)) consider(OVERFLOW_PREFIX + n, overflow[n]);
    if (key === undefined) break;
    const value = valueOf(key) as string;
    const previous = cut.get(key);
    const full = previous?.full ?? value;
    const kept = previous?.kept ?? value.length;
    const unitBytes = Buffer.byteLength(value) / Math.max(1, value.length);
    const marker = truncationMarker(full.length);
    const units = Math.max(Math.ceil(over16 / 2), Math.ceil(over8 / unitBytes)) + (previous ? 0 : marker.length) + 64;
    let keep = Math.max(0, kept - units);
    const last = full.charCodeAt(keep - 1);
    if (keep > 0 && last >= 0xd800 && last <= 0xdbff) keep--; // never cut a surrogate pair
    cut.set(key, { full, kept: keep });
    if (key.startsWith(OVERFLOW_PREFIX)) {
      overflow[key.slice(OVERFLOW_PREFIX.length)] = full.slice(0, keep) + marker;
      columns[OVERFLOW_COLUMN] = JSON.stringify(overflow);
    } else columns[key] = full.slice(0, keep) + marker;
  }
  const cuts = [...cut].map(([name, { full, kept }]) => `${name} cut from ${full.length} to ${kept} characters`);
  if (cuts.length === 0) return [];
  const listed = cuts.length > 5 ? [...cuts.slice(0, 3), `${cuts.length - 3} more strings cut`] : cuts;
  return [`${listed.join(', ')}: the record is larger than an entity may be (1 MiB)`];
}

/** How fitEntity names a string it cut inside the overflow column. */
const OVERFLOW_PREFIX = `${OVERFLOW_COLUMN}.`;

/** Whether a property can be a column of its own (names repeat from record to record: the answer is kept). */
const columnNames = new Map<string, boolean>();
function isColumnName(name: string): boolean {
  let ok = columnNames.get(name);
  if (ok === undefined) {
    ok = PROPERTY_NAME.test(name) && !RESERVED.has(name) && !name.includes(PART);
    if (columnNames.size < 10_000) columnNames.set(name, ok);
  }
  return ok;
}

/** A risky user history item's `activity`: `activityDetail`, and `activityRiskEventTypes` comma-separated. */
const ACTIVITY_DETAIL = 'activityDetail';
const ACTIVITY_EVENT_TYPES = 'activityRiskEventTypes';

/** Returns the number of columns it set. */
function flattenActivity(value: unknown, columns: Record<string, EntityValue>, overflow: Record<string, unknown>, adjustments: string[]): number {
  const activity = value as { detail?: unknown; riskEventTypes?: unknown } | null;
  const types = activity?.riskEventTypes;
  const plainTypes = Array.isArray(types) && types.every((t) => typeof t === 'string' && !t.includes(','));
  if (!activity || typeof activity !== 'object' || Array.isArray(activity) || (types !== undefined && types !== null && !plainTypes)) {
    overflow.activity = value;
    adjustments.push('activity is not shaped as Graph documents it: kept in overflowProperties');
    return 0;
  }
  let set = 0;
  if (typeof activity.detail === 'string') {
    columns[ACTIVITY_DETAIL] = activity.detail;
    set++;
  }
  if (plainTypes) {
    columns[ACTIVITY_EVENT_TYPES] = (types as string[]).join(',');
    set++;
  }
  const extra = Object.keys(activity).filter((k) => k !== 'detail' && k !== 'riskEventTypes');
  if (extra.length > 0) overflow['activity.extra'] = Object.fromEntries(extra.map((k) => [k, (activity as Record<string, unknown>)[k]]));
  return set;
}

/** Returns the number of columns it set. */
function flattenLocation(value: unknown, columns: Record<string, EntityValue>, overflow: Record<string, unknown>, adjustments: string[]): number {
  if (typeof value !== 'object' || Array.isArray(value)) {
    overflow.location = value;
    adjustments.push('location is not an object: kept in overflowProperties');
    return 0;
  }
  let set = 0;
  const location = value as Record<string, unknown>;
  for (const [key, column] of Object.entries(LOCATION_COLUMNS)) {
    const v = location[key];
    if (typeof v === 'string') {
      columns[column] = v;
      set++;
    } else if (v !== null && v !== undefined) overflow[`location.${key}`] = v;
  }
  const geo = location.geoCoordinates as Record<string, unknown> | null | undefined;
  if (geo && typeof geo === 'object') {
    if (typeof geo.latitude === 'number') {
      columns.locationLatitude = { value: String(geo.latitude), type: 'Double' };
      set++;
    }
    if (typeof geo.longitude === 'number') {
      columns.locationLongitude = { value: String(geo.longitude), type: 'Double' };
      set++;
    }
  }
  const extra = Object.keys(location).filter((k) => !(k in LOCATION_COLUMNS) && k !== 'geoCoordinates');
  if (extra.length > 0) overflow['location.extra'] = Object.fromEntries(extra.map((k) => [k, location[k]]));
  return set;
}

function splitString(value: string): string[] {
  const parts: string[] = [];
  let start = 0;
  while (start < value.length) {
    let end = Math.min(start + MAX_STRING_UNITS, value.length);
    const last = value.charCodeAt(end - 1);
    if (end < value.length && last >= 0xd800 && last <= 0xdbff) end--; // never split a surrogate pair
    parts.push(value.slice(start, end));
    start = end;
  }
  return parts;
}

type RawValue = unknown;
const STORAGE_COLUMNS = new Set(['partitionKey', 'rowKey', 'PartitionKey', 'RowKey', 'etag', 'timestamp', 'Timestamp', ...SYNC_COLUMNS]);

/** Unwraps a value read with `disableTypeConversion: true` ({value, type} objects for typed properties). */
function plain(value: RawValue): unknown {
  if (value && typeof value === 'object' && 'value' in value) {
    const { value: v, type } = value as { value: string; type?: string };
    if (type === 'Double' || type === 'Int32' || type === 'Int64') return Number(v);
    if (type === 'Boolean') return v === 'true' || (v as unknown) === true;
    return v;
  }
  return value;
}

/**
 * The Graph-shaped record of a stored entity (read with `disableTypeConversion: true`): nested `location` restored,
 * split strings joined, overflow properties merged, known properties that were null or absent returned as null.
 */
export function fromEntity(collection: CollectionDefinition, entity: Record<string, RawValue>): GraphRecord {
  const record: GraphRecord = { id: idOfRowKey(String(plain(entity.rowKey ?? entity.RowKey))) };
  for (const name of Object.keys(collection.columns)) record[name] = null;
  const location: Record<string, unknown> = {};
  let hasLocation = false;
  const parts = new Map<string, string[]>();
  const flattensActivity = collection.columns.activity === 'activity';
  const activity: Record<string, unknown> = {};

  for (const [name, raw] of Object.entries(entity)) {
    if (STORAGE_COLUMNS.has(name) || name.startsWith('odata.')) continue;
    const value = plain(raw);
    const part = /^(.*)_part(\d+)$/.exec(name);
    if (part && typeof value === 'string') {
      const list = parts.get(part[1]!) ?? [];
      list[Number(part[2]) - 1] = value;
      parts.set(part[1]!, list);
      continue;
    }
    const locationKey = Object.entries(LOCATION_COLUMNS).find(([, column]) => column === name)?.[0];
    if (flattensActivity && (name === ACTIVITY_DETAIL || name === ACTIVITY_EVENT_TYPES)) {
      if (name === ACTIVITY_DETAIL) activity.detail = value;
      else activity.riskEventTypes = value === '' ? [] : String(value).split(',');
    } else if (locationKey) {
      location[locationKey] = value;
      hasLocation = true;
    } else if (name === 'locationLatitude' || name === 'locationLongitude') {
      const geo = (location.geoCoordinates ??= {}) as Record<string, unknown>;
      geo[name === 'locationLatitude' ? 'latitude' : 'longitude'] = value;
      hasLocation = true;
    } else {
      record[name] = value;
    }
  }
  for (const [name, list] of parts) {
    list[0] = String(record[name] ?? '');
    record[name] = list.join('');
  }
  if (typeof record[OVERFLOW_COLUMN] === 'string') {
    const overflow = JSON.parse(record[OVERFLOW_COLUMN] as string) as Record<string, unknown>;
    delete record[OVERFLOW_COLUMN];
    for (const [name, value] of Object.entries(overflow)) {
      if (name === 'location') record.location = value;
      else if (name === 'activity' && flattensActivity) record.activity = value;
      else if (name === 'activity.extra' && flattensActivity) Object.assign(activity, value);
      else if (name === 'location.extra') Object.assign(location, value);
      else if (name.startsWith('location.')) location[name.slice('location.'.length)] = value;
      else record[name] = value;
      if (name.startsWith('location.')) hasLocation = true;
    }
  }
  if (flattensActivity && record.activity === null && Object.keys(activity).length > 0) {
    record.activity = { detail: activity.detail ?? null, riskEventTypes: activity.riskEventTypes ?? [], ...activity };
  }
  if ('location' in collection.columns && record.location === null && hasLocation) {
    record.location = {
      city: location.city ?? null,
      state: location.state ?? null,
      countryOrRegion: location.countryOrRegion ?? null,
      ...location,
      geoCoordinates: location.geoCoordinates ?? null,
    };
  }
  return record;
}
