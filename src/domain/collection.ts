/**
 * What a collection is, as data: one engine (src/sync) syncs every declared collection, the store maps and counts it,
 * the settings, the tables and the API routes are derived from it. Adding a collection is one declaration.
 */

/** A record as Graph serves it (one element of a page's `value`). */
export type GraphRecord = Record<string, unknown>;

/** How a Graph property is stored in Table Storage. */
export type ColumnType =
  | 'string'
  | 'datetime' // typed Edm.DateTime, full 7-digit precision kept
  | 'boolean'
  | 'double'
  | 'json' // a Graph property that is already a JSON string (additionalInfo): kept as that string
  | 'location' // flattened to locationCity, locationState, locationCountryOrRegion, locationLatitude, locationLongitude
  | 'activity'; // a history item's activity, flattened to activityDetail and activityRiskEventTypes (comma-separated)

/**
 * PartitionKey = `<tenantId>`, `<tenantId>_<yyyy-MM of an immutable datetime property>` or `<tenantId>_<a property>`
 * (a child collection by its parent). It must be derived from properties that never change for a given id: an upsert
 * into another partition would leave the old row behind.
 */
export type PartitionScheme = { by: 'tenant' } | { by: 'month'; property: string } | { by: 'property'; property: string };

/**
 * How a pass asks Graph for what changed: `incremental` filters `cursor ge <from>` (and `lt <to>` for a window), as
 * Graph documents for riskDetections and riskyUsers; `full` reads the whole collection on every pass, for collections
 * whose cursor Graph documents only with `eq` (riskyServicePrincipals).
 */
export type ReadStyle = 'incremental' | 'full';

/** A filter the list route of the snapshot API offers for this collection (since/until on the cursor always exist). */
export type ApiFilter =
  /** `?<name>=a,b`: any of the collection's known values of the enum column of that name. */
  | { name: string; kind: 'enum' }
  /** `?<name>=<guid>` on a column (case-insensitive GUID, stored lower-case by Graph), or on the row's own id. */
  | { name: string; kind: 'guid'; column: string | 'id' }
  /** `?<name>=<text>`: exact, case-sensitive. */
  | { name: string; kind: 'text'; column: string };

export interface CollectionDefinition {
  /** Graph's name of the collection; also the API route segment and the SyncState row. */
  name: string;
  /** Graph path under the version segment. A child collection's path names its parent record: `{parentId}`. */
  path: string;
  /** Primary key property; becomes the RowKey. */
  key: 'id';
  /** The last-updated property the watermark moves on. */
  cursor: string;
  read: ReadStyle;
  /** `$top` of each request (Graph's maximum for these resources is 500); absent: Graph's default page size. */
  pageSize?: number;
  /** The Graph application permission a read needs (least privilege). */
  permission: string;
  /** The licence the tenant needs for it, as Entra names it. */
  licence: string;
  /** The Graph throttling budget the requests draw on: collections with the same budget share one pacer per tenant. */
  rateBudget: string;
  partition: PartitionScheme;
  /** The Graph properties we know and their storage types; properties Graph adds later are kept as well. */
  columns: Record<string, ColumnType>;
  /** Enum-valued properties: the values we know (Graph adds more; unknown values are stored as they come). */
  enums: Record<string, readonly string[]>;
  /** Columns the sync keeps running counts of, for the snapshot API. */
  aggregateBy: readonly string[];
  /** Properties whose change between two versions of a record is a row of the collection's change table. */
  tracked: readonly string[];
  /** The filters the list route offers. */
  apiFilters: readonly ApiFilter[];
  /** A nested collection (`riskyUsers/{id}/history`): read for the parent records a pass of the parent touched. */
  parent?: { collection: string };
  /** Upper-case stem of this collection's settings: SYNC_SCHEDULE_<stem>, TABLE_<stem>, TABLE_<stem>_CHANGES. */
  settingSuffix: string;
  defaultTable: string;
  /** The change table's default name (when `tracked` is not empty). */
  defaultChangesTable?: string;
  /** NCRONTAB schedule; a child collection runs with its parent and has none. */
  defaultSchedule?: string;
}

/** The collections of one deployment, by name. */
export interface Catalog {
  readonly collections: readonly CollectionDefinition[];
  readonly names: readonly string[];
  get(name: string): CollectionDefinition | undefined;
  /** Like get(), throwing for a name that is not declared. */
  require(name: string): CollectionDefinition;
  /** The collections whose parent is `name`. */
  childrenOf(name: string): CollectionDefinition[];
}

const NAME = /^[a-z][A-Za-z0-9]{1,62}$/;
const SUFFIX = /^[A-Z][A-Z0-9_]{1,40}$/;

/** Builds a catalog, refusing declarations that can not work (duplicate names, a missing parent, a bad page size). */
export function catalogOf(collections: readonly CollectionDefinition[]): Catalog {
  const byName = new Map<string, CollectionDefinition>();
  const problem = (c: CollectionDefinition, message: string) => new Error(`collection '${c.name}': ${message}`);
  for (const c of collections) {
    if (!NAME.test(c.name)) throw problem(c, 'the name must be a camelCase word of letters and digits (it is a route segment and a row key)');
    if (byName.has(c.name)) throw problem(c, 'declared twice');
    if (!SUFFIX.test(c.settingSuffix)) throw problem(c, 'settingSuffix must be UPPER_SNAKE_CASE');
    if (c.pageSize !== undefined && (!Number.isInteger(c.pageSize) || c.pageSize < 2 || c.pageSize > 1000))
      throw problem(c, 'pageSize must be a whole number from 2 to 1000');
    if (!c.path.startsWith('/')) throw problem(c, "path must start with '/'");
    if (c.parent && !c.path.includes('{parentId}')) throw problem(c, "a child collection's path must contain {parentId}");
    if (!c.parent && !c.defaultSchedule) throw problem(c, 'a top-level collection needs a defaultSchedule');
    if (c.tracked.length > 0 && !c.defaultChangesTable) throw problem(c, 'tracked properties need a defaultChangesTable');
    for (const column of c.aggregateBy) if (!(column in c.columns)) throw problem(c, `aggregateBy names '${column}', which is not a column`);
    for (const column of c.tracked) if (!(column in c.columns)) throw problem(c, `tracked names '${column}', which is not a column`);
    byName.set(c.name, c);
  }
  for (const c of collections) {
    if (c.parent && !byName.has(c.parent.collection)) throw problem(c, `its parent '${c.parent.collection}' is not declared`);
  }
  const names = collections.map((c) => c.name);
  return {
    collections,
    names,
    get: (name) => byName.get(name),
    require: (name) => {
      const c = byName.get(name);
      if (!c) throw new Error(`no collection '${name}' is declared (declared: ${names.join(', ')})`);
      return c;
    },
    childrenOf: (name) => collections.filter((c) => c.parent?.collection === name),
  };
}
