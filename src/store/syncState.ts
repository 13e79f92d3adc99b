import { performance } from 'node:perf_hooks';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { emptyAggregates, type Aggregates } from '../domain/aggregates';
import type { Clock } from '../domain/clock';
import type { PassPlan } from '../domain/pass';
import { optionalDateTime, wireRow } from './edm';
import { judgeLease, thisProcess, writtenBy, type ProcessIdentity } from './lease';
import { isStatus, isTableBeingDeleted } from './tables';

/**
 * SyncState rows, PartitionKey = tenant id:
 * - `<collection>`: watermark, the plan of the pass in progress (its checkpoint), running counts, the last run, the
 *   last sweep, the tenant's access to the collection (licence, permission);
 * - `<collection>.lease`: which run may write the collection now (see ./lease.ts; guarded by ETag).
 * Every write of the state row goes in one entity group transaction with an ETag-checked renewal of the lease, so a
 * run that lost its lease can not move the watermark or the checkpoint. A holder also stops writing by itself once
 * its own monotonic clock says the lease may have run out (`assertHeld`).
 */

export interface LastRun {
  runId: string;
  outcome: string;
  startedAt: string;
  finishedAt: string;
  read: number;
  error?: string;
}

/** The tenant can not read the collection: no licence for it, or a missing permission (403s that do not heal by retrying). */
export interface AccessBlock {
  state: 'unlicensed' | 'forbidden';
  code: string;
  message: string;
  /** What to do about it (the licence to buy, the permission to grant). */
  action: string;
  /** When Graph last said so. */
  checkedAt: string;
}

export interface LastSweep {
  finishedAt: string;
  /** Rows the sweep stored new or changed: what the ordinary runs had missed (how late the tenant's data really is). */
  found: number;
  runId: string;
}

export interface CollectionState {
  watermark?: string;
  pass?: PassPlan;
  aggregates: Aggregates;
  /** Set while a run works on the collection; still set when that run did not end cleanly. */
  activeRunId?: string;
  activeRunKey?: string;
  /** The counts may be off (a run stopped between storing rows and counting them): recount after the next pass. */
  recountNeeded?: boolean;
  lastRun?: LastRun;
  lastSuccessAt?: string;
  lastSweep?: LastSweep;
  access?: AccessBlock;
  /** `P1` when the last pass saw premium detections as Entra ID P1 serves them (generic, hidden risk). */
  dataShape?: string;
  /** Rows of the quarantine table for this collection (records that could not be stored). */
  quarantined?: number;
  /** How far the counts were off when they were last recounted (0: they were exact). */
  lastRecountDrift?: number;
  /**
   * A child collection: the parents whose children the last pass stored although their rows are not older than the
   * watermark (written in the seconds before it), as fingerprints of their key and Timestamp (src/sync/children.ts).
   */
  childrenSeen?: string[];
}

export type LeaseResult =
  | { acquired: true; state: CollectionState; stateExisted: boolean; takenFrom?: 'expired' | 'dead-process' }
  | { acquired: false; holder: string; expiresAt: string; holderRunId?: string };

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(collection: string, options?: { cause?: unknown }) {
    super(
      `the lease on ${collection} was taken by another run, or may have run out (this run was paused longer than SYNC_LEASE_SECONDS): stopping without writing`,
      options,
    );
  }
}

export interface StateStoreOptions {
  leaseMs: number;
  clock: Clock;
  process?: ProcessIdentity;
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
  /** performance.now() when the last renewal that succeeded was sent. */
  private renewedAt = -Infinity;
  private readonly leaseMs: number;
  private readonly clock: Clock;
  private readonly process: ProcessIdentity;

  constructor(
    private readonly client: TableClient,
    private readonly tenantId: string,
    readonly collection: string,
    options: StateStoreOptions,
  ) {
    this.leaseMs = options.leaseMs;
    this.clock = options.clock;
    this.process = options.process ?? thisProcess;
  }

  private get leaseKey() {
    return `${this.collection}.lease`;
  }

  /** Reads the state without taking the lease (status, snapshot). */
  async read(): Promise<CollectionState> {
    const { row } = await this.getRow(this.collection);
    return row ? decodeState(row) : { aggregates: emptyAggregates() };
  }

