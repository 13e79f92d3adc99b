import { odata, type TableClient } from '@azure/data-tables';
import { count, countedValue, emptyAggregates, type Aggregates } from '../domain/aggregates';
import type { CollectionDefinition } from '../domain/collection';

/**
 * The partitions of a tenant in a collection's table: PartitionKey `<tenantId>` or `<tenantId>_<...>` (month, parent).
 * A tenant id never contains `_`, so `<tenantId>_` up to `<tenantId>` + the character after `_` covers them all.
 */
export function tenantFilter(tenantId: string): string {
  return odata`PartitionKey eq ${tenantId} or (PartitionKey ge ${`${tenantId}_`} and PartitionKey lt ${`${tenantId}\``})`;
}

export async function hasRowsOfTenant(table: TableClient, tenantId: string): Promise<boolean> {
  const pages = table.listEntities({ queryOptions: { filter: tenantFilter(tenantId), select: ['RowKey'] } }).byPage({ maxPageSize: 1 });
  for await (const page of pages) if (page.length > 0) return true;
  return false;
}

/**
 * Counts the stored rows of a collection from scratch, reading only the counted columns (after a run stopped between
 * a write and its checkpoint, and on every sweep).
 */
export async function recount(table: TableClient, collection: CollectionDefinition, tenantId: string): Promise<Aggregates> {
  const aggregates = emptyAggregates();
  const rows = table.listEntities<Record<string, unknown>>({
    // Without counted columns only the total is counted: one key column keeps the rows small.
    queryOptions: { filter: tenantFilter(tenantId), select: collection.aggregateBy.length > 0 ? [...collection.aggregateBy] : ['RowKey'] },
  });
  try {
    for await (const row of rows) {
      const values = Object.fromEntries(collection.aggregateBy.map((c) => [c, countedValue(row[c])]));
      count(aggregates, values, 1);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return aggregates;
}

/** How many rows two sets of counts differ by: the sum of the absolute differences, per value and in total. */
export function drift(a: Aggregates, b: Aggregates): number {
  let d = Math.abs(a.total - b.total);
  const columns = new Set([...Object.keys(a.by), ...Object.keys(b.by)]);
  for (const column of columns) {
    const values = new Set([...Object.keys(a.by[column] ?? {}), ...Object.keys(b.by[column] ?? {})]);
    for (const value of values) d += Math.abs((a.by[column]?.[value] ?? 0) - (b.by[column]?.[value] ?? 0));
  }
  return d;
}
