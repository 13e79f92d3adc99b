import type { TableClient } from '@azure/data-tables';
import type { Aggregates } from '../domain/aggregates';
import type { CollectionDefinition } from '../domain/collection';
import { writeBatch, type BatchContext } from './batchWrite';
import type { MappedRecord } from './entityMapping';

export interface EntityWriterOptions {
  collection: CollectionDefinition;
  /** Transactions in flight at once (default 4). */
  parallelism?: number;
  /** After each committed transaction: how the collection's counts changed, and how many rows were new or replaced. */
  onCommitted?: (delta: Aggregates, rows: { created: number; replaced: number }) => void;
  /** When every row of pages 0..page is stored; called once per page, in page order. */
  onStored?: (page: number) => void;
  /** Rows that now hold the version this writer was given (their RowKeys). */
  onRowsStored?: (rowKeys: string[]) => void;
  /**
   * Rows waiting for a full transaction are written anyway once the store has had nothing else to do for this long
   * (ms, default 50): at Graph's pace the store is idle most of each second, and a held row would only make the run
   * end later.
   */
  idleFlushMs?: number;
  /** Awaited before each transaction is sent; a rejection stops the writer (a run that lost its lease). */
  beforeWrite?: () => Promise<void>;
  /** Where the change rows go, for collections with tracked properties. */
  changes?: BatchContext['changes'];
  /**
   * A backfill: write plain inserts, without reads, while the batches come out all new (the writer reads first after a
   * batch that met rows that exist, and goes back to inserts after one that met none).
   */
  insertFirst?: boolean;
  /** Where a record Table Storage refuses goes; without it such a record fails the run. */
  quarantine?: BatchContext['quarantine'];
  now?: () => string;
}

/** An entity group transaction holds at most 100 operations and 4 MiB. */
const MAX_BATCH = 100;
/** Bytes as sent (UTF-8 JSON of the entities), with room for each operation's MIME headers and URL. */
const MAX_BATCH_BYTES = 3.8 * 1024 * 1024;
const OPERATION_OVERHEAD = 600;
/** Pages whose rows may be unfinished when add() returns: the page just added and the one before it. */
const PAGES_AHEAD = 2;

interface Row {
  record: MappedRecord;
  /** The page that added the row first (a later version of the same id replaces the record, not the page). */
  page: number;
  key: string;
}

/**
 * Upserts pages of records by id, through one pool of entity group transactions that runs across page boundaries:
 * while the last transactions of a page are in flight, the next page's rows are already queued. Rows wait per
 * partition until they fill a transaction (100 rows, the same PartitionKey); a partition's rows from an earlier page
 * than the newest, or rows waiting while the store has nothing to do, are written as they are, so at most two pages
 * are ever unfinished. `onStored(n)` says when pages
 * 0..n are all stored: the engine checkpoints there.
 *
 * Each transaction is first tried as inserts: when all rows are new (a backfill) that one transaction is all it
 * costs and the counts follow from the new values; when some exist, their counted values are read and the batch is
 * upserted (Replace, so properties Graph dropped are dropped here too). Two versions of one row are never in flight
 * together: the later waits for the earlier.
 */
export class EntityWriter {
  /** Entity group transactions submitted (an insert that conflicted and its upsert are two). */
  transactions = 0;
  /** A transaction failed: rows may be stored without being counted. */
  uncertain = false;
  /** Rows stored for the first time. */
  created = 0;
  /** Rows replaced by another version of their record. */
  replaced = 0;
  /** Records that were stored as they are already (nothing written). */
  unchanged = 0;
  /** Records older than the version stored (never written over it). */
  stale = 0;
  /** Records Table Storage refused, now in quarantine. */
  quarantined = 0;

  private readonly parallelism: number;
  private failure: unknown;
  private pages = 0;
  private storedThrough = -1;
  /** Rows not yet stored, by page. */
  private readonly unstored = new Map<number, number>();
  /** Rows waiting for their transaction: PartitionKey -> RowKey -> row. */
  private readonly held = new Map<string, Map<string, Row>>();
  private readonly queue: Row[][] = [];
  /** Keys of the rows in flight. */
  private readonly busy = new Set<string>();
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private idleTimer?: NodeJS.Timeout;
  /** The next batch is tried as plain inserts. */
  private insertFirst: boolean;
  private readonly mayInsertFirst: boolean;
  private stopped = false;
  private readonly context: BatchContext;

  constructor(
    client: TableClient,
    private readonly options: EntityWriterOptions,
  ) {
    this.parallelism = options.parallelism ?? 4;
    this.mayInsertFirst = this.insertFirst = options.insertFirst ?? true;
    this.context = {
      client,
      collection: options.collection,
      changes: options.changes,
      quarantine: options.quarantine,
      beforeWrite: options.beforeWrite,
      now: options.now ?? (() => new Date().toISOString()),
    };
  }

  /** The number the next page added gets (0, 1, 2, ...). */
  get nextPage(): number {
    return this.pages;
  }

