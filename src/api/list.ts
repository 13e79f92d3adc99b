import { odata } from '@azure/data-tables';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Catalog, CollectionDefinition } from '../domain/collection';
import { DEFAULT_CATALOG } from '../domain/collections';
import { fromEntity, rowKeyOf } from '../store/entityMapping';
import type { ReadModel } from '../store/readModel';
import { MAX_PAGE_ROWS, readTablePage, readUpTo, tablePages } from '../store/tablePages';
import { issueToken, queryHash, readToken } from './continuation';
import { byteStream, csvChunks, wantsCsv } from './csv';
import { describeError, JSON_CONTENT_TYPE, notFound, quote } from './errors';
import { nextLink, type LinkOptions } from './links';
import { cursorClauses, filterClauses, parseQuery, type QueryFilter, type QuerySpec, type RowQuery } from './query';

/**
 * GET /api/snapshot/{collection}: the stored rows of a collection, filtered, one page at a time, shaped like
 * Graph's records, as JSON (`{"value": [...], "@odata.nextLink": ...}`) or CSV (every matching row, streamed).
 *
 * The filters are the declaration's `apiFilters` (src/domain/collection.ts), plus since/until on its cursor. Every
 * caller value reaches the Table query through the SDK's `odata` tag (quotes doubled, literals quoted), after
 * validation; the query is always scoped to the configured tenant's partitions.
 */
export interface ListQuery extends RowQuery {
  collection: string;
}

/** Resolves the `{collection}` route parameter (case-insensitively); 404 naming the collections otherwise. */
export function resolveCollection(raw: string | undefined, catalog: Catalog = DEFAULT_CATALOG): string {
  const found = catalog.names.find((c) => c.toLowerCase() === (raw ?? '').toLowerCase());
  if (!found)
    throw notFound(`no collection ${quote(raw ?? '')}: accepted collections are ${catalog.names.join(', ')} (GET /api/snapshot/<collection>)`);
  return found;
}

/** The query filters a collection's declaration offers, checked: an enum filter needs the values it accepts. */
export function listFilters(definition: CollectionDefinition): QueryFilter[] {
  return definition.apiFilters.map((f): QueryFilter => {
    if (f.kind === 'enum') {
      const accepted = definition.enums[f.name];
      if (!accepted || accepted.length === 0)
        throw new Error(`collection '${definition.name}': the enum filter '${f.name}' needs its values in the declaration's enums`);
      return { name: f.name, kind: 'enum', target: { column: f.name }, accepted };
    }
    return { name: f.name, kind: f.kind, target: f.kind === 'guid' && f.column === 'id' ? { rowKey: true } : { column: f.column } };
  });
}

/** The tenant's partitions: one partition, or the range of `<tenant>_...` ones. */
export function tenantScope(definition: CollectionDefinition, tenantId: string): string {
  return definition.partition.by === 'tenant'
    ? odata`PartitionKey eq ${tenantId}`
    : odata`PartitionKey ge ${`${tenantId}_`} and PartitionKey lt ${`${tenantId}\``}`;
}

export function listSpec(definition: CollectionDefinition): QuerySpec {
  return { filters: listFilters(definition), cursor: definition.cursor, baseComparisons: definition.partition.by === 'tenant' ? 1 : 2 };
}

/** Validates the query parameters of a list request; every problem is a 400 naming the parameter. */
export function parseListQuery(collection: string, request: HttpRequest, catalog: Catalog = DEFAULT_CATALOG): ListQuery {
  return { collection, ...parseQuery(request, listSpec(catalog.require(collection))) };
}

/** The Table filter of a query: the tenant's partitions, then each filter, every value through `odata`. */
export function tableFilter(query: ListQuery, tenantId: string, catalog: Catalog = DEFAULT_CATALOG): string {
  const definition = catalog.require(query.collection);
  return [
    tenantScope(definition, tenantId),
    ...filterClauses(query, listSpec(definition), rowKeyOf),
    // Typed comparisons (datetime'...'), so they match the typed Edm.DateTime cursor column to the 7th digit.
    ...cursorClauses(query, definition.cursor),
  ].join(' and ');
}

export async function listCollection(
  model: ReadModel,
  request: HttpRequest,
  context: InvocationContext,
  links: LinkOptions = {},
): Promise<HttpResponseInit> {
  const { catalog } = model;
  const collection = resolveCollection(request.params.collection, catalog);
  const query = parseListQuery(collection, request, catalog);
  const definition = catalog.require(collection);
  const filter = tableFilter(query, model.tenantId, catalog);
  const q = queryHash(collection, filter);
  const client = model.table(collection);
  const start = query.continuationToken === undefined ? undefined : await readToken(model.stateTable, query.continuationToken, q);

  if (wantsCsv(query.format, request.headers.get('accept'))) {
    // Every matching row, in Table pages of the largest size whatever `top` says (top only shapes JSON pages).
    const first = await readTablePage(client, filter, MAX_PAGE_ROWS, start);
    const headers = csvHeaders(collection);
    if (request.method === 'HEAD') return { status: 200, headers };
    const body = byteStream(csvChunks(definition, tablePages(client, filter, first)), (error) =>
      context.error(`CSV of ${collection} stopped: ${describeError(error)}`),
    );
    return { status: 200, headers, body };
  }

  const path = `/api/snapshot/${collection}`;
  // The same page for the same query and link within a second: dashboards poll the same URLs.
  const key = JSON.stringify(['list', model.tenantId, filter, query.top, query.continuationToken ?? '', nextLink(request, path, '', links)]);
  const body = await model.cached(key, async () => {
    const page = await readUpTo(client, filter, query.top, start);
    const value: Record<string, unknown> = { value: page.rows.map((row) => fromEntity(definition, row)) };
    if (page.continuation) value['@odata.nextLink'] = nextLink(request, path, await issueToken(model.stateTable, q, page.continuation), links);
    return JSON.stringify(value);
  });
  return { status: 200, body, headers: { 'content-type': JSON_CONTENT_TYPE, 'cache-control': 'no-store' } };
}

export function csvHeaders(name: string): Record<string, string> {
  return {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${name}.csv"`,
    'cache-control': 'no-store',
  };
}
