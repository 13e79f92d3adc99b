import type { TableClient, TransactionAction } from '@azure/data-tables';
import pMap from 'p-map';
import { count, countedValue, emptyAggregates, type Aggregates } from '../domain/aggregates';
import type { CollectionDefinition } from '../domain/collection';
import { normalizeDateTime } from '../domain/datetime';
import { changeRowOf, writeChanges, type ChangeRow } from './changes';
import type { MappedRecord } from './entityMapping';
import { isStatus } from './tables';

/**
 * One transaction's worth of rows (one partition, at most 100), written so that a row is never replaced by an older
 * version of its record, whoever writes it and whatever the clocks say.
 *
 * The fence is the row's own ETag: the stored version of each row is read (point reads; only the counted, tracked,
 * cursor and fingerprint columns), then every write is conditional on what was read: `create` for a row that was
 * not there (it fails if another writer created it meanwhile) and `update ... If-Match: <ETag>` for one that was (it
 * fails if another writer changed it meanwhile). A row whose stored version is newer (a higher cursor) is left alone;
 * one whose stored fingerprint equals the record's is unchanged and not written at all. When the transaction fails on
 * a condition, the batch is read again and decided again. So a run that lost its lease and whose writes were held
 * (a stalled process, a storage stall) can only ever write a version that is still the newest: the counts it changes
 * are then the only thing it can get wrong, and those heal (see the engine's recount).
 *
 * Change rows (./changes.ts) are written before the rows they describe. For a backfill into an empty table the batch
 * is first tried as plain inserts (no reads): then the `created` change rows follow the data, and a run that dies in
 * between leaves rows whose change row the next run writes when it reads them again (`repairSince`).
 *
 * A transaction that Table Storage refuses for its content (400, 413) is split in halves until the record at fault is
 * alone; that record goes to quarantine: a record is never the reason a batch or a run fails.
 */
export interface BatchContext {
  client: TableClient;
  collection: CollectionDefinition;
  changes?: { table: TableClient; tenantId: string; runId: string };
  /** Rows stored at or after this syncedAt may lack their `created` change row (a backfill that died). */
  repairSince?: string;
  quarantine?: (record: MappedRecord, reason: string) => Promise<void>;
  beforeWrite?: () => Promise<void>;
  now: () => string;
}

export interface BatchResult {
  delta: Aggregates;
  created: number;
  replaced: number;
  unchanged: number;
  /** Records older than the stored version: not written. */
  stale: number;
  quarantined: number;
  transactions: number;
  /** Rows now holding this batch's version (written now, or found written by our own lost answer). */
  stored: string[];
}

interface Prior {
  etag: string;
  cursor?: string;
  hash?: string;
  syncedAt?: string;
  counted: Record<string, string>;
  tracked: Record<string, string | null>;
}

const ATTEMPTS = 6;

export function emptyResult(): BatchResult {
  return { delta: emptyAggregates(), created: 0, replaced: 0, unchanged: 0, stale: 0, quarantined: 0, transactions: 0, stored: [] };
}

function addInto(target: BatchResult, other: BatchResult): BatchResult {
  for (const key of ['created', 'replaced', 'unchanged', 'stale', 'quarantined', 'transactions'] as const) target[key] += other[key];
  target.stored.push(...other.stored);
  target.delta.total += other.delta.total;
  for (const [column, values] of Object.entries(other.delta.by)) {
    for (const [value, n] of Object.entries(values)) {
      const byValue = (target.delta.by[column] ??= {});
      byValue[value] = (byValue[value] ?? 0) + n;
      if (byValue[value] === 0) delete byValue[value];
    }
  }
  return target;
}

/** Writes one batch; `insertFirst` tries plain inserts before reading. Returns what it did and whether rows existed. */
export async function writeBatch(ctx: BatchContext, batch: MappedRecord[], insertFirst: boolean): Promise<BatchResult & { sawExisting: boolean }> {
  try {
    if (insertFirst) {
      const inserted = await tryInsertAll(ctx, batch);
      if (inserted) return { ...inserted, sawExisting: false };
      // Some row existed, or the insert committed and its answer was lost (the SDK's retry then conflicted with it).
      return { ...(await readAndWrite(ctx, batch, new Map(batch.map((r) => [String(r.entity.rowKey), {}])), true)), sawExisting: true };
    }
    return { ...(await readAndWrite(ctx, batch)), sawExisting: true };
  } catch (error) {
    if (!refusedForContent(error)) throw error;
    return { ...(await bisect(ctx, batch, error)), sawExisting: true };
  }
}

