import { odata, type TableClient } from '@azure/data-tables';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { fromEntity, rowKeyOf } from '../store/entityMapping';
import { isStatus } from '../store/tables';
import type { Catalog } from '../domain/collection';
import { DEFAULT_CATALOG } from '../domain/collections';
import { normalizeDateTime } from '../domain/datetime';
import type { ReadModel } from '../store/readModel';
import { issueToken, queryHash, readToken } from './continuation';
import { byteStream, cellText, csvColumns, csvLines, wantsCsv } from './csv';
import { badRequest, describeError, jsonResponse, notFound, quote } from './errors';
import { readParams } from './params';

/**
 * GET /api/snapshot/{collection}: the stored rows of a collection, filtered, one page at a time, shaped like
 * Graph's records, as JSON (`{"value": [...], "@odata.nextLink": ...}`) or CSV (every matching row, streamed).
 *
 * Every caller value reaches the Table query through the SDK's `odata` tag (quotes doubled, literals quoted), after
 * validation; the query is always scoped to the configured tenant's partitions.
 */
export const LIST_PARAMETERS = [
  'riskLevel',
  'riskState',
  'userId',
  'userPrincipalName',
  'since',
  'until',
  'top',
  'format',
  'continuationToken',
] as const;
export const ENUM_PARAMETERS = ['riskLevel', 'riskState'] as const;
export const DEFAULT_TOP = 100;
export const MAX_TOP = 1000;
/** Table round trips one JSON page may take (a Table page may be empty and still carry a continuation). */
export const MAX_ROUND_TRIPS = 10;
export const MAX_UPN_LENGTH = 1024;

export interface ListQuery {
  collection: string;
  riskLevel?: string[];
  riskState?: string[];
  /** Lower-cased GUID. */
  userId?: string;
  userPrincipalName?: string;
  /** Normalized datetimes (7 fractional digits, UTC). */
  since?: string;
  until?: string;
  top: number;
  format?: 'json' | 'csv';
  continuationToken?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATETIME_SHAPE = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Resolves the `{collection}` route parameter (case-insensitively); 404 naming the collections otherwise. */
export function resolveCollection(raw: string | undefined, catalog: Catalog = DEFAULT_CATALOG): string {
  const found = catalog.names.find((c) => c.toLowerCase() === (raw ?? '').toLowerCase());
  if (!found)
    throw notFound(`no collection ${quote(raw ?? '')}: accepted collections are ${catalog.names.join(', ')} (GET /api/snapshot/<collection>)`);
  return found;
}

/** Validates the query parameters of a list request; every problem is a 400 naming the parameter. */
export function parseListQuery(collection: string, request: HttpRequest, catalog: Catalog = DEFAULT_CATALOG): ListQuery {
  const params = readParams(request, LIST_PARAMETERS, ENUM_PARAMETERS);
  const definition = catalog.require(collection);
  const query: ListQuery = { collection, top: DEFAULT_TOP };

  for (const name of ENUM_PARAMETERS) {
    const raw = params.get(name);
    if (raw === undefined) continue;
    const accepted = definition.enums[name] ?? [];
    const values = raw.split(',').map((v) => v.trim());
    for (const value of values) {
      if (!accepted.includes(value)) {
        throw badRequest(
          `${name} ${quote(value)} is not accepted: use one of ${accepted.join(', ')} (case-sensitive, as in Graph; several values separated by commas mean any of them)`,
        );
      }
    }
    query[name] = [...new Set(values)].sort();
  }

  const userId = params.get('userId');
  if (userId !== undefined) {
    if (!GUID.test(userId))
      throw badRequest(`userId must be a user's object id (a GUID such as 6d4f2b8e-1c3a-4e5f-9a7b-0c1d2e3f4a5b), got ${quote(userId)}`);
    query.userId = userId.toLowerCase();
  }

  const upn = params.get('userPrincipalName');
  if (upn !== undefined) {
    if (upn.length === 0 || upn.length > MAX_UPN_LENGTH || CONTROL.test(upn)) {
      throw badRequest(
        `userPrincipalName must be 1 to ${MAX_UPN_LENGTH} characters without control characters (an exact, case-sensitive match), got ${quote(upn)}`,
      );
    }
    query.userPrincipalName = upn;
  }

  for (const name of ['since', 'until'] as const) {
    const raw = params.get(name);
    if (raw !== undefined) query[name] = parseDateTime(name, raw, definition.cursor);
  }
  if (query.since && query.until && query.since > query.until) {
    throw badRequest(`since (${query.since}) is after until (${query.until}): since must be earlier than or equal to until`);
  }

  const top = params.get('top');
  if (top !== undefined) {
    const n = /^\d{1,7}$/.test(top) ? Number(top) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > MAX_TOP)
      throw badRequest(`top must be a whole number from 1 to ${MAX_TOP} (default ${DEFAULT_TOP}), got ${quote(top)}`);
    query.top = n;
  }

