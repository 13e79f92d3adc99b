import { odata, type TableClient } from '@azure/data-tables';
import pMap from 'p-map';
import type { CollectionDefinition } from '../domain/collection';
import { rowKeyOf } from './entityMapping';
import { firstRow, readTablePage, type Row } from './tablePages';
import { isStatus } from './tables';

/**
 * Finding one record's row, and the month partitions of a table, without reading a whole table.
 *
 * - `<tenant>` partitions: one point read.
 * - `<tenant>_<yyyy-MM>` partitions (riskDetections by detectedDateTime, the change tables by cursor): one point read
 *   per month, from the first month the table holds to the month after now (and `_undated`), LOOKUP_CONCURRENCY at a
 *   time.
 * - `<tenant>_<parent>` partitions (a child collection): a scan of the tenant's rows for that RowKey.
 */
export const LOOKUP_CONCURRENCY = 4;

const UNDATED = 'undated';

function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number);
  return m === 12 ? `${String(y! + 1).padStart(4, '0')}-01` : `${String(y).padStart(4, '0')}-${String(m! + 1).padStart(2, '0')}`;
}

/**
 * The `yyyy-MM` months of the tenant's `<tenant>_<yyyy-MM>` partitions, oldest first: from the first partition the table
 * holds (or `from`, when later) to the month after `now` (or `to`, when earlier). Empty when the tenant has none.
 */
export async function monthsOf(client: TableClient, tenantId: string, now: number, range: { from?: string; to?: string } = {}): Promise<string[]> {
  const scope = odata`PartitionKey ge ${`${tenantId}_${range.from ?? ''}`} and PartitionKey lt ${`${tenantId}\``}`;
  const first = await firstRow(client, scope);
  const firstMonth = first ? String(first.partitionKey ?? first.PartitionKey).slice(tenantId.length + 1) : undefined;
  if (!firstMonth || !/^\d{4}-\d{2}$/.test(firstMonth)) return [];
  const last = range.to && range.to < nextMonth(monthOf(now)) ? range.to : nextMonth(monthOf(now));
  const months: string[] = [];
  for (let month = firstMonth; month <= last && months.length < 12 * 200; month = nextMonth(month)) months.push(month);
  return months;
}

/** A record's stored row (raw, as readTablePage reads it), or undefined. */
export async function findRow(
  client: TableClient,
  collection: CollectionDefinition,
  tenantId: string,
  id: string,
  now: number,
): Promise<Row | undefined> {
  const rowKey = rowKeyOf(id);
  const scheme = collection.partition;
  if (scheme.by === 'tenant') return pointRead(client, tenantId, rowKey);
  if (scheme.by === 'month') {
    const partitions = [...(await monthsOf(client, tenantId, now)).map((m) => `${tenantId}_${m}`), `${tenantId}_${UNDATED}`];
    const found = await pMap(partitions, (partition) => pointRead(client, partition, rowKey), { concurrency: LOOKUP_CONCURRENCY });
    return found.find((row) => row !== undefined);
  }
  const filter = odata`PartitionKey ge ${`${tenantId}_`} and PartitionKey lt ${`${tenantId}\``} and RowKey eq ${rowKey}`;
  let page = await readTablePage(client, filter, 1);
  while (page.rows.length === 0 && page.continuation) page = await readTablePage(client, filter, 1, page.continuation);
  return page.rows[0];
}

async function pointRead(client: TableClient, partitionKey: string, rowKey: string): Promise<Row | undefined> {
  try {
    return await client.getEntity<Row>(partitionKey, rowKey, { disableTypeConversion: true });
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}