  /**
   * Takes the lease, with the state it guards. The lease row is read first; then the state row is read while the lease
   * is written, on the condition that its ETag is still the one read. Every write of the state moves that ETag in the
   * same transaction, so once the lease is written the state read after it is the one the lease now guards, whichever
   * of the two Table Storage served first.
   *
   * `before` is awaited after the lease row is read and before anything is judged or written (the tables check, the
   * CLI's credential check, running meanwhile). What was read may have moved on while it waited: a lease found taken,
   * or a write that no longer matches, is tried once more from fresh reads.
   */
  async tryAcquire(runId: string, options: { before?: PromiseLike<unknown> } = {}): Promise<LeaseResult> {
    const { row: current, serverDate } = await this.getRow(this.leaseKey);
    const stateRead = this.getRow(this.collection);
    stateRead.catch(() => undefined); // awaited once the lease is ours
    const waited = options.before !== undefined;
    if (waited) await options.before;
    const verdict = judgeLease(current as Parameters<typeof judgeLease>[0], {
      runId,
      leaseMs: this.leaseMs,
      serverDate,
      now: this.clock.now(),
      process: this.process,
    });
    if (!verdict.free) {
      if (waited) return this.tryAcquire(runId);
      return {
        acquired: false,
        holder: `${current!.runId} (${current!.host}, pid ${current!.pid})`,
        expiresAt: String(current!.expiresAt ?? ''),
        holderRunId: String(current!.runId),
      };
    }
    const lease = {
      partitionKey: this.tenantId,
      rowKey: this.leaseKey,
      runId,
      host: this.process.host,
      pid: this.process.pid,
      pidStart: this.process.pidStart,
      acquiredAt: new Date(this.clock.now()),
      expiresAt: new Date(this.clock.now() + this.leaseMs),
      releasedAt: '',
    };
    const sentAt = performance.now();
    try {
      this.leaseEtag = current
        ? (await this.client.updateEntity(lease, 'Replace', { etag: current.etag })).etag
        : (await this.client.createEntity(lease)).etag;
    } catch (error) {
      if (!isStatus(error, 409, 412) || isTableBeingDeleted(error)) throw error;
      if (waited) return this.tryAcquire(runId);
      const { row: winner } = await this.getRow(this.leaseKey);
      // Our own write, whose answer was lost: the SDK's retry of it conflicted with it. The lease is ours.
      if (!writtenBy(winner, runId, this.process) || typeof winner?.etag !== 'string') {
        return {
          acquired: false,
          holder: String(winner?.runId ?? 'another run'),
          expiresAt: String(winner?.expiresAt ?? ''),
          ...(winner?.runId !== undefined && { holderRunId: String(winner.runId) }),
        };
      }
      this.leaseEtag = winner.etag;
    }
    this.renewedAt = sentAt;
    this.runId = runId;
    const { row: stateRow } = await stateRead;
    // Decoded before the heartbeat starts: a state that can not be read must not leave a lease renewed for ever.
    const state = stateRow ? decodeState(stateRow) : { aggregates: emptyAggregates() };
    this.heartbeat = setInterval(() => void this.renew().catch(() => undefined), Math.max(1000, this.leaseMs / 3));
    this.heartbeat.unref();
    const takenFrom = verdict.why === 'expired' || verdict.why === 'dead-process' ? verdict.why : undefined;
    return {
      acquired: true,
      state,
      stateExisted: Boolean(stateRow),
      ...(takenFrom && { takenFrom }),
    };
  }

  /**
   * Makes sure this run still holds the lease before it sends a write: when its last successful renewal is older than
   * half the lease by its own monotonic clock (a stalled process, a slow store), it renews first, and throws
   * LeaseLostError if another run has taken the lease meanwhile. Writers await it before each write.
   */
  async ensureHeld(): Promise<void> {
    if (performance.now() - this.renewedAt <= this.leaseMs / 2) return;
    try {
      await this.renew();
    } catch (error) {
      if (isStatus(error, 412, 404)) throw new LeaseLostError(this.collection, { cause: error });
      throw error;
    }
  }

  /** Writes the state together with a renewal of our lease; fails with LeaseLostError if the lease is gone. */
  save(state: CollectionState): Promise<void> {
    const row = encodeState(this.tenantId, this.collection, state);
    this.nextCheckpoint = undefined; // this state is newer
    return this.serialized(() => this.writeWithLease(row, false));
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
        await this.serialized(() => this.writeWithLease(row, false));
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
    await this.serialized(() => this.writeWithLease(row, true));
  }

