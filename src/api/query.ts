import { odata } from '@azure/data-tables';
import type { HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { normalizeDateTime } from '../domain/datetime';
import { badRequest, quote } from './errors';
import { readParams } from './params';

/**
 * The query parameters of the routes that list rows (the collections, the changes feed), validated with zod schemas
 * built from data: each filter a route offers is a `QueryFilter` (derived from a collection declaration's
 * `apiFilters`), and every route adds the common `since`, `until`, `top`, `format` and `continuationToken`. A new
 * collection's filters therefore need no API code. Every problem is a 400 that names the parameter and what it accepts.
 */
export interface QueryFilter {
  /** The query parameter. */
  name: string;
  /** `enum`: comma-separated known values (any of them); `guid`: one GUID, any case; `text`: one exact value. */
  kind: 'enum' | 'guid' | 'text';
  /** What the Table filter compares: a column, or the row's own RowKey (the record id, `~`-escaped as stored). */
  target: { column: string } | { rowKey: true };
  /** The values an enum filter accepts. */
  accepted?: readonly string[];
}

export interface RowQuery {
  /** The filters given, by parameter: enum values sorted and unique, a GUID lower-cased, a text as given. */
  filters: Record<string, string[]>;
  /** Normalized datetimes (7 fractional digits, UTC). */
  since?: string;
  until?: string;
  top: number;
  format?: 'json' | 'csv';
  continuationToken?: string;
}

export const DEFAULT_TOP = 100;
export const MAX_TOP = 1000;
export const MAX_TEXT_LENGTH = 1024;
/** Table Storage refuses a filter with more than 15 discrete comparisons. */
export const MAX_COMPARISONS = 15;
export const COMMON_PARAMETERS = ['since', 'until', 'top', 'format', 'continuationToken'] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATETIME_SHAPE = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A zod transform that reports `message` as its one issue. */
const refuse = (ctx: z.RefinementCtx, message: string) => {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
};

function filterSchema(filter: QueryFilter): z.ZodType<string[], string> {
  const { name } = filter;
  switch (filter.kind) {
    case 'enum': {
      const accepted = filter.accepted ?? [];
      return z.string().transform((raw, ctx) => {
        const values = raw.split(',').map((v) => v.trim());
        const unknown = values.find((v) => !accepted.includes(v));
        if (unknown !== undefined) {
          return refuse(
            ctx,
            `${name} ${quote(unknown)} is not accepted: use one of ${accepted.join(', ')} (case-sensitive, as in Graph; several values separated by commas mean any of them)`,
          );
        }
        return [...new Set(values)].sort();
      });
    }
    case 'guid':
      return z.string().transform((raw, ctx) => {
        if (!GUID.test(raw)) {
          const what = 'rowKey' in filter.target ? 'the record id' : `the ${filter.target.column} value`;
          return refuse(ctx, `${name} must be ${what}, a GUID such as 6d4f2b8e-1c3a-4e5f-9a7b-0c1d2e3f4a5b (any case), got ${quote(raw)}`);
        }
        return [raw.toLowerCase()];
      });
    case 'text':
      return z.string().transform((raw, ctx) => {
        if (raw.length === 0 || raw.length > MAX_TEXT_LENGTH || CONTROL.test(raw)) {
          return refuse(
            ctx,
            `${name} must be 1 to ${MAX_TEXT_LENGTH} characters without control characters (an exact, case-sensitive match), got ${quote(raw)}`,
          );
        }
        return [raw];
      });
  }
}

/** `since` / `until`: an ISO 8601 date-time with a time zone, compared with `cursor`. */
function dateTimeSchema(name: 'since' | 'until', cursor: string): z.ZodType<string, string> {
  return z.string().transform((raw, ctx) => parseDateTime(name, raw, cursor) ?? refuse(ctx, dateTimeProblem(name, raw, cursor)));
}

export function dateTimeProblem(name: string, raw: string, cursor: string): string {
  return (
    `${name} must be an ISO 8601 date and time with a time zone, between the years 1601 and 9999, ` +
    `e.g. 2024-05-01T00:00:00Z or 2024-05-01T02:00:00.5+02:00 (compared with ${cursor}), got ${quote(raw)}`
  );
}

/** The normalized date-time (7 digits, UTC), or undefined when `raw` is not one the API accepts. */
export function parseDateTime(_name: string, raw: string, _cursor?: string): string | undefined {
  // An unencoded `+` of an offset arrives as a space (`?since=2024-05-01T02:00:00+02:00` typed as is): read it as `+`.
  const value = raw.replace(/ (\d{2}:\d{2})$/, '+$1');
  const m = DATETIME_SHAPE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // leap year: Feb 29 checked below
  if (year < 1601 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return undefined;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return undefined;
  if (sign && (Number(oh) > 14 || Number(om) > 59)) return undefined;
  const normalized = normalizeDateTime(value);
  if (!normalized || normalized < '1601-01-01') return undefined; // an offset can move it out of range; years past 9999 print as +0...
  return normalized;
}

const topSchema = z.string().transform((raw, ctx) => {
  const n = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_TOP)
    return refuse(ctx, `top must be a whole number from 1 to ${MAX_TOP} (default ${DEFAULT_TOP}), got ${quote(raw)}`);
  return n;
});

const formatSchema = z
  .string()
  .transform((raw, ctx) => (raw === 'json' || raw === 'csv' ? raw : refuse(ctx, `format must be json or csv, got ${quote(raw)}`)));

/** What a route's query looks like: its filters, the cursor `since`/`until` compare, and how many comparisons it costs. */
export interface QuerySpec {
  filters: readonly QueryFilter[];
  /** The property `since` and `until` compare (named in their error messages). */
  cursor: string;
  /** Comparisons the route spends on the tenant scope (and the time range) before any filter. */
  baseComparisons: number;
}

/** The zod schema of a route's query parameters (all optional), in the order the route lists them. */
export function querySchema(spec: QuerySpec) {
  const shape: Record<string, z.ZodType<unknown, string | undefined>> = {};
  for (const filter of spec.filters) shape[filter.name] = filterSchema(filter).optional();
  Object.assign(shape, {
    since: dateTimeSchema('since', spec.cursor).optional(),
    until: dateTimeSchema('until', spec.cursor).optional(),
    top: topSchema.optional(),
    format: formatSchema.optional(),
    continuationToken: z.string().optional(),
  });
  return z
    .object(shape)
    .strict()
    .superRefine((q, ctx) => {
      const { since, until } = q as { since?: string; until?: string };
      if (since && until && since > until) {
        ctx.addIssue({ code: 'custom', message: `since (${since}) is after until (${until}): since must be earlier than or equal to until` });
      }
    });
}

/**
 * Validates a request's query parameters against a route's spec (`routeParameters`: names the route reads itself):
 * unknown and repeated parameters first (readParams),
 * then each value (the first problem, in the order the parameters are listed), then the comparisons limit.
 */
export function parseQuery(request: HttpRequest, spec: QuerySpec, routeParameters: readonly string[] = []): RowQuery {
  const names = [...routeParameters, ...spec.filters.map((f) => f.name), ...COMMON_PARAMETERS];
  const commaLists = spec.filters.filter((f) => f.kind === 'enum').map((f) => f.name);
  const params = readParams(request, names, commaLists);
  for (const name of routeParameters) params.delete(name); // read by the route itself
  const result = querySchema(spec).safeParse(Object.fromEntries(params));
  if (!result.success) throw badRequest(result.error.issues[0]!.message);
  const parsed = result.data as Record<string, unknown>;
  const query: RowQuery = { filters: {}, top: (parsed.top as number | undefined) ?? DEFAULT_TOP };
  for (const filter of spec.filters) {
    const values = parsed[filter.name] as string[] | undefined;
    if (values) query.filters[filter.name] = values;
  }
  for (const key of ['since', 'until', 'format', 'continuationToken'] as const) {
    if (parsed[key] !== undefined) (query as unknown as Record<string, unknown>)[key] = parsed[key];
  }
  checkComparisons(query, spec);
  return query;
}

/** How many comparisons the filter of a query holds. */
export function comparisons(query: RowQuery, spec: QuerySpec): number {
  let n = spec.baseComparisons + (query.since ? 1 : 0) + (query.until ? 1 : 0);
  for (const values of Object.values(query.filters)) n += values.length;
  return n;
}

function checkComparisons(query: RowQuery, spec: QuerySpec): void {
  const total = comparisons(query, spec);
  if (total <= MAX_COMPARISONS) return;
  const lists = spec.filters.filter((f) => f.kind === 'enum' && query.filters[f.name]).map((f) => f.name);
  const listed = lists.reduce((n, name) => n + query.filters[name]!.length, 0);
  if (lists.length === 0) {
    throw badRequest(`this request compares ${total} values (Table Storage allows ${MAX_COMPARISONS} comparisons per query): leave out a filter`);
  }
  const others = total - listed;
  throw badRequest(
    `${lists.join(' and ')} ${lists.length === 1 ? 'lists' : 'list'} ${listed} values in all; with the other filters of this request they may list at most ${MAX_COMPARISONS - others} ` +
      `(Table Storage allows ${MAX_COMPARISONS} comparisons per query): leave out a filter, or list fewer values`,
  );
}

/** The Table filter clauses of a query's filters (in the spec's order), every value through `odata`. */
export function filterClauses(query: RowQuery, spec: QuerySpec, rowKeyOf: (id: string) => string): string[] {
  const parts: string[] = [];
  for (const filter of spec.filters) {
    const values = query.filters[filter.name];
    if (!values) continue;
    const compare = (v: string) => ('rowKey' in filter.target ? odata`RowKey eq ${rowKeyOf(v)}` : `${filter.target.column} ${odata`eq ${v}`}`);
    parts.push(filter.kind === 'enum' ? `(${values.map(compare).join(' or ')})` : compare(values[0]!));
  }
  return parts;
}

/** `since`/`until` on a typed Edm.DateTime column (datetime'...': the 7th digit counts). */
export function cursorClauses(query: RowQuery, column: string): string[] {
  const parts: string[] = [];
  if (query.since) parts.push(`${column} ${odata`ge datetime'${query.since}'`}`);
  if (query.until) parts.push(`${column} ${odata`le datetime'${query.until}'`}`);
  return parts;
}
