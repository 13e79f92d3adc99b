import { hostname } from 'node:os';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { emptyAggregates, type Aggregates } from '../domain/aggregates';
import { isStatus } from './tables';

/**
 * SyncState rows, PartitionKey = tenant id:
 * - `<collection>`: watermark, the checkpoint of the pass in progress, running counts, the last run;
 * - `<collection>.lease`: which run may write the collection now, until when (guarded by ETag).
 * Every write of the state row goes in one entity group transaction with an ETag-checked renewal of the lease, so a
 * run that lost its lease can not move the watermark or the checkpoint.
 */

export interface PassCheckpoint {
  /** The URL of the next page to read (a Graph next link, or the first page of a restarted pass). */
  nextLink: string;
  /** Lower bound of the pass filter (normalized datetime), absent for a pass over everything. */
  from?: string;
  /** Largest cursor among the records stored so far in this pass. */
  maxCursor?: string;
  pages: number;
  records: number;
  startedAt: string;
  runId: string;
}

export interface LastRun {
  runId: string;
  outcome: string;
  startedAt: string;
  finishedAt: string;
  records: number;
  error?: string;
}

export interface CollectionState {
  watermark?: string;
  pass?: PassCheckpoint;
  aggregates: Aggregates;
  /** Set while a run works on the collection; still set when that run did not end cleanly. */
  activeRunId?: string;
  activeRunKey?: string;
  /** The counts may be off (a run stopped between storing a page and its checkpoint): recount after the next pass. */
  recountNeeded?: boolean;
  lastRun?: LastRun;
  lastSuccessAt?: string;
}

export type LeaseResult = { acquired: true; state: CollectionState; stateExisted: boolean } | { acquired: false; holder: string; expiresAt: string };

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(collection: string) {
    super(`the lease on ${collection} was taken by another run (this run was paused longer than SYNC_LEASE_SECONDS): stopping without writing`);
  }
}

type Row = Record<string, unknown> & { etag?: string };

export class CollectionStateStore {
  private leaseEtag?: string;
  private runId?: string;
  private queue: Promise<unknown> = Promise.resolve();
  private heartbeat?: NodeJS.Timeout;
  private nextCheckpoint?: StateRow;
  private checkpointing?: Promise<void>;
  private checkpointError: unknown;

  constructor(
    private readonly client: TableClient,
    private readonly tenantId: string,
    readonly collection: string,
    private readonly leaseMs: number,
  ) {}

  private get leaseKey() {
    return `${this.collection}.lease`;
  }

  /** Reads the state without taking the lease (status, snapshot). */
  async read(): Promise<CollectionState> {
    const row = await this.getRow(this.collection);
    return row ? decodeState(row) : { aggregates: emptyAggregates() };
  }

  async tryAcquire(runId: string): Promise<LeaseResult> {
    const now = Date.now();
    const lease = {
      partitionKey: this.tenantId,
      rowKey: this.leaseKey,
      runId,
      host: hostname(),
      pid: process.pid,
      acquiredAt: new Date(now),
      expiresAt: new Date(now + this.leaseMs),
    };
    const current = await this.getRow(this.leaseKey);
    try {
      if (!current) {
        this.leaseEtag = (await this.client.createEntity(lease)).etag;
      } else {
        const expiresAt = new Date(String(current.expiresAt)).getTime();
        if (expiresAt > now && current.runId !== runId) {
          return { acquired: false, holder: `${current.runId} (${current.host}, pid ${current.pid})`, expiresAt: new Date(expiresAt).toISOString() };
        }
        this.leaseEtag = (await this.client.updateEntity(lease, 'Replace', { etag: current.etag })).etag;
      }
    } catch (error) {
      if (!isStatus(error, 409, 412)) throw error;
      const winner = await this.getRow(this.leaseKey);
      // Our own write, whose answer was lost: the SDK's retry of it conflicted with it. The lease is ours.
      if (winner?.runId !== runId || typeof winner.etag !== 'string') {
        return { acquired: false, holder: String(winner?.runId ?? 'another run'), expiresAt: String(winner?.expiresAt ?? '') };
      }
      this.leaseEtag = winner.etag;
    }
    this.runId = runId;
    const row = await this.getRow(this.collection);
    this.heartbeat = setInterval(() => void this.renew().catch(() => undefined), Math.max(1000, this.leaseMs / 3));
    this.heartbeat.unref();
    return { acquired: true, state: row ? decodeState(row) : { aggregates: emptyAggregates() }, stateExisted: Boolean(row) };
  }