/** A backfill's batch: all rows new, no reads; undefined when some row existed (then the batch is read and decided). */
async function tryInsertAll(ctx: BatchContext, batch: MappedRecord[]): Promise<BatchResult | undefined> {
  const result = emptyResult();
  await ctx.beforeWrite?.();
  result.transactions++;
  try {
    await ctx.client.submitTransaction(batch.map((r): TransactionAction => ['create', r.entity]));
  } catch (error) {
    if (isStatus(error, 409)) return undefined;
    throw error;
  }
  for (const r of batch) count(result.delta, r.aggregates, 1);
  result.created = batch.length;
  result.stored = batch.map((r) => String(r.entity.rowKey));
  await writeChangeRows(
    ctx,
    batch.map((r) => changeRowOf(ctx.collection, ctx.changes?.tenantId ?? '', r, undefined, ctx.now(), ctx.changes?.runId ?? '')),
  );
  return result;
}

async function readAndWrite(
  ctx: BatchContext,
  batch: MappedRecord[],
  attempted?: Map<string, { old?: Prior }>,
  insertedFirst = false,
): Promise<BatchResult> {
  /** What the last attempt meant to write, by RowKey: applied if its answer was lost but it committed. */
  let intended = attempted;
  for (let attempt = 1; ; attempt++) {
    const result = emptyResult();
    const prior = await readPrior(ctx, batch);
    if (intended && intended.size > 0 && batch.every((r, i) => !intended!.has(String(r.entity.rowKey)) || prior[i]?.syncedAt === syncedAtOf(r))) {
      // Every row the last transaction wrote holds its version: it committed, its answer was lost. Plain inserts had
      // not written their change rows yet.
      if (insertedFirst)
        await writeChangeRows(
          ctx,
          batch.map((r) => changeRowOf(ctx.collection, ctx.changes?.tenantId ?? '', r, undefined, ctx.now(), ctx.changes?.runId ?? '')),
        );
      return applied(batch, intended, result);
    }
    const actions: TransactionAction[] = [];
    const changes: (ChangeRow | undefined)[] = [];
    const writes = new Map<string, { old?: Prior }>();
    const repairs: MappedRecord[] = [];
    batch.forEach((r, i) => {
      const p = prior[i];
      const key = String(r.entity.rowKey);
      if (!p) {
        actions.push(['create', r.entity]);
        writes.set(key, {});
        changes.push(changeRowOf(ctx.collection, ctx.changes?.tenantId ?? '', r, undefined, ctx.now(), ctx.changes?.runId ?? ''));
      } else if (p.hash === r.hash) {
        result.unchanged++;
        if (ctx.repairSince && p.syncedAt && p.syncedAt >= ctx.repairSince) repairs.push(r);
      } else if (p.cursor !== undefined && r.cursor !== undefined && p.cursor > r.cursor) {
        result.stale++;
      } else {
        actions.push(['update', r.entity, 'Replace', { etag: p.etag }]);
        writes.set(key, { old: p });
        changes.push(changeRowOf(ctx.collection, ctx.changes?.tenantId ?? '', r, p.tracked, ctx.now(), ctx.changes?.runId ?? ''));
      }
    });
    if (repairs.length > 0) await repairCreated(ctx, repairs);
    if (actions.length === 0) return result;
    // The change rows first: a kill before the data is repaired by the next read (the data row is still the old one).
    await writeChangeRows(ctx, changes);
    await ctx.beforeWrite?.();
    result.transactions++;
    try {
      await ctx.client.submitTransaction(actions);
    } catch (error) {
      // Another writer got there first (or our own answer was lost): read again and decide again.
      if (isStatus(error, 409, 412) && attempt < ATTEMPTS) {
        intended = writes;
        insertedFirst = false;
        continue;
      }
      throw error;
    }
    return applied(batch, writes, result);
  }
}

