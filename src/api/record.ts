import { odata, type TableClient } from '@azure/data-tables';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import pMap from 'p-map';
import type { CollectionDefinition } from '../domain/collection';
import { fromEntity, rowKeyOf } from '../store/entityMapping';
import type { ReadModel } from '../store/readModel';
import { findRow, LOOKUP_CONCURRENCY, monthsOf } from '../store/recordLookup';
import { tablePages, type Row } from '../store/tablePages';
import { changeItem } from './changes';
import { issueToken, queryHash, readToken } from './continuation';
import { badRequest, jsonResponse, notFound, quote } from './errors';
import { nextLink, type LinkOptions } from './links';
import { resolveCollection } from './list';
import { readParams } from './params';
import { parseQuery, type QuerySpec } from './query';

/**
 * GET /api/snapshot/{collection}/{id}: one stored record, shaped like Graph's.
 * GET /api/snapshot/{collection}/{id}/history: what is known of how that record changed, in time order:
 *   - `source: "graph"`: the items Graph keeps of it (a child collection partitioned by its parent, such as
 *     riskyUserHistory for riskyUsers: one partition read);
 *   - `source: "observed"`: the versions the sync saw change (the collection's change table, month by month).
 * Each item has `dateTime`: when Graph says it happened (the child's cursor; the change's cursor). Paged by `top`
 * (default 100) with a signed continuation token, as the lists are.
 */
async function recordOf(model: ReadModel, request: HttpRequest): Promise<{ definition: CollectionDefinition; id: string; row: Row }> {
  const collection = resolveCollection(request.params.collection, model.catalog);
  const definition = model.catalog.require(collection);
  const id = request.params.id ?? '';
  const row = id === '' ? undefined : await findRow(model.table(collection), definition, model.tenantId, id, Date.now());
  if (!row) throw notFound(`no ${collection} record with id ${quote(id)} is stored for this tenant`);
  return { definition, id, row };
}

export async function getRecord(model: ReadModel, request: HttpRequest): Promise<HttpResponseInit> {
  readParams(request, []);
  const { definition, row } = await recordOf(model, request);
  return jsonResponse(200, fromEntity(definition, row), { 'cache-control': 'no-store' });
}

/** The child collections whose rows of one parent are one partition (`<tenant>_<parent id>`): Graph's history of it. */
export function historyChildren(model: ReadModel, collection: string): CollectionDefinition[] {
  return model.catalog.childrenOf(collection).filter((c) => c.partition.by === 'property');
}

const HISTORY_SPEC: QuerySpec = { filters: [], cursor: 'dateTime (when Graph says the change happened)', baseComparisons: 0 };

interface HistoryItem {
  /** Sort key: dateTime, then Graph's items before our observations, then the row. */
  key: [string, number, string];
  item: Record<string, unknown>;
}

const compareKeys = (a: HistoryItem['key'], b: HistoryItem['key']) =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] !== b[1] ? a[1] - b[1] : a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0;

function plainDate(value: unknown): string | null {
  const v = value && typeof value === 'object' && 'value' in value ? (value as { value: unknown }).value : value;
  return typeof v === 'string' ? v : null;
}

async function allRows(client: TableClient, filter: string): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const page of tablePages(client, filter)) rows.push(...page);
  return rows;
}

export async function getHistory(model: ReadModel, request: HttpRequest, links: LinkOptions = {}): Promise<HttpResponseInit> {
  const collection = resolveCollection(request.params.collection, model.catalog);
  const children = historyChildren(model, collection);
  const changes = model.changesTable(collection);
  if (children.length === 0 && !changes) {
    const kept = model.catalog.names.filter((c) => historyChildren(model, c).length > 0 || model.changesTable(c));
    throw notFound(`no history is kept for ${collection} records: it is kept for ${kept.join(', ')}`);
  }
  const query = parseQuery(request, HISTORY_SPEC);
  if (query.format === 'csv')
    throw badRequest('format csv is not offered for a history (its items differ by source): use format=json, or GET /api/changes');
  const { definition, id } = await recordOf(model, request);
  const q = queryHash(`history:${collection}`, JSON.stringify([id, query.since ?? null, query.until ?? null]));
  const after =
    query.continuationToken === undefined
      ? undefined
      : (JSON.parse(await readToken(model.stateTable, query.continuationToken, q)) as HistoryItem['key']);
  const inWindow = (dateTime: string | null) =>
    (!query.since || (dateTime !== null && dateTime >= query.since)) && (!query.until || (dateTime !== null && dateTime <= query.until));

  const items: HistoryItem[] = [];
  for (const child of children) {
    const rows = await allRows(model.table(child.name), odata`PartitionKey eq ${`${model.tenantId}_${rowKeyOf(id)}`}`);
    for (const row of rows) {
      const record = fromEntity(child, row);
      const dateTime = plainDate(row[child.cursor]);
      if (!inWindow(dateTime)) continue;
      items.push({
        key: [dateTime ?? '', 0, `${child.name}/${String(record.id)}`],
        item: { source: 'graph', collection: child.name, dateTime, ...record },
      });
    }
  }
  if (changes) {
    // The change rows of this record: one filtered read per month of the window, a few at a time.
    const from = [query.since?.slice(0, 7), after?.[0].slice(0, 7)]
      .filter((m): m is string => Boolean(m))
      .sort()
      .at(-1);
    const months = await monthsOf(changes, model.tenantId, Date.now(), { from, to: query.until?.slice(0, 7) });
    const perMonth = await pMap(months, (m) => allRows(changes, odata`PartitionKey eq ${`${model.tenantId}_${m}`} and recordId eq ${id}`), {
      concurrency: LOOKUP_CONCURRENCY,
    });
    for (const row of perMonth.flat()) {
      const dateTime = plainDate(row.cursor) ?? plainDate(row.seenAt);
      if (!inWindow(dateTime)) continue;
      items.push({
        key: [dateTime ?? '', 1, String(row.rowKey ?? row.RowKey)],
        item: { source: 'observed', dateTime, ...changeItem(definition, row) },
      });
    }
  }
  items.sort((a, b) => compareKeys(a.key, b.key));
  const rest = after ? items.filter((i) => compareKeys(i.key, after) > 0) : items;
  const page = rest.slice(0, query.top);
  const body: Record<string, unknown> = { value: page.map((i) => i.item) };
  if (rest.length > page.length) {
    const token = await issueToken(model.stateTable, q, JSON.stringify(page.at(-1)!.key));
    body['@odata.nextLink'] = nextLink(request, `/api/snapshot/${collection}/${encodeURIComponent(id)}/history`, token, links);
  }
  return jsonResponse(200, body, { 'cache-control': 'no-store' });
}
