/** The Identity Protection resources themselves: query evaluation, paging and response shapes. */
import type { GraphRoute } from './collections.js';
import { FilterError, type FilterPredicate, parseFilter } from './filter.js';
import { type HistoryStore, wireActivity } from './history.js';
import { tenantView } from './licence.js';
import { type ApiVersion, type CollectionSchema, HISTORY_SCHEMA, type Licence, propertiesOf, wireEnumValue } from './model.js';
import type { QueryState, SkipTokens } from './paging.js';
import type { Prng } from './prng.js';
import { QueryError, parseQueryOptions } from './query.js';
import type { RecordStore, StoredRecord } from './store.js';
import { graphText } from './timestamps.js';

export interface GraphApiSettings {
  /** Origin of next links and @odata.context, e.g. https://127.0.0.1:1234 */
  baseUrl: string;
  quotedDateTime: 'matchNothing' | 'badRequest';
  gtIncludesBoundary: boolean;
  emptyPageProbability: number;
  phantomNextLink: boolean;
  historyOnlyCurrent: boolean;
  licence: Licence;
}

export interface GraphResult {
  status: number;
  body: unknown;
  /** Set when a page was served, for the stats. */
  page?: { size: number; nextLink: boolean; phantom: boolean };
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** Following a phantom next link (microsoftgraph/microsoft-graph-docs#16332): 400 BadRequest with an empty message. */
export class PhantomNextLinkError extends QueryError {
  constructor() {
    super('');
  }
}

const EXPIRED_SKIPTOKEN = 'The $skiptoken is invalid or has expired. Follow @odata.nextLink as returned, or restart the query without $skiptoken.';

/** Where a list reads from: a collection, or one risky user's history. */
interface ListSource {
  key: string;
  schema: CollectionSchema;
  /** The path after the version segment, for next links. */
  linkPath: string;
  /** The @odata.context fragment after `$metadata#`. */
  contextPath: string;
  ids(): string[];
  /** The record served now for an id (undefined once it is gone). */
  read(id: string): StoredRecord | undefined;
  shuffle: boolean;
}

export class GraphApi {
  constructor(
    private readonly store: RecordStore,
    private readonly history: HistoryStore,
    private readonly skipTokens: SkipTokens,
    private readonly shuffleRng: Prng,
    private readonly pageRng: Prng,
    private readonly settings: () => GraphApiSettings,
  ) {}

  /** Throws QueryError / FilterError (400) or NotFoundError (404). */
  get(route: GraphRoute, params: URLSearchParams, includeUnknownEnums: boolean): GraphResult {
    if (route.history) return this.getHistory(route, route.id!, route.history.itemId, params, includeUnknownEnums);
    if (route.id !== undefined) {
      const record = this.served(route.schema, route.id);
      return this.item(route, record, `${route.schema.path.slice(1)}`, params, includeUnknownEnums, route.id);
    }
    return this.list(route, this.collectionSource(route.schema), params, includeUnknownEnums);
  }

  /** A record as Graph serves it now (visible version, as the tenant's licence shows it). */
  served(schema: CollectionSchema, id: string): StoredRecord | undefined {
    const record = this.store.visible(schema.name, id);
    return record && tenantView(schema, record, this.settings().licence);
  }

  /** The history items of a user as served (undefined for a user Graph does not serve). */
  historyOf(userId: string, visibleOnly: boolean): StoredRecord[] | undefined {
    const user = visibleOnly ? this.store.visible('riskyUsers', userId) : this.store.latest('riskyUsers', userId);
    if (!user) return undefined;
    return this.history.served(user, { onlyCurrent: this.settings().historyOnlyCurrent, visibleOnly });
  }

  private getHistory(route: GraphRoute, userId: string, itemId: string | undefined, params: URLSearchParams, includeUnknown: boolean): GraphResult {
    if (!this.historyOf(userId, true)) throw notFound(userId);
    const contextPath = `identityProtection/riskyUsers('${userId.replace(/'/g, "''")}')/history`;
    if (itemId !== undefined) {
      const item = this.historyOf(userId, true)?.find((i) => i.id === itemId);
      return this.item(route, item, contextPath, params, includeUnknown, itemId);
    }
    const source: ListSource = {
      key: `riskyUsers/${userId}/history`,
      schema: HISTORY_SCHEMA,
      linkPath: `/identityProtection/riskyUsers/${encodeURIComponent(userId)}/history`,
      contextPath,
      ids: () => (this.historyOf(userId, true) ?? []).map((i) => i.id),
      read: (id) => this.historyOf(userId, true)?.find((i) => i.id === id),
      shuffle: false,
    };
    return this.list(route, source, params, includeUnknown);
  }

  private collectionSource(schema: CollectionSchema): ListSource {
    return {
      key: schema.name,
      schema,
      linkPath: schema.path,
      contextPath: schema.path.slice(1),
      ids: () => this.store.ids(schema.name),
      read: (id) => this.served(schema, id),
      shuffle: true,
    };
  }

  private item(
    route: GraphRoute,
    record: StoredRecord | undefined,
    contextPath: string,
    params: URLSearchParams,
    includeUnknownEnums: boolean,
    id: string,
  ): GraphResult {
    const options = parseQueryOptions(params, route.schema, route.version);
    if (!record) throw notFound(id);
    return {
      status: 200,
      body: {
        '@odata.context': `${this.context(route.version, contextPath, options.select)}/$entity`,
        ...shapeRecord(record, route.schema, route.version, options.select, includeUnknownEnums),
      },
    };
  }

  private list(route: GraphRoute, source: ListSource, params: URLSearchParams, includeUnknownEnums: boolean): GraphResult {
    const options = parseQueryOptions(params, source.schema, route.version);
    const settings = this.settings();
    let query: QueryState;
    let position = 0;

    if (options.skiptoken !== undefined) {
      const cursor = this.skipTokens.resolve(options.skiptoken);
      if (!cursor || cursor.query.source !== source.key || cursor.query.version !== route.version) throw new QueryError(EXPIRED_SKIPTOKEN);
      if (cursor.phantom) throw new PhantomNextLinkError();
      query = cursor.query;
      position = cursor.position;
    } else {
      const predicate = this.predicate(source.schema, route.version, options.filter);
      const ids = source.ids().filter((id) => {
        const record = source.read(id);
        return record !== undefined && predicate(record);
      });
      query = {
        source: source.key,
        version: route.version,
        ids: source.shuffle ? this.shuffleRng.shuffle(ids) : ids,
        predicate,
        read: source.read,
        select: options.select,
        top: options.top,
        linkQuery: linkQuery(params),
      };
    }

    const value: object[] = [];
    const emptyPage = position < query.ids.length && this.pageRng.chance(settings.emptyPageProbability);
    if (!emptyPage) {
      while (position < query.ids.length && value.length < query.top) {
        const record = query.read(query.ids[position++]!);
        // The remaining ids are re-read: a record that changed since the first page is served as it is now,
        // one that no longer matches (or was removed) is skipped.
        if (record && query.predicate(record)) {
          value.push(shapeRecord(record, source.schema, query.version, query.select, includeUnknownEnums));
        }
      }
    }
    const more = position < query.ids.length;
    // The phantom last next link: a last page that holds exactly $top records still carries a next link.
    const phantom = !more && !emptyPage && value.length === query.top && settings.phantomNextLink;
    const body: Record<string, unknown> = { '@odata.context': this.context(query.version, source.contextPath, query.select) };
    if (more || phantom) {
      const token = this.skipTokens.issue({ query, position, ...(phantom && { phantom }) });
      const separator = query.linkQuery === '' ? '' : '&';
      body['@odata.nextLink'] = `${settings.baseUrl}/${query.version}${source.linkPath}?${query.linkQuery}${separator}$skiptoken=${token}`;
    }
    body.value = value;
    return { status: 200, body, page: { size: value.length, nextLink: more || phantom, phantom } };
  }

  private predicate(schema: CollectionSchema, version: ApiVersion, filter: string | undefined): FilterPredicate {
    if (filter === undefined) return () => true;
    const settings = this.settings();
    try {
      return parseFilter(filter, { schema, version, quotedDateTime: settings.quotedDateTime, gtIncludesBoundary: settings.gtIncludesBoundary });
    } catch (error) {
      if (error instanceof FilterError) throw new FilterError(`Invalid filter clause: ${error.message}`);
      throw error;
    }
  }

  private context(version: ApiVersion, contextPath: string, select: readonly string[] | undefined): string {
    const projection = select ? `(${select.join(',')})` : '';
    return `${this.settings().baseUrl}/${version}/$metadata#${contextPath}${projection}`;
  }
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
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
 * hidden unless the client sent `Prefer: include-unknown-enum-members`; datetimes printed as Graph prints them
 * (trailing zeros of the fraction trimmed) unless `printTimes` is false (the data API's normalized 7-digit form).
 */
export function shapeRecord(
  record: StoredRecord,
  schema: CollectionSchema,
  version: ApiVersion,
  select: readonly string[] | undefined,
  includeUnknownEnums: boolean,
  printTimes = true,
): Record<string, unknown> {
  const properties = schema.properties;
  const known = propertiesOf(schema, version);
  const names = select ?? [...known, ...Object.keys(record).filter((name) => !(name in properties))];
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const value = record[name] ?? null;
    const def = properties[name];
    if (def?.type === 'enum' && typeof value === 'string') out[name] = wireEnumValue(def.members!, value, includeUnknownEnums);
    else if (def?.type === 'datetime' && typeof value === 'string' && printTimes) out[name] = graphText(value);
    else if (schema === HISTORY_SCHEMA && name === 'activity') out[name] = wireActivity(value, version, includeUnknownEnums);
    else out[name] = value;
  }
  return structuredClone(out);
}