  const format = params.get('format');
  if (format !== undefined) {
    if (format !== 'json' && format !== 'csv') throw badRequest(`format must be json or csv, got ${quote(format)}`);
    query.format = format;
  }

  const token = params.get('continuationToken');
  if (token !== undefined) query.continuationToken = token;

  const listed = (query.riskLevel?.length ?? 0) + (query.riskState?.length ?? 0);
  const others = comparisons(query, catalog) - listed;
  if (listed > 0 && others + listed > MAX_COMPARISONS) {
    throw badRequest(
      `riskLevel and riskState list ${listed} values in all; with the other filters of this request they may list at most ${MAX_COMPARISONS - others} ` +
        `(Table Storage allows ${MAX_COMPARISONS} comparisons per query): leave out a filter, or list fewer values`,
    );
  }
  return query;
}

/** Table Storage refuses a filter with more than 15 discrete comparisons. */
export const MAX_COMPARISONS = 15;

/** How many comparisons tableFilter() writes for a query. */
export function comparisons(query: ListQuery, catalog: Catalog = DEFAULT_CATALOG): number {
  const partition = catalog.require(query.collection).partition.by === 'tenant' ? 1 : 2;
  const single = [query.userId, query.userPrincipalName, query.since, query.until].filter((v) => v !== undefined).length;
  return partition + (query.riskLevel?.length ?? 0) + (query.riskState?.length ?? 0) + single;
}

function parseDateTime(name: 'since' | 'until', raw: string, cursor: string): string {
  const problem = () =>
    badRequest(
      `${name} must be an ISO 8601 date and time with a time zone, between the years 1601 and 9999, ` +
        `e.g. 2024-05-01T00:00:00Z or 2024-05-01T02:00:00.5+02:00 (compared with ${cursor}), got ${quote(raw)}`,
    );
  // An unencoded `+` of an offset arrives as a space (`?since=2024-05-01T02:00:00+02:00` typed as is): read it as `+`.
  const value = raw.replace(/ (\d{2}:\d{2})$/, '+$1');
  const m = DATETIME_SHAPE.exec(value);
  if (!m) throw problem();
  const [, y, mo, d, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // leap year: Feb 29 checked below
  if (year < 1601 || month < 1 || month > 12 || day < 1 || day > daysInMonth) throw problem();
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) throw problem();
  if (sign && (Number(oh) > 14 || Number(om) > 59)) throw problem();
  const normalized = normalizeDateTime(value);
  if (!normalized || normalized < '1601-01-01') throw problem(); // an offset can move it out of range; years past 9999 print as +0...
  return normalized;
}