  /** Stops renewing without writing (the run failed to write; the lease runs out by itself). */
  abandon(): void {
    clearInterval(this.heartbeat);
  }

  private renew(): Promise<void> {
    return this.serialized(async () => {
      const sentAt = performance.now();
      const lease = { partitionKey: this.tenantId, rowKey: this.leaseKey, expiresAt: new Date(this.clock.now() + this.leaseMs) };
      try {
        this.leaseEtag = (await this.client.updateEntity(lease, 'Merge', { etag: this.leaseEtag })).etag;
        this.renewedAt = sentAt;
      } catch (error) {
        if (isStatus(error, 412) && (await this.stillOurs())) {
          this.renewedAt = sentAt;
          return;
        }
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
    const { row: lease } = await this.getRow(this.leaseKey);
    if (!this.runId || lease?.runId !== this.runId || typeof lease.etag !== 'string' || lease.releasedAt) return false;
    this.leaseEtag = lease.etag;
    return true;
  }

  private async writeWithLease(row: StateRow, releasing: boolean, retried = false): Promise<void> {
    const sentAt = performance.now();
    const lease: Record<string, unknown> = {
      partitionKey: this.tenantId,
      rowKey: this.leaseKey,
      expiresAt: new Date(this.clock.now() + (releasing ? 0 : this.leaseMs)),
    };
    if (releasing) lease.releasedAt = new Date(this.clock.now()).toISOString();
    const actions: TransactionAction[] = [
      ['update', lease as { partitionKey: string; rowKey: string }, 'Merge', { etag: this.leaseEtag }],
      ['upsert', row, 'Replace'],
    ];
    try {
      const response = await this.client.submitTransaction(actions);
      // The lease update is the first action of the transaction.
      this.leaseEtag = response.subResponses[0]?.etag ?? (await this.getRow(this.leaseKey)).row?.etag;
      if (!releasing) this.renewedAt = sentAt;
    } catch (error) {
      // The transaction (idempotent: a Replace and a lease renewal) is written again when the lease is still ours.
      if (isStatus(error, 412) && !retried && (await this.stillOurs())) return this.writeWithLease(row, releasing, true);
      if (isStatus(error, 412, 404)) {
        clearInterval(this.heartbeat);
        throw new LeaseLostError(this.collection, { cause: error });
      }
      throw error;
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** A row and the Date of the answer that carried it (Table Storage's clock). */
  private async getRow(rowKey: string): Promise<{ row?: Row; serverDate?: string | null }> {
    let serverDate: string | null | undefined;
    try {
      const row = await this.client.getEntity<Row>(this.tenantId, rowKey, {
        disableTypeConversion: true,
        onResponse: (response) => {
          serverDate = response.headers.get('date');
        },
      });
      return { row: wireRow(row), serverDate };
    } catch (error) {
      if (isStatus(error, 404)) return { serverDate };
      throw error;
    }
  }
}

type StateRow = { partitionKey: string; rowKey: string };

function encodeState(tenantId: string, collection: string, s: CollectionState): StateRow {
  const entity: Record<string, unknown> = {
    partitionKey: tenantId,
    rowKey: collection,
    tenantId,
    collection,
    watermark: optionalDateTime(s.watermark),
    aggregatesJson: JSON.stringify(s.aggregates),
    activeRunId: s.activeRunId,
    activeRunKey: s.activeRunKey,
    recountNeeded: s.recountNeeded ?? false,
    lastSuccessAt: optionalDateTime(s.lastSuccessAt),
    dataShape: s.dataShape,
    quarantined: s.quarantined,
    lastRecountDrift: s.lastRecountDrift,
    childrenSeenJson: s.childrenSeen?.length ? JSON.stringify(s.childrenSeen) : undefined,
  };
  if (s.pass) {
    Object.assign(entity, {
      // The plan whole, for the engine; a few of its fields as columns, for people reading the table.
      passJson: JSON.stringify(s.pass),
      passKind: s.pass.kind,
      passStartedAt: optionalDateTime(normalizedIso(s.pass.startedAt)),
      passPages: s.pass.pages,
      passRecords: s.pass.records,
    });
  }
  if (s.lastRun) {
    Object.assign(entity, {
      lastRunId: s.lastRun.runId,
      lastOutcome: s.lastRun.outcome,
      lastStartedAt: optionalDateTime(normalizedIso(s.lastRun.startedAt)),
      lastFinishedAt: optionalDateTime(normalizedIso(s.lastRun.finishedAt)),
      lastRead: s.lastRun.read,
      lastError: s.lastRun.error?.slice(0, 8000),
    });
  }
  if (s.lastSweep) {
    Object.assign(entity, {
      lastSweepAt: optionalDateTime(normalizedIso(s.lastSweep.finishedAt)),
      lastSweepFound: s.lastSweep.found,
      lastSweepRunId: s.lastSweep.runId,
    });
  }
  if (s.access) {
    Object.assign(entity, {
      accessState: s.access.state,
      accessCode: s.access.code,
      accessMessage: s.access.message.slice(0, 2000),
      accessAction: s.access.action,
      accessCheckedAt: optionalDateTime(normalizedIso(s.access.checkedAt)),
    });
  }
  for (const key of Object.keys(entity)) if (entity[key] === undefined) delete entity[key];
  return entity as StateRow;
}

/** ISO strings from Date.toISOString() (3 digits) as Edm.DateTime values. */
function normalizedIso(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function decodeState(row: Row): CollectionState {
  const str = (k: string) => (typeof row[k] === 'string' && row[k] !== '' ? (row[k] as string) : undefined);
  const num = (k: string) => Number(row[k] ?? 0);
  const iso = (k: string) => (str(k) ? new Date(Date.parse(str(k)!)).toISOString() : undefined);
  const state: CollectionState = {
    watermark: str('watermark'),
    aggregates: str('aggregatesJson') ? (JSON.parse(str('aggregatesJson')!) as Aggregates) : emptyAggregates(),
    activeRunId: str('activeRunId'),
    activeRunKey: str('activeRunKey'),
    recountNeeded: row.recountNeeded === true || row.recountNeeded === 'true',
    lastSuccessAt: iso('lastSuccessAt'),
    dataShape: str('dataShape'),
    quarantined: row.quarantined === undefined ? undefined : num('quarantined'),
    lastRecountDrift: row.lastRecountDrift === undefined ? undefined : num('lastRecountDrift'),
  };
  if (str('childrenSeenJson')) state.childrenSeen = JSON.parse(str('childrenSeenJson')!) as string[];
  if (str('passJson')) state.pass = JSON.parse(str('passJson')!) as PassPlan;
  else if (str('passNextLink')) {
    // A checkpoint written before passes had windows: one open window from passFrom, resumed at its next link.
    state.pass = {
      kind: 'incremental',
      startedAt: iso('passStartedAt') ?? new Date(0).toISOString(),
      from: str('passFrom'),
      window: { from: str('passFrom') },
      pageSize: 500,
      nextLink: str('passNextLink'),
      observed: str('passMaxCursor'),
      pages: num('passPages'),
      records: num('passRecords'),
      windowPages: num('passPages'),
      restarts: 0,
      windowRunId: str('passRunId') ?? '',
      found: 0,
      runId: str('passRunId') ?? '',
    };
  }
  if (str('lastRunId')) {
    state.lastRun = {
      runId: str('lastRunId')!,
      outcome: str('lastOutcome') ?? 'unknown',
      startedAt: iso('lastStartedAt') ?? '',
      finishedAt: iso('lastFinishedAt') ?? '',
      read: num(row.lastRead === undefined ? 'lastRecords' : 'lastRead'),
      error: str('lastError'),
    };
  }
  if (str('lastSweepAt')) state.lastSweep = { finishedAt: iso('lastSweepAt')!, found: num('lastSweepFound'), runId: str('lastSweepRunId') ?? '' };
  if (str('accessState') === 'unlicensed' || str('accessState') === 'forbidden') {
    state.access = {
      state: str('accessState') as AccessBlock['state'],
      code: str('accessCode') ?? '',
      message: str('accessMessage') ?? '',
      action: str('accessAction') ?? '',
      checkedAt: iso('accessCheckedAt') ?? '',
    };
  }
  return state;
}