  /** Writes the state together with a renewal of our lease; fails with LeaseLostError if the lease is gone. */
  save(state: CollectionState): Promise<void> {
    const row = encodeState(this.tenantId, this.collection, state);
    this.nextCheckpoint = undefined; // this state is newer
    return this.serialized(() => this.writeWithLease(row, Date.now() + this.leaseMs));
  }

  /**
   * Saves the state as it is now, in the background: while a checkpoint is being written, only the newest state
   * waits for its turn. A failure stops the checkpoints; `throwIfCheckpointFailed` throws it.
   */
  checkpoint(state: CollectionState): void {
    if (this.checkpointError !== undefined) return;
    this.nextCheckpoint = encodeState(this.tenantId, this.collection, state);
    this.checkpointing ??= this.writeCheckpoints();
  }

  throwIfCheckpointFailed(): void {
    if (this.checkpointError !== undefined) throw this.checkpointError;
  }

  private async writeCheckpoints(): Promise<void> {
    try {
      while (this.nextCheckpoint) {
        const row = this.nextCheckpoint;
        this.nextCheckpoint = undefined;
        await this.serialized(() => this.writeWithLease(row, Date.now() + this.leaseMs));
      }
    } catch (error) {
      this.checkpointError = error;
      this.nextCheckpoint = undefined;
    } finally {
      this.checkpointing = undefined;
    }
  }

  /** Writes the final state and gives the lease up, in one transaction. */
  async release(state: CollectionState): Promise<void> {
    clearInterval(this.heartbeat);
    const row = encodeState(this.tenantId, this.collection, state);
    this.nextCheckpoint = undefined;
    await this.checkpointing; // a checkpoint that failed is superseded by this state
    await this.serialized(() => this.writeWithLease(row, Date.now()));
  }

  /** Stops renewing without writing (the run failed to write; the lease runs out by itself). */
  abandon(): void {
    clearInterval(this.heartbeat);
  }

  private renew(): Promise<void> {
    return this.serialized(async () => {
      const lease = { partitionKey: this.tenantId, rowKey: this.leaseKey, expiresAt: new Date(Date.now() + this.leaseMs) };
      try {
        this.leaseEtag = (await this.client.updateEntity(lease, 'Merge', { etag: this.leaseEtag })).etag;
      } catch (error) {
        if (isStatus(error, 412) && (await this.stillOurs())) return;
        if (isStatus(error, 412, 404)) clearInterval(this.heartbeat);
        throw error;
      }
    });
  }

  /**
   * After a 412 on our lease: whether the lease is still ours, its ETag having moved only by a write of ours whose
   * answer was lost (the SDK retried it, and the retry no longer matched). Another run that takes the lease writes its
   * own run id. When still ours, the current ETag is adopted.
   */
  private async stillOurs(): Promise<boolean> {
    const lease = await this.getRow(this.leaseKey);
    if (!this.runId || lease?.runId !== this.runId || typeof lease.etag !== 'string') return false;
    this.leaseEtag = lease.etag;
    return true;
  }