/** The Table filter of a query: the tenant's partitions, then each filter, every value through `odata`. */
export function tableFilter(query: ListQuery, tenantId: string, catalog: Catalog = DEFAULT_CATALOG): string {
  const definition = catalog.require(query.collection);
  const parts: string[] = [];
  if (definition.partition.by === 'tenant') parts.push(odata`PartitionKey eq ${tenantId}`);
  else parts.push(odata`PartitionKey ge ${`${tenantId}_`} and PartitionKey lt ${`${tenantId}\``}`);

  const anyOf = (column: string, values: string[]) => `(${values.map((v) => `${column} ${odata`eq ${v}`}`).join(' or ')})`;
  if (query.riskLevel) parts.push(anyOf('riskLevel', query.riskLevel));
  if (query.riskState) parts.push(anyOf('riskState', query.riskState));
  if (query.userId) {
    // A risky user's id is the user's object id; a detection carries it in userId.
    parts.push('userId' in definition.columns ? odata`userId eq ${query.userId}` : odata`RowKey eq ${rowKeyOf(query.userId)}`);
  }
  if (query.userPrincipalName !== undefined) parts.push(odata`userPrincipalName eq ${query.userPrincipalName}`);
  // Typed comparisons (datetime'...'), so they match the typed Edm.DateTime cursor column to the 7th digit.
  if (query.since) parts.push(`${definition.cursor} ${odata`ge datetime'${query.since}'`}`);
  if (query.until) parts.push(`${definition.cursor} ${odata`le datetime'${query.until}'`}`);
  return parts.join(' and ');
}

type Row = Record<string, unknown>;

interface Page {
  rows: Row[];
  continuation?: string;
}

/** One SDK page (at most `max` rows); a table that does not exist yet (no sync so far) has no rows. */
async function readTablePage(client: TableClient, filter: string, max: number, continuationToken: string | undefined): Promise<Page> {
  try {
    const pages = client
      .listEntities<Row>({ queryOptions: { filter }, disableTypeConversion: true })
      .byPage({ maxPageSize: max, ...(continuationToken ? { continuationToken } : {}) });
    const first = await pages.next();
    if (first.done) return { rows: [] };
    const page = first.value as Row[] & { continuationToken?: string };
    return { rows: [...page], ...(page.continuationToken ? { continuation: page.continuationToken } : {}) };
  } catch (error) {
    if (isStatus(error, 404)) return { rows: [] };
    throw error;
  }
}

/** Up to `top` rows, following continuations through empty or short pages, within MAX_ROUND_TRIPS. */
async function readUpTo(client: TableClient, filter: string, top: number, start: string | undefined): Promise<Page> {
  const rows: Row[] = [];
  let continuation = start;
  for (let trip = 0; trip < MAX_ROUND_TRIPS; trip++) {
    const page = await readTablePage(client, filter, top - rows.length, continuation);
    rows.push(...page.rows);
    continuation = page.continuation;
    if (!continuation || rows.length >= top) break;
  }
  return { rows, ...(continuation ? { continuation } : {}) };
}

export async function listCollection(model: ReadModel, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { catalog } = model;
  const collection = resolveCollection(request.params.collection, catalog);
  const query = parseListQuery(collection, request, catalog);
  const definition = catalog.require(collection);
  const filter = tableFilter(query, model.tenantId, catalog);
  const q = queryHash(collection, filter);
  const client = model.table(collection);
  const start = query.continuationToken === undefined ? undefined : await readToken(model.stateTable, query.continuationToken, q);

  if (wantsCsv(query.format, request.headers.get('accept'))) {
    const first = await readTablePage(client, filter, query.top, start);
    const headers = {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${collection}.csv"`,
      'cache-control': 'no-store',
    };
    if (request.method === 'HEAD') return { status: 200, headers };
    const columns = csvColumns(definition);
    async function* chunks(): AsyncGenerator<string> {
      yield csvLines([columns.map((c) => c.name)]);
      let page = first;
      for (;;) {
        yield csvLines(
          page.rows.map((row) => {
            const record = fromEntity(definition, row);
            return columns.map((c) => cellText(c.cell(record)));
          }),
        );
        if (!page.continuation) return;
        page = await readTablePage(client, filter, query.top, page.continuation);
      }
    }
    const body = byteStream(chunks(), (error) => context.error(`CSV of ${collection} stopped: ${describeError(error)}`));
    return { status: 200, headers, body };
  }

  const page = await readUpTo(client, filter, query.top, start);
  const body: Record<string, unknown> = { value: page.rows.map((row) => fromEntity(definition, row)) };
  if (page.continuation) {
    const next = new URL(request.url);
    next.searchParams.set('continuationToken', await issueToken(model.stateTable, q, page.continuation));
    body['@odata.nextLink'] = next.toString();
  }
  return jsonResponse(200, body, { 'cache-control': 'no-store' });
}
