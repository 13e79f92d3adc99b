import { type ApiVersion, type CollectionSchema, resolveProperty } from './model.js';

export const DEFAULT_TOP = 20;
export const MAX_TOP = 500;

export interface QueryOptions {
  filter?: string;
  top: number;
  /** Resolved property names, `id` first; undefined = all properties. */
  select?: string[];
  skiptoken?: string;
}

export class QueryError extends Error {
  override readonly name = 'QueryError';
}

const SUPPORTED = ['$filter', '$top', '$select', '$skiptoken'];

/**
 * Accepted and ignored, as Graph does on these resources: `$orderby` (Microsoft's own permissions reference shows
 * `riskDetections?$orderBy=detectedDateTime desc`, and many tools send it; results still come in no particular order)
 * and `$count` (no `@odata.count` is added).
 */
const IGNORED = ['$orderby', '$count'];

/** What Graph answers for `$skip`: it pages with `$skiptoken` only (msgraph-metadata#135, msgraph-sdk-powershell#1771). */
const SKIP_MESSAGE = "'$skip' is not supported by the service.";

/**
 * Reads the OData system query options. Option names are case-insensitive; parameters without `$` are custom options
 * and ignored (as Graph does); `$orderby` and `$count` are ignored; `$skip` and the other system options -> 400.
 */
export function parseQueryOptions(params: URLSearchParams, schema: CollectionSchema, version: ApiVersion): QueryOptions {
  const values = new Map<string, string>();
  for (const [rawName, value] of params) {
    const name = rawName.toLowerCase();
    if (!name.startsWith('$')) continue;
    if (values.has(name)) throw new QueryError(`Query option '${name}' was specified more than once.`);
    values.set(name, value);
    if (IGNORED.includes(name) || SUPPORTED.includes(name)) continue;
    throw new QueryError(name === '$skip' ? SKIP_MESSAGE : `Query option '${rawName}' is not supported on this resource.`);
  }

  const options: QueryOptions = { top: schema.defaultTop };
  const top = values.get('$top');
  if (top !== undefined) {
    if (!/^\d{1,9}$/.test(top) || Number(top) < 1 || Number(top) > schema.maxTop) {
      throw new QueryError(`Invalid value '${top}' for query option '$top': expected an integer from 1 to ${schema.maxTop}.`);
    }
    options.top = Number(top);
  }

  const select = values.get('$select');
  if (select !== undefined) {
    const names = select.split(',').map((s) => s.trim());
    if (names.some((n) => n === '')) throw new QueryError(`Invalid value '${select}' for query option '$select'.`);
    const resolved = names.map((n) => {
      const property = resolveProperty(schema, version, n);
      if (!property) throw new QueryError(`Could not find a property named '${n}' on type '${schema.entityType}'.`);
      return property;
    });
    options.select = [...new Set(['id', ...resolved])];
  }

  const filter = values.get('$filter');
  if (filter !== undefined) options.filter = filter;
  const skiptoken = values.get('$skiptoken');
  if (skiptoken !== undefined) options.skiptoken = skiptoken;
  return options;
}