  private async writeWithLease(row: StateRow, leaseUntil: number, retried = false): Promise<void> {
    const actions: TransactionAction[] = [
      ['update', { partitionKey: this.tenantId, rowKey: this.leaseKey, expiresAt: new Date(leaseUntil) }, 'Merge', { etag: this.leaseEtag }],
      ['upsert', row, 'Replace'],
    ];
    try {
      const response = await this.client.submitTransaction(actions);
      // The lease update is the first action of the transaction.
      this.leaseEtag = response.subResponses[0]?.etag ?? (await this.getRow(this.leaseKey))?.etag;
    } catch (error) {
      // The transaction (idempotent: a Replace and a lease renewal) is written again when the lease is still ours.
      if (isStatus(error, 412) && !retried && (await this.stillOurs())) return this.writeWithLease(row, leaseUntil, true);
      if (isStatus(error, 412, 404)) {
        clearInterval(this.heartbeat);
        throw new LeaseLostError(this.collection);
      }
      throw error;
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async getRow(rowKey: string): Promise<Row | undefined> {
    try {
      return await this.client.getEntity<Row>(this.tenantId, rowKey, { disableTypeConversion: true }).then(unwrapRow);
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }
}

function unwrapRow(row: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = v && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v;
  return out;
}

const dt = (value: string | undefined) => (value ? { value, type: 'DateTime' as const } : undefined);

type StateRow = { partitionKey: string; rowKey: string };

function encodeState(tenantId: string, collection: string, s: CollectionState): StateRow {
  const entity: Record<string, unknown> = {
    partitionKey: tenantId,
    rowKey: collection,
    tenantId,
    collection,
    watermark: dt(s.watermark),
    aggregatesJson: JSON.stringify(s.aggregates),
    activeRunId: s.activeRunId,
    activeRunKey: s.activeRunKey,
    recountNeeded: s.recountNeeded ?? false,
    lastSuccessAt: dt(s.lastSuccessAt),
  };
  if (s.pass) {
    Object.assign(entity, {
      passNextLink: s.pass.nextLink,
      passFrom: dt(s.pass.from),
      passMaxCursor: dt(s.pass.maxCursor),
      passPages: s.pass.pages,
      passRecords: s.pass.records,
      passStartedAt: dt(s.pass.startedAt),
      passRunId: s.pass.runId,
    });
  }
  if (s.lastRun) {
    Object.assign(entity, {
      lastRunId: s.lastRun.runId,
      lastOutcome: s.lastRun.outcome,
      lastStartedAt: dt(s.lastRun.startedAt),
      lastFinishedAt: dt(s.lastRun.finishedAt),
      lastRecords: s.lastRun.records,
      lastError: s.lastRun.error?.slice(0, 8000),
    });
  }
  for (const key of Object.keys(entity)) if (entity[key] === undefined) delete entity[key];
  return entity as StateRow;
}

function decodeState(row: Row): CollectionState {
  const str = (k: string) => (typeof row[k] === 'string' && row[k] !== '' ? (row[k] as string) : undefined);
  const num = (k: string) => Number(row[k] ?? 0);
  const state: CollectionState = {
    watermark: str('watermark'),
    aggregates: str('aggregatesJson') ? (JSON.parse(str('aggregatesJson')!) as Aggregates) : emptyAggregates(),
    activeRunId: str('activeRunId'),
    activeRunKey: str('activeRunKey'),
    recountNeeded: row.recountNeeded === true || row.recountNeeded === 'true',
    lastSuccessAt: str('lastSuccessAt'),
  };
  if (str('passNextLink')) {
    state.pass = {
      nextLink: str('passNextLink')!,
      from: str('passFrom'),
      maxCursor: str('passMaxCursor'),
      pages: num('passPages'),
      records: num('passRecords'),
      startedAt: str('passStartedAt') ?? new Date().toISOString(),
      runId: str('passRunId') ?? '',
    };
  }
  if (str('lastRunId')) {
    state.lastRun = {
      runId: str('lastRunId')!,
      outcome: str('lastOutcome') ?? 'unknown',
      startedAt: str('lastStartedAt') ?? '',
      finishedAt: str('lastFinishedAt') ?? '',
      records: num('lastRecords'),
      error: str('lastError'),
    };
  }
  return state;
}
