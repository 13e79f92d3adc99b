import type { TableClient, TransactionAction } from '@azure/data-tables';
import { count, countedValue, emptyAggregates, type Aggregates } from './aggregates';
import type { MappedRecord } from './entityMapping';
import { isStatus } from './tables';
import { normalizeDateTime } from '../sync/datetime';

export interface WriteOptions {
  aggregateBy: readonly string[];
  /** Transactions in flight at once. */
  parallelism?: number;
}

export interface WriteResult {
  written: number;
  transactions: number;
  /** How the collection's counts changed. */
  delta: Aggregates;
}

/** An entity group transaction holds at most 100 operations and 4 MiB. */
const MAX_BATCH = 100;
const MAX_BATCH_BYTES = 3.5 * 1024 * 1024;

/**
 * Upserts records by id in entity group transactions (same partition, up to 100), several in flight. Each batch
 * is first tried as inserts: when all rows are new (a backfill) that one transaction is all it costs and the counts
 * follow from the new values; when some exist, their counted values are read and the batch is upserted (Replace, so
 * properties Graph dropped are dropped here too).
 */
export async function writeRecords(client: TableClient, records: MappedRecord[], options: WriteOptions): Promise<WriteResult> {
  const batches = toBatches(records);
  const result: WriteResult = { written: 0, transactions: 0, delta: emptyAggregates() };
  await mapLimit(batches, options.parallelism ?? 4, async (batch) => {
    result.transactions++;
    try {
      await client.submitTransaction(batch.map((r): TransactionAction => ['create', r.entity]));
      for (const r of batch) count(result.delta, r.aggregates, 1);
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
      const previous = await readCounted(client, batch, options.aggregateBy);
      // A row holding this very write (same syncedAt) was created by this batch: its answer was lost and the SDK's
      // retry got 409. It was not there before, so it counts as new.
      batch.forEach((r, i) => {
        if (previous[i]?.syncedAt === syncedAtOf(r)) previous[i] = undefined;
      });
      result.transactions++;
      await client.submitTransaction(batch.map((r): TransactionAction => ['upsert', r.entity, 'Replace']));
      batch.forEach((r, i) => {
        const old = previous[i];
        if (old) count(result.delta, old.counted, -1, false);
        count(result.delta, r.aggregates, 1, !old);
      });
    }
    result.written += batch.length;
  });
  return result;
}

/**
 * The counted values of the rows of a batch that exist already. Point reads: in Azure they cost the same whatever
 * the partition's size, whereas a filter of `RowKey eq a or RowKey eq b ...` scans the partition.
 */
async function readCounted(client: TableClient, batch: MappedRecord[], columns: readonly string[]) {
  return mapLimit(batch, 16, async ({ entity }): Promise<{ counted: Record<string, string>; syncedAt?: string } | undefined> => {
    try {
      const row = await client.getEntity<Record<string, unknown>>(entity.partitionKey, entity.rowKey, {
        queryOptions: { select: [...columns, 'syncedAt'] },
        disableTypeConversion: true,
      });
      const text = (v: unknown) => (v && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v);
      return {
        counted: Object.fromEntries(columns.map((c) => [c, countedValue(text(row[c]))])),
        syncedAt: normalizeDateTime(text(row.syncedAt)),
      };
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  });
}

function syncedAtOf(record: MappedRecord): string | undefined {
  const value = record.entity.syncedAt;
  return normalizeDateTime(value && typeof value === 'object' ? value.value : value);
}

/** Groups by partition, keeps one version per id (the one with the latest cursor), cuts at 100 rows / 3.5 MiB. */
function toBatches(records: MappedRecord[]): MappedRecord[][] {
  const byPartition = new Map<string, Map<string, MappedRecord>>();
  for (const record of records) {
    const { partitionKey, rowKey } = record.entity;
    let rows = byPartition.get(partitionKey);
    if (!rows) byPartition.set(partitionKey, (rows = new Map()));
    const seen = rows.get(rowKey);
    if (!seen || (record.cursor ?? '') >= (seen.cursor ?? '')) rows.set(rowKey, record);
  }
  const batches: MappedRecord[][] = [];
  for (const rows of byPartition.values()) {
    let batch: MappedRecord[] = [];
    let bytes = 0;
    for (const record of rows.values()) {
      const size = JSON.stringify(record.entity).length * 2;
      if (batch.length === MAX_BATCH || (batch.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(record);
      bytes += size;
    }
    if (batch.length > 0) batches.push(batch);
  }
  return batches;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}