function applied(batch: MappedRecord[], writes: Map<string, { old?: Prior }>, result: BatchResult): BatchResult {
  for (const r of batch) {
    const key = String(r.entity.rowKey);
    const w = writes.get(key);
    if (!w) continue;
    if (w.old) {
      count(result.delta, w.old.counted, -1, false);
      count(result.delta, r.aggregates, 1, false);
      result.replaced++;
    } else {
      count(result.delta, r.aggregates, 1);
      result.created++;
    }
    result.stored.push(key);
  }
  return result;
}

/** Rows a backfill that died may have stored without their `created` change row: create it, leaving any existing one. */
async function repairCreated(ctx: BatchContext, rows: MappedRecord[]): Promise<void> {
  if (!ctx.changes) return;
  const changes = rows
    .map((r) => changeRowOf(ctx.collection, ctx.changes!.tenantId, r, undefined, ctx.now(), ctx.changes!.runId))
    .filter((c) => c !== undefined);
  await pMap(
    changes,
    async (row) => {
      try {
        await ctx.changes!.table.createEntity(row);
      } catch (error) {
        if (!isStatus(error, 409)) throw error;
      }
    },
    { concurrency: 8 },
  );
}

async function writeChangeRows(ctx: BatchContext, rows: (ChangeRow | undefined)[]): Promise<void> {
  if (!ctx.changes) return;
  const list = rows.filter((r): r is ChangeRow => r !== undefined);
  if (list.length > 0) await writeChanges(ctx.changes.table, list);
}

/**
 * The stored version of each row of the batch: point reads (in Azure they cost the same whatever the partition's
 * size, whereas a filter of `RowKey eq a or RowKey eq b ...` scans the partition), only the columns that decide.
 */
async function readPrior(ctx: BatchContext, batch: MappedRecord[]): Promise<(Prior | undefined)[]> {
  const { collection } = ctx;
  const select = [...new Set([...collection.aggregateBy, ...collection.tracked, collection.cursor, 'syncedAt', 'recordHash'])];
  return pMap(
    batch,
    async ({ entity }) => {
      try {
        const row = await ctx.client.getEntity<Record<string, unknown>>(entity.partitionKey, entity.rowKey, {
          queryOptions: { select },
          disableTypeConversion: true,
        });
        const text = (v: unknown) => (v && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v);
        const tracked: Record<string, string | null> = {};
        for (const p of collection.tracked) tracked[p] = typeof text(row[p]) === 'string' ? (text(row[p]) as string) : null;
        return {
          etag: String(row.etag),
          cursor: normalizeDateTime(text(row[collection.cursor])),
          hash: typeof text(row.recordHash) === 'string' ? (text(row.recordHash) as string) : undefined,
          syncedAt: normalizeDateTime(text(row.syncedAt)),
          counted: Object.fromEntries(collection.aggregateBy.map((c) => [c, countedValue(text(row[c]))])),
          tracked,
        };
      } catch (error) {
        if (isStatus(error, 404)) return undefined;
        throw error;
      }
    },
    { concurrency: 16 },
  );
}

function syncedAtOf(record: MappedRecord): string | undefined {
  const value = record.entity.syncedAt;
  return normalizeDateTime(value && typeof value === 'object' ? value.value : value);
}

/** Table Storage refused the transaction for what it holds (not for a condition, a throttle or an outage). */
function refusedForContent(error: unknown): boolean {
  return isStatus(error, 400, 413);
}

function describe(error: unknown): string {
  const e = error as { statusCode?: number; code?: string; message?: string };
  const first = String(e.message ?? error)
    .split('\n', 1)[0]!
    .slice(0, 500);
  return `Table Storage refused the record (${e.statusCode ?? '?'}${e.code ? ` ${e.code}` : ''}): ${first}`;
}

/** Halves a batch Table Storage refused until the record at fault is alone, and quarantines that one. */
async function bisect(ctx: BatchContext, batch: MappedRecord[], error: unknown): Promise<BatchResult> {
  if (batch.length === 1) {
    if (!ctx.quarantine) throw error;
    await ctx.quarantine(batch[0]!, describe(error));
    return { ...emptyResult(), quarantined: 1 };
  }
  const half = Math.ceil(batch.length / 2);
  const total = emptyResult();
  for (const part of [batch.slice(0, half), batch.slice(half)]) {
    try {
      addInto(total, await readAndWrite(ctx, part));
    } catch (inner) {
      if (!refusedForContent(inner)) throw inner;
      addInto(total, await bisect(ctx, part, inner));
    }
  }
  return total;
}
