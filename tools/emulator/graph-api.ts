/** The Identity Protection resources themselves: routes, query evaluation, paging and response shapes. */
import { FilterError, type FilterPredicate, parseFilter } from './filter.js';
import { type ApiVersion, type CollectionName, SCHEMAS, propertiesOf, wireEnumValue } from './model.js';
import { type QueryState, SkipTokens } from './paging.js';
import type { Prng } from './prng.js';
import { QueryError, parseQueryOptions } from './query.js';
import type { RecordStore, StoredRecord } from './store.js';

export interface GraphRoute {
  version: ApiVersion;
  collection: CollectionName;
  /** Set for `/{collection}/{id}`. */
  id?: string;
}

const ROUTE = /^\/(v1\.0|beta)\/identityProtection\/(riskDetections|riskyUsers)(?:\/([^/]+))?\/?$/i;

/** Graph paths are case-insensitive. */
export function matchRoute(pathname: string): GraphRoute | undefined {
  const m = ROUTE.exec(pathname);
  if (!m) return undefined;
  const version = m[1]!.toLowerCase() as ApiVersion;
  const collection = m[2]!.toLowerCase() === 'riskdetections' ? 'riskDetections' : 'riskyUsers';
  if (m[3] === undefined) return { version, collection };
  let id: string;
  try {
    id = decodeURIComponent(m[3]);
  } catch {
    return undefined;
  }
  return { version, collection, id };
}

export interface GraphApiSettings {
  /** Origin of next links and @odata.context, e.g. https://127.0.0.1:1234 */
  baseUrl: string;
  quotedDateTime: 'matchNothing' | 'badRequest';
  gtIncludesBoundary: boolean;
  emptyPageProbability: number;
}

export interface GraphResult {
  status: number;
  body: unknown;
  /** Set when a page was served, for the stats. */
  page?: { size: number; nextLink: boolean };
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

export class GraphApi {
  constructor(
    private readonly store: RecordStore,
    private readonly skipTokens: SkipTokens,
    private readonly shuffleRng: Prng,
    private readonly pageRng: Prng,
    private readonly settings: () => GraphApiSettings,
  ) {}

  /** Throws QueryError / FilterError (400) or NotFoundError (404). */
  get(route: GraphRoute, params: URLSearchParams, includeUnknownEnums: boolean): GraphResult {
    return route.id === undefined ? this.list(route, params, includeUnknownEnums) : this.item(route, route.id, params, includeUnknownEnums);
  }

  private item(route: GraphRoute, id: string, params: URLSearchParams, includeUnknownEnums: boolean): GraphResult {
    const options = parseQueryOptions(params, route.collection, route.version);
    const record = this.store.visible(route.collection, id);
    if (!record) throw new NotFoundError(`Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
    return {
      status: 200,
      body: {
        '@odata.context': `${this.context(route, options.select)}/$entity`,
        ...shapeRecord(record, route.collection, route.version, options.select, includeUnknownEnums),
      },
    };
  }

  private list(route: GraphRoute, params: URLSearchParams, includeUnknownEnums: boolean): GraphResult {
    const options = parseQueryOptions(params, route.collection, route.version);
    const settings = this.settings();
    let query: QueryState;
    let position = 0;

    if (options.skiptoken !== undefined) {
      const cursor = this.skipTokens.resolve(options.skiptoken);
      if (!cursor || cursor.query.collection !== route.collection || cursor.query.version !== route.version) {
        throw new QueryError(
          'The $skiptoken is invalid or has expired. Follow @odata.nextLink as returned, or restart the query without $skiptoken.',
        );
      }
      query = cursor.query;
      position = cursor.position;
    } else {
      const predicate = this.predicate(route, options.filter);
      const ids = this.store.ids(route.collection).filter((id) => {
        const record = this.store.visible(route.collection, id);
        return record !== undefined && predicate(record);
      });
      query = {
        collection: route.collection,
        version: route.version,
        ids: this.shuffleRng.shuffle(ids),
        predicate,
        select: options.select,
        top: options.top,
        linkQuery: linkQuery(params),
      };
    }

    const value: object[] = [];
    const emptyPage = position < query.ids.length && this.pageRng.chance(settings.emptyPageProbability);
    if (!emptyPage) {
      while (position < query.ids.length && value.length < query.top) {
        const record = this.store.visible(query.collection, query.ids[position++]!);
        // The remaining ids are re-read: a record that changed since the first page is served as it is now,
        // one that no longer matches (or was removed) is skipped.
        if (record && query.predicate(record)) {
          value.push(shapeRecord(record, query.collection, query.version, query.select, includeUnknownEnums));
        }
      }
    }
    const more = position < query.ids.length;
    const body: Record<string, unknown> = { '@odata.context': this.context(route, query.select) };
    if (more) {
      const token = this.skipTokens.issue({ query, position });
      const separator = query.linkQuery === '' ? '' : '&';
      body['@odata.nextLink'] =
        `${settings.baseUrl}/${route.version}/identityProtection/${route.collection}?${query.linkQuery}${separator}$skiptoken=${token}`;
    }
    body.value = value;
    return { status: 200, body, page: { size: value.length, nextLink: more } };
  }

  private predicate(route: GraphRoute, filter: string | undefined): FilterPredicate {
    if (filter === undefined) return () => true;
    const settings = this.settings();
    try {
      return parseFilter(filter, {
        collection: route.collection,
        version: route.version,
        quotedDateTime: settings.quotedDateTime,
        gtIncludesBoundary: settings.gtIncludesBoundary,
      });
    } catch (error) {
      if (error instanceof FilterError) throw new FilterError(`Invalid filter clause: ${error.message}`);
      throw error;
    }
  }

  private context(route: GraphRoute, select: readonly string[] | undefined): string {
    const projection = select ? `(${select.join(',')})` : '';
    return `${this.settings().baseUrl}/${route.version}/$metadata#identityProtection/${route.collection}${projection}`;
  }
}

/** The query options of the first request, re-encoded, minus `$skiptoken`: next links carry them as Graph's do. */
function linkQuery(params: URLSearchParams): string {
  const parts: string[] = [];
  for (const [name, value] of params) {
    if (name.toLowerCase() === '$skiptoken') continue;
    parts.push(`${encodeQueryComponent(name)}=${encodeQueryComponent(value)}`);
  }
  return parts.join('&');
}

function encodeQueryComponent(text: string): string {
  return encodeURIComponent(text).replace(/%24/g, '$').replace(/%2C/g, ',');
}

/**
 * A record as Graph serialises it: every property of the API version (null when absent), then properties this
 * emulator does not know (stand-ins for properties Graph adds later); enum members after `unknownFutureValue`
 * hidden unless the client sent `Prefer: include-unknown-enum-members`.
 */
export function shapeRecord(
  record: StoredRecord,
  collection: CollectionName,
  version: ApiVersion,
  select: readonly string[] | undefined,
  includeUnknownEnums: boolean,
): Record<string, unknown> {
  const schema = SCHEMAS[collection].properties;
  const known = propertiesOf(collection, version);
  const names = select ?? [...known, ...Object.keys(record).filter((name) => !(name in schema))];
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const value = record[name] ?? null;
    const def = schema[name];
    out[name] = def?.type === 'enum' && typeof value === 'string' ? wireEnumValue(def.members!, value, includeUnknownEnums) : value;
  }
  return structuredClone(out);
}
