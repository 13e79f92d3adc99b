import { odata } from '@azure/data-tables';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { CollectionDefinition } from '../domain/collection';
import { CHANGE_USER_COLUMNS, previousColumn } from '../store/changes';
import { rowKeyOf } from '../store/entityMapping';
import type { ReadModel } from '../store/readModel';
import { MAX_PAGE_ROWS, readTablePage, readUpTo, tablePages, type Row } from '../store/tablePages';
import { issueToken, queryHash, readToken } from './continuation';
import { byteStream, cellText, csvLines, wantsCsv } from './csv';
import { badRequest, describeError, jsonResponse, quote } from './errors';
import { nextLink, type LinkOptions } from './links';
import { listFilters, csvHeaders } from './list';
import { filterClauses, parseQuery, type QueryFilter, type QuerySpec, type RowQuery } from './query';

/**
 * GET /api/changes?collection=...: the feed of a collection's change rows (RiskDetectionChanges, RiskyUserChanges: one
 * row per version of a record the sync observed with other tracked values than the stored one), oldest first, paged
 * like the lists (signed continuation tokens), JSON or CSV.
 *
 * The change tables are partitioned `<tenant>_<yyyy-MM>` of the change's cursor (when Graph says it happened) and
 * keyed `<cursor>_<record>_<fingerprint>`: `since` and `until` become a PartitionKey range (the months) and a RowKey
 * range (the instants), so a window reads only its own rows. Without them the feed reads the tenant's partitions from
 * the first month on. The filters are those of the collection's list route that a change row carries (the tracked
 * enums, the record id, the user columns) and `change` (created, changed).
 */
export const CHANGE_KINDS = ['created', 'changed'] as const;

/** The collections whose changes are kept (they have tracked properties and a change table). */
export function changeCollections(model: ReadModel): string[] {
  return model.catalog.names.filter((name) => model.changesTable(name) !== undefined);
}

/** The list filters a change row can answer, then `change`. */
export function changeFilters(definition: CollectionDefinition): QueryFilter[] {
  const filters: QueryFilter[] = [];
  for (const filter of listFilters(definition)) {
    if ('rowKey' in filter.target) filters.push({ ...filter, target: { column: 'recordId' } });
    else if (
      filter.kind === 'enum' ? definition.tracked.includes(filter.name) : (CHANGE_USER_COLUMNS as readonly string[]).includes(filter.target.column)
    )
      filters.push(filter);
  }
  filters.push({ name: 'change', kind: 'enum', target: { column: 'change' }, accepted: CHANGE_KINDS });
  return filters;
}

export function changesSpec(definition: CollectionDefinition): QuerySpec {
  // The tenant's range of month partitions (two comparisons); since and until each add a RowKey bound.
  return { filters: changeFilters(definition), cursor: `the change's ${definition.cursor}`, baseComparisons: 2 };
}

/** The Table filter: the months of the window (or all the tenant's), the instants as a RowKey range, the filters. */
export function changesFilter(query: RowQuery, definition: CollectionDefinition, tenantId: string): string {
  const parts = [
    odata`PartitionKey ge ${`${tenantId}_${query.since?.slice(0, 7) ?? ''}`}`,
    query.until ? odata`PartitionKey le ${`${tenantId}_${query.until.slice(0, 7)}`}` : odata`PartitionKey lt ${`${tenantId}\``}`,
  ];
  // RowKey = `<cursor>_...` with the cursor in Graph's fixed 28 characters: `<until>` + the character after `_` ends it.
  if (query.since) parts.push(odata`RowKey ge ${query.since}`);
  if (query.until) parts.push(odata`RowKey lt ${`${query.until}\``}`);
  parts.push(...filterClauses(query, changesSpec(definition), rowKeyOf));
  return parts.join(' and ');
}

/** A value read with disableTypeConversion: typed ones come as {value, type}. */
function plain(value: unknown): unknown {
  return value && typeof value === 'object' && 'value' in value ? (value as { value: unknown }).value : value;
}

/** The fields of a change item, in order: the same for every row of a collection (CSV columns). */
export function changeFields(definition: CollectionDefinition): string[] {
  return [
    'recordId',
    'change',
    'cursor',
    'seenAt',
    'runId',
    ...CHANGE_USER_COLUMNS.filter((c) => c in definition.columns),
    ...definition.tracked.flatMap((p) => [p, previousColumn(p)]),
  ];
}

/** A change row as the API shows it: every field present (null when the row has no value). */
export function changeItem(definition: CollectionDefinition, row: Row): Record<string, unknown> {
  return Object.fromEntries(changeFields(definition).map((field) => [field, plain(row[field]) ?? null]));
}

function resolveChangeCollection(model: ReadModel, raw: string | null): CollectionDefinition {
  const accepted = changeCollections(model);
  const found = accepted.find((c) => c.toLowerCase() === (raw ?? '').toLowerCase());
  if (raw === null) throw badRequest(`collection is required: the collection whose changes to read, one of ${accepted.join(', ')}`);
  if (!found)
    throw badRequest(`collection ${quote(raw)} is not accepted: use one of ${accepted.join(', ')} (the collections whose changes are kept)`);
  return model.catalog.require(found);
}

export async function listChanges(
  model: ReadModel,
  request: HttpRequest,
  context: InvocationContext,
  links: LinkOptions = {},
): Promise<HttpResponseInit> {
  const definition = resolveChangeCollection(model, request.query.get('collection'));
  const query = parseQuery(request, changesSpec(definition), ['collection']);
  const filter = changesFilter(query, definition, model.tenantId);
  const q = queryHash(`changes:${definition.name}`, filter);
  const client = model.changesTable(definition.name)!;
  const start = query.continuationToken === undefined ? undefined : await readToken(model.stateTable, query.continuationToken, q);
  const fields = changeFields(definition);

  if (wantsCsv(query.format, request.headers.get('accept'))) {
    const first = await readTablePage(client, filter, MAX_PAGE_ROWS, start);
    const headers = csvHeaders(`${definition.name}Changes`);
    if (request.method === 'HEAD') return { status: 200, headers };
    async function* chunks(): AsyncGenerator<string> {
      yield csvLines([fields]);
      for await (const rows of tablePages(client, filter, first)) {
        yield csvLines(rows.map((row) => fields.map((f) => cellText(plain(row[f])))));
      }
    }
    const body = byteStream(chunks(), (error) => context.error(`CSV of ${definition.name} changes stopped: ${describeError(error)}`));
    return { status: 200, headers, body };
  }

  const page = await readUpTo(client, filter, query.top, start);
  const body: Record<string, unknown> = { value: page.rows.map((row) => changeItem(definition, row)) };
  if (page.continuation) {
    body['@odata.nextLink'] = nextLink(request, '/api/changes', await issueToken(model.stateTable, q, page.continuation), links);
  }
  return jsonResponse(200, body, { 'cache-control': 'no-store' });
}