  /**
   * Queues a page's records and returns its number once there is room for another page (the page before the previous
   * one is stored). Throws the first failed transaction's error.
   */
  async add(records: MappedRecord[]): Promise<number> {
    this.throwIfFailed();
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const page = this.pages++;
    let added = 0;
    for (const record of records) {
      const { partitionKey, rowKey } = record.entity;
      let rows = this.held.get(partitionKey);
      if (!rows) this.held.set(partitionKey, (rows = new Map()));
      const seen = rows.get(rowKey);
      if (seen) {
        // The same id twice before it was written: the version with the later cursor is stored (the later read on a tie).
        if ((record.cursor ?? '') >= (seen.record.cursor ?? '')) seen.record = record;
        continue;
      }
      rows.set(rowKey, { record, page, key: `${partitionKey}\n${rowKey}` });
      added++;
    }
    this.unstored.set(page, added);
    for (const [partition, rows] of this.held) this.cut(partition, rows, (oldest) => oldest < page);
    this.advance();
    this.pump();
    this.flushWhenIdle();
    await this.until(() => this.storedThrough >= page - PAGES_AHEAD);
    return page;
  }

  /** Writes every row still waiting and resolves when all are stored; throws the first failed transaction's error. */
  async flush(): Promise<void> {
    clearTimeout(this.idleTimer);
    for (const [partition, rows] of this.held) this.cut(partition, rows, () => true);
    this.pump();
    await this.until(() => this.inFlight === 0 && this.queue.length === 0);
  }

  /**
   * Starts no transaction any more (rows still waiting are not written: their pages were never reported stored) and
   * resolves when the ones in flight have landed. A run that ends early calls it before it saves its counts, so that
   * no write can land after them uncounted.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    await this.settle();
  }

  /** Resolves when no transaction is in flight any more (after a failure: nothing new starts). */
  async settle(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Moves a partition's rows into transactions: every full one, and the rest too when `flushRest(oldest page)`. */
  private cut(partition: string, rows: Map<string, Row>, flushRest: (oldestPage: number) => boolean): void {
    let batch: Row[] = [];
    let bytes = 0;
    const emit = () => {
      for (const row of batch) rows.delete(row.record.entity.rowKey);
      this.queue.push(batch);
      batch = [];
      bytes = 0;
    };
    for (const row of rows.values()) {
      const size = row.record.bytes + OPERATION_OVERHEAD + 3 * String(row.record.entity.rowKey).length;
      if (batch.length === MAX_BATCH || (batch.length > 0 && bytes + size > MAX_BATCH_BYTES)) emit();
      batch.push(row);
      bytes += size;
    }
    if (batch.length === MAX_BATCH || (batch.length > 0 && flushRest(batch[0]!.page))) emit();
    if (rows.size === 0) this.held.delete(partition);
  }

  /** Starts queued transactions while there is room, in order, except one that holds a row still in flight. */
  private pump(): void {
    let blocked: Set<string> | undefined;
    for (let i = 0; i < this.queue.length && this.inFlight < this.parallelism && this.failure === undefined && !this.stopped;) {
      const batch = this.queue[i]!;
      if (batch.some((row) => this.busy.has(row.key) || blocked?.has(row.key))) {
        blocked ??= new Set();
        for (const row of batch) blocked.add(row.key);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(batch);
    }
  }

  private start(batch: Row[]): void {
    this.inFlight++;
    for (const row of batch) this.busy.add(row.key);
    void this.write(batch.map((row) => row.record))
      .then(
        ({ delta, created, replaced, unchanged, stale, quarantined, stored }) => {
          this.created += created;
          this.replaced += replaced;
          this.unchanged += unchanged;
          this.stale += stale;
          this.quarantined += quarantined;
          this.options.onCommitted?.(delta, { created, replaced });
          if (stored.length > 0) this.options.onRowsStored?.(stored);
          for (const row of batch) this.unstored.set(row.page, this.unstored.get(row.page)! - 1);
          this.advance();
        },
        (error: unknown) => {
          this.failure ??= error;
          this.uncertain = true;
        },
      )
      .catch((error: unknown) => (this.failure ??= error)) // a callback that threw
      .finally(() => {
        this.inFlight--;
        for (const row of batch) this.busy.delete(row.key);
        this.pump();
        this.flushWhenIdle();
        const waiters = this.waiters;
        this.waiters = [];
        for (const wake of waiters) wake();
      });
  }

  private flushWhenIdle(): void {
    if (this.idleTimer || this.stopped || this.inFlight > 0 || this.queue.length > 0 || this.held.size === 0 || this.failure !== undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.inFlight > 0 || this.queue.length > 0) return;
      for (const [partition, rows] of this.held) this.cut(partition, rows, () => true);
      this.pump();
    }, this.options.idleFlushMs ?? 50);
    this.idleTimer.unref();
  }

  private advance(): void {
    while (this.unstored.get(this.storedThrough + 1) === 0) {
      this.unstored.delete(++this.storedThrough);
      this.options.onStored?.(this.storedThrough);
    }
  }

  private async until(condition: () => boolean): Promise<void> {
    for (;;) {
      this.throwIfFailed();
      if (condition()) return;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async write(batch: MappedRecord[]) {
    const result = await writeBatch(this.context, batch, this.insertFirst);
    this.transactions += result.transactions;
    this.insertFirst = this.mayInsertFirst && !result.sawExisting;
    return result;
  }
}
