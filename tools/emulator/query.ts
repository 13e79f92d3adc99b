import { type ApiVersion, type CollectionName, SCHEMAS, resolveProperty } from './model.js';

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
 * Reads the OData system query options the resource documents. Option names are case-insensitive; parameters
 * without `$` are custom options and ignored (as Graph does); `$orderby` and every other system option -> 400.
 */
export function parseQueryOptions(params: URLSearchParams, collection: CollectionName, version: ApiVersion): QueryOptions {
  const values = new Map<string, string>();
  for (const [rawName, value] of params) {
    const name = rawName.toLowerCase();
    if (!name.startsWith('$')) continue;
    if (!SUPPORTED.includes(name)) {
      throw new QueryError(
        name === '$orderby'
          ? "Query option '$orderby' is not supported on this resource: results come in no particular order."
          : `Query option '${rawName}' is not supported on this resource.`,
      );
    }
    if (values.has(name)) throw new QueryError(`Query option '${name}' was specified more than once.`);
    values.set(name, value);
  }

  const options: QueryOptions = { top: DEFAULT_TOP };
  const top = values.get('$top');
  if (top !== undefined) {
    if (!/^\d{1,9}$/.test(top) || Number(top) < 1 || Number(top) > MAX_TOP) {
      throw new QueryError(`Invalid value '${top}' for query option '$top': expected an integer from 1 to ${MAX_TOP}.`);
    }
    options.top = Number(top);
  }

  const select = values.get('$select');
  if (select !== undefined) {
    const names = select.split(',').map((s) => s.trim());
    if (names.some((n) => n === '')) throw new QueryError(`Invalid value '${select}' for query option '$select'.`);
    const resolved = names.map((n) => {
      const property = resolveProperty(collection, version, n);
      if (!property) {
        throw new QueryError(`Could not find a property named '${n}' on type '${SCHEMAS[collection].entityType}'.`);
      }
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
