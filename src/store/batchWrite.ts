import type { TableClient, TransactionAction } from '@azure/data-tables';
import pMap from 'p-map';
import { count, countedValue, emptyAggregates, type Aggregates } from '../domain/aggregates';
import type { CollectionDefinition } from '../domain/collection';
import { normalizeDateTime } from '../domain/datetime';
import { changeRowOf, writeChanges, type ChangeRow } from './changes';
import { idOfRowKey, type MappedRecord } from './entityMapping';
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
 * is first tried as plain inserts, change rows and rows, without reads; a record that turns out to exist is read and
 * decided as above, and the `created` row guessed for it corrected.
 *
 * A transaction that Table Storage refuses for its content (400, 413) is split in halves until the record at fault is
 * alone; that record goes to quarantine: a record is never the reason a batch or a run fails.
 */
export interface BatchContext {
  client: TableClient;
  collection: CollectionDefinition;
  changes?: { table: TableClient; tenantId: string; runId: string };
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
      if (inserted.done) return { ...inserted.done, sawExisting: false };
      // Some row existed, or the insert committed and its answer was lost (the SDK's retry then conflicted with it).
      const attempted = new Map(batch.map((r) => [String(r.entity.rowKey), {}]));
      return readAndWrite(ctx, batch, { attempted, speculative: inserted.speculative });
    }
    return readAndWrite(ctx, batch);
  } catch (error) {
    if (!refusedForContent(error)) throw error;
    return { ...(await bisect(ctx, batch, error)), sawExisting: true };
  }
}

/**
 * A backfill's batch, as plain inserts without reads: the `created` change rows first, as inserts too (so none that
 * exists is touched), then the rows. `done` when every row was new; otherwise the change rows it did create, which the
 * read that follows corrects (a `changed` row over them, or deletes them for a row whose stored version is newer).
 */
async function tryInsertAll(ctx: BatchContext, batch: MappedRecord[]): Promise<{ done?: BatchResult; speculative: ChangeRow[] }> {
  const result = emptyResult();
  const changes = batch.map((r) => changeRowOf(ctx.collection, ctx.changes?.tenantId ?? '', r, undefined, ctx.now(), ctx.changes?.runId ?? ''));
  const speculative = ctx.changes
    ? await insertChanges(
        ctx.changes.table,
        changes.filter((c): c is ChangeRow => c !== undefined),
      )
    : [];
  if (speculative === undefined) return { speculative: [] }; // a change row existed already: some record did
  await ctx.beforeWrite?.();
  result.transactions++;
  try {
    await ctx.client.submitTransaction(batch.map((r): TransactionAction => ['create', r.entity]));
  } catch (error) {
    if (isStatus(error, 409)) return { speculative };
    // Refused for its content (nothing written): the halves are written one by one (bisect), their change rows with
    // them. After any other failure the rows may have been written: their change rows stay.
    if (refusedForContent(error) && ctx.changes) {
      await Promise.all(speculative.map((c) => ctx.changes!.table.deleteEntity(c.partitionKey, c.rowKey).catch(() => undefined)));
    }
    throw error;
  }
  for (const r of batch) count(result.delta, r.aggregates, 1);
  result.created = batch.length;
  result.stored = batch.map((r) => String(r.entity.rowKey));
  return { done: result, speculative };
}

/** Inserts change rows, a transaction per partition; undefined (and nothing inserted) when one exists already. */
async function insertChanges(table: TableClient, rows: ChangeRow[]): Promise<ChangeRow[] | undefined> {
  const byPartition = new Map<string, ChangeRow[]>();
  for (const row of rows) byPartition.set(row.partitionKey, [...(byPartition.get(row.partitionKey) ?? []), row]);
  const inserted: ChangeRow[] = [];
  for (const list of byPartition.values()) {
    try {
      await table.submitTransaction(list.map((row): TransactionAction => ['create', row]));
      inserted.push(...list);
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
      // Undo the partitions inserted before: a row of this batch existed, the batch is read and decided instead.
      await Promise.all(inserted.map((row) => table.deleteEntity(row.partitionKey, row.rowKey).catch(() => undefined)));
      return undefined;
    }
  }
  return inserted;
}

async function readAndWrite(
  ctx: BatchContext,
  batch: MappedRecord[],
  from: { attempted?: Map<string, { old?: Prior }>; speculative?: ChangeRow[] } = {},
): Promise<BatchResult & { sawExisting: boolean }> {
  /** What the last attempt meant to write, by RowKey: applied if its answer was lost but it committed. */
  let intended = from.attempted;
  /** `created` change rows an insert attempt wrote for records that turn out to have existed: corrected below. */
  const speculative = new Map((from.speculative ?? []).map((c) => [String(c.recordId), c]));
  for (let attempt = 1; ; attempt++) {
    const result = emptyResult();
    const prior = await readPrior(ctx, batch);
    // Rows that were there before this batch (not our own write whose answer was lost).
    const sawExisting = prior.some((p, i) => p !== undefined && p.syncedAt !== syncedAtOf(batch[i]!));
    if (intended && intended.size > 0 && batch.every((r, i) => !intended!.has(String(r.entity.rowKey)) || prior[i]?.syncedAt === syncedAtOf(r))) {
      // Every row the last transaction wrote holds its version: it committed, its answer was lost.
      return { ...applied(batch, intended, result), sawExisting };
    }
    const actions: TransactionAction[] = [];
    const changes: (ChangeRow | undefined)[] = [];
    const writes = new Map<string, { old?: Prior }>();
    const wrongGuesses: ChangeRow[] = [];
    batch.forEach((r, i) => {
      const p = prior[i];
      const key = String(r.entity.rowKey);
      const guess = speculative.get(idOfRowKey(key));
      if (!p) {
        actions.push(['create', r.entity]);
        writes.set(key, {});
        if (!guess) changes.push(changeRowOf(ctx.collection, ctx.changes?.tenantId ?? '', r, undefined, ctx.now(), ctx.changes?.runId ?? ''));
      } else if (p.hash === r.hash) {
        result.unchanged++;
        if (guess) wrongGuesses.push(guess); // (can not happen: its change row existed, the insert of it failed)
      } else if (p.cursor !== undefined && r.cursor !== undefined && p.cursor > r.cursor) {
        result.stale++;
        if (guess) wrongGuesses.push(guess);
      } else {
        actions.push(['update', r.entity, 'Replace', { etag: p.etag }]);
        writes.set(key, { old: p });
        const change = changeRowOf(ctx.collection, ctx.changes?.tenantId ?? '', r, p.tracked, ctx.now(), ctx.changes?.runId ?? '');
        changes.push(change);
        if (guess && !change) wrongGuesses.push(guess); // only untracked properties changed: no change row for it
      }
    });
    speculative.clear();
    if (ctx.changes && wrongGuesses.length > 0) {
      await Promise.all(wrongGuesses.map((c) => ctx.changes!.table.deleteEntity(c.partitionKey, c.rowKey).catch(() => undefined)));
    }
    if (actions.length === 0) return { ...result, sawExisting };
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
        continue;
      }
      throw error;
    }
    return { ...applied(batch, writes, result), sawExisting };
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
