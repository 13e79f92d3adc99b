import { randomUUID } from 'node:crypto';
import { emptyAggregates, merge } from '../domain/aggregates';
import type { Clock } from '../domain/clock';
import type { CollectionDefinition } from '../domain/collection';
import { fromDate } from '../domain/datetime';
import type { Logger } from '../domain/logger';
import type { Progress, RunSummary } from '../domain/runs';
import type { Settings } from '../config/settings';
import { GraphRequestError } from '../graph/errors';
import type { GraphPage, GraphReader } from '../graph/graphReader';
import { accessProblem } from '../graph/query';
import { EntityWriter, type EntityWriterOptions } from '../store/entityWriter';
import { drift, hasRowsOfTenant, recount } from '../store/partitions';
import { Quarantine } from '../store/quarantine';
import { CollectionStateStore, type CollectionState } from '../store/syncState';
import { isTableGone, type SyncTables } from '../store/tables';
import { mapPage, type MappedPage } from './pageMapping';
import { RunRecorder } from './runRecorder';

export interface RunOptions {
  trigger: string;
  /** Ignore the watermark and any checkpoint: read everything (or SYNC_INITIAL_DAYS) again. */
  full?: boolean;
  /** Read SYNC_SWEEP_LOOKBACK_HOURS behind the watermark now, whenever the last sweep was. */
  sweep?: boolean;
  /** Stop and checkpoint once this much time has passed (ms); no limit when absent. */
  timeBudgetMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** The run's id, when the caller named it beforehand (POST /api/runs answers with it); a new UUID otherwise. Never reuse one. */
  runId?: string;
  /** Read nothing: the run is recorded as `skipped` with this reason (see `afterParent`). */
  skip?: string;
  /**
   * The run reads its lease and state meanwhile but writes nothing, neither the lease nor a SyncRuns row, before this
   * settles; when it rejects, the run ends with its error and nothing written. The CLI passes its credential check.
   */
  holdWritesUntil?: Promise<unknown>;
}

export interface EngineContext {
  settings: Settings;
  tables: SyncTables;
  clock: Clock;
  /** A Graph reader for one run (its stats are the run's), drawing on the collection's budget of the tenant. */
  reader(tenantId: string, collection: CollectionDefinition, signal?: AbortSignal): GraphReader;
  log: Logger;
}

/** Triggers of scheduled runs: they respect the wait before a collection that was unlicensed is tried again. */
const SCHEDULED = new Set(['timer', 'timer-past-due']);
const WRITE_PARALLELISM = 4;

/**
 * One run of one collection, from the lease to the last record of it: what a pass (./pass.ts) or a child pass
 * (./children.ts) needs around the reading itself. Created by `Run.begin`; `end()` records how it ended.
 */
export class Run {
  readonly summary: RunSummary;
  readonly recorder: RunRecorder;
  readonly quarantine: Quarantine;
  /** Quarantined records of this collection: each leaves quarantine once a version of it is stored. */
  private quarantinedKeys = new Set<string>();
  private readonly released: Promise<void>[] = [];
  private readonly deadline: number;
  private reader?: GraphReader;
  private writers: EntityWriter[] = [];
  private syncedAtMs = 0;

  private constructor(
    readonly ctx: EngineContext,
    readonly tenantId: string,
    readonly collection: CollectionDefinition,
    readonly options: RunOptions,
    readonly runId: string,
    readonly store: CollectionStateStore,
    readonly state: CollectionState,
    private readonly stateExisted: boolean,
  ) {
    const { clock } = ctx;
    this.recorder = new RunRecorder(ctx.tables.runs, newSummary(runId, tenantId, collection.name, options, clock), () => clock.now());
    this.summary = this.recorder.summary;
    this.summary.watermarkBefore = state.watermark;
    this.deadline = options.timeBudgetMs === undefined ? Infinity : clock.now() + options.timeBudgetMs;
    this.quarantine = new Quarantine(ctx.tables.quarantine, tenantId, collection.name);
  }

  /**
   * Takes the collection's lease. Returns the run, or the summary of a run that ended there: `skipped` (another live
   * run holds the lease), or `unlicensed` / `forbidden` while a scheduled run waits before trying such a collection again.
   */
  static async begin(ctx: EngineContext, tenantId: string, collection: CollectionDefinition, options: RunOptions): Promise<Run | RunSummary> {
    const { settings, clock, log } = ctx;
    const runId = options.runId ?? randomUUID();
    const skipped = (reason: string) => {
      const recorder = new RunRecorder(ctx.tables.runs, newSummary(runId, tenantId, collection.name, options, clock), () => clock.now());
      recorder.summary.outcome = 'skipped';
      recorder.summary.error = reason;
      return recorder.finish(log);
    };
    if (options.skip) {
      await options.holdWritesUntil;
      return skipped(options.skip);
    }
    const store = new CollectionStateStore(ctx.tables.state, tenantId, collection.name, { leaseMs: settings.leaseSeconds * 1000, clock });
    const lease = await store.tryAcquire(runId, { before: options.holdWritesUntil });
    if (!lease.acquired && lease.holderRunId === runId) {
      // Its request was delivered twice (the queue's redelivery), and the first delivery runs it in another process. A
      // row of its own would hide that run's row: GET /api/runs/{id} shows the newest row of the id.
      const summary = newSummary(runId, tenantId, collection.name, options, clock);
      Object.assign(summary, {
        outcome: 'skipped',
        error: `run ${runId} is running in another process (${lease.holder})`,
        finishedAt: summary.startedAt,
      });
      log.warn(`${collection.name}: ${summary.error}: its request was delivered twice; not run again`);
      return summary;
    }
    if (!lease.acquired) return skipped(`another run holds the lease of ${collection.name} (${lease.holder}) until ${lease.expiresAt}`);
    if (lease.takenFrom === 'dead-process')
      log.warn(`${collection.name}: the run holding the lease is gone (its process no longer exists): taking over`);
    const run = new Run(ctx, tenantId, collection, options, runId, store, lease.state, lease.stateExisted);
    const access = run.state.access;
    if (access && SCHEDULED.has(options.trigger)) {
      const retryAt = Date.parse(access.checkedAt) + settings.unlicensedRetryHours * 3_600_000;
      if (clock.now() < retryAt) {
        run.summary.outcome = access.state;
        run.summary.action = access.action;
        run.summary.error = `${access.code}: ${access.message} (not tried again before ${new Date(retryAt).toISOString()}; \`risk-sync sync\` tries now)`;
        return run.end();
      }
    }
    return run;
  }

  get table() {
    return this.ctx.tables.collections[this.collection.name]!;
  }

  /** The run's Graph reader. Ctrl+C stops between pages; the reader itself is cut off once the time budget is well past. */
  graph(): GraphReader {
    if (!this.reader) {
      const { options } = this;
      const budget = options.timeBudgetMs === undefined ? undefined : AbortSignal.timeout(options.timeBudgetMs + 30_000);
      const signal = options.signal && budget ? AbortSignal.any([options.signal, budget]) : (options.signal ?? budget);
      this.reader = this.ctx.reader(this.tenantId, this.collection, signal);
    }
    return this.reader;
  }

  /** A page request whose failure is observed when awaited, never an unhandled rejection meanwhile. */
  fetch(url: string): Promise<GraphPage> {
    const promise = this.graph().getPage(url);
    promise.catch(() => undefined);
    return promise;
  }

  /** Time is up or Ctrl+C: stop at the next page boundary. */
  get stopping(): boolean {
    return this.ctx.clock.now() >= this.deadline || this.options.signal?.aborted === true;
  }

  get outOfTime(): boolean {
    return this.ctx.clock.now() >= this.deadline;
  }

  /** A writer into the collection's table, fenced by the lease, with change rows and quarantine. */
  writer(options: Partial<EntityWriterOptions> = {}): EntityWriter {
    const { tables } = this.ctx;
    const name = this.collection.name;
    const writer = new EntityWriter(this.table, {
      collection: this.collection,
      parallelism: WRITE_PARALLELISM,
      beforeWrite: () => this.store.ensureHeld(),
      changes: tables.changes[name] && { table: tables.changes[name]!, tenantId: this.tenantId, runId: this.runId },
      quarantine: (record, reason) => this.quarantine.put(record.raw, reason, this.runId, this.isoNow()),
      onRowsStored: (keys) => {
        for (const key of keys) if (this.quarantinedKeys.delete(key)) this.released.push(this.quarantine.remove(key));
      },
      onCommitted: (delta) => merge(this.state.aggregates, delta),
      now: () => this.isoNow(),
      insertFirst: false,
      ...options,
    });
    this.writers.push(writer);
    return writer;
  }

  isoNow(): string {
    return new Date(this.ctx.clock.now()).toISOString();
  }

  /**
   * A page as rows, with one syncedAt per page later than the previous page's (the writer tells a row it wrote itself
   * by it); records that can not be rows go to quarantine, adjusted ones are logged.
   */
  async map(records: readonly unknown[], extra?: (record: Record<string, unknown>) => void): Promise<MappedPage> {
    this.syncedAtMs = Math.max(this.ctx.clock.now(), this.syncedAtMs + 1);
    if (extra) for (const r of records) if (r && typeof r === 'object') extra(r as Record<string, unknown>);
    const mapped = mapPage(this.collection, records, this.tenantId, fromDate(this.syncedAtMs));
    const name = this.collection.name;
    for (const bad of mapped.unmappable) {
      this.summary.quarantined++;
      this.ctx.log.error(`${name}: a record can not be stored and goes to quarantine: ${bad.reason}: ${JSON.stringify(bad.record)?.slice(0, 300)}`);
      await this.quarantine.put(bad.record, bad.reason, this.runId, this.isoNow());
    }
    for (const a of mapped.adjusted) this.ctx.log.warn(`${name}: record ${a.rowKey} stored with adjustments: ${a.adjustments.join('; ')}`);
    this.summary.adjusted += mapped.adjusted.length;
    return mapped;
  }

  /**
   * Names this run in the state (before its SyncRuns row exists, so that a run killed in between is marked by the
   * next one), marks the run an earlier process left unfinished, and tries the quarantined records again.
   */
  async register(): Promise<void> {
    const { state, ctx } = this;
    if (state.activeRunId && state.activeRunKey && state.activeRunId !== this.runId) {
      ctx.log.warn(`${this.collection.name}: run ${state.activeRunId} stopped without finishing; resuming from its last checkpoint`);
      await this.recorder.markInterrupted(state.activeRunKey);
      state.recountNeeded = true; // the total too: a collection without counted columns still has one
    } else if (!this.stateExisted && (await hasRowsOfTenant(this.table, this.tenantId))) {
      state.recountNeeded = true; // rows without counts (the state table was new): count them after this pass
    }
    state.activeRunId = this.runId;
    state.activeRunKey = this.recorder.rowKey;
    await this.store.save(state);
    await this.recorder.write();
    await this.retryQuarantined();
  }

  /** Quarantined records stored now (a newer version of the product may store them) leave quarantine. */
  private async retryQuarantined(): Promise<void> {
    const entries = await this.quarantine.list();
    this.quarantinedKeys = new Set(entries.map((e) => e.rowKey));
    const mapped = await this.map(entries.filter((e) => e.raw !== undefined).map((e) => e.raw));
    if (mapped.rows.length === 0) return;
    const stored: string[] = [];
    const writer = this.writer({ onRowsStored: (keys) => stored.push(...keys) });
    await writer.add(mapped.rows);
    await writer.flush();
    for (const key of stored) if (this.quarantinedKeys.delete(key)) await this.quarantine.remove(key);
    if (stored.length > 0) this.ctx.log.info(`${this.collection.name}: ${stored.length} quarantined records are stored now`);
  }

  /** The run stopped on an error: a licence or permission 403 is an outcome of its own, anything else a failure. */
  async failed(error: unknown): Promise<void> {
    for (const writer of this.writers) await writer.stop(); // what is in flight lands (and is counted) before the final state; nothing after it
    const { summary, state, collection } = this;
    const access = accessProblem(error, { collection: collection.name, permission: collection.permission, licence: collection.licence });
    if (access) {
      summary.outcome = access.state;
      summary.action = access.action;
      summary.error = `Graph answered 403 ${access.code}: ${access.message}`;
      state.access = { ...access, checkedAt: this.isoNow() };
    } else if (this.options.signal?.aborted) {
      // Ctrl+C while a request was being retried: the pass resumes from its checkpoint, as after a time budget.
      summary.outcome = 'partial';
      summary.error = `stopped on request: ${(error as Error).message ?? String(error)}`;
    } else {
      summary.outcome = 'failed';
      summary.error = (error as Error).message ?? String(error);
      summary.errorCode = error instanceof GraphRequestError ? error.code : (error as Error).name;
    }
    if (this.writers.some((w) => w.uncertain)) state.recountNeeded = true;
  }

  /**
   * After the run failed on a table that is gone: when that is the collection's own table, its rows went with it, and
   * the watermark no longer says what is stored. The state forgets the copy (watermark, pass, counts), so the next run
   * reads everything again, as a first sync does, instead of leaving out what came before the watermark.
   */
  async forgetCopyIfTableGone(): Promise<void> {
    const gone = await hasRowsOfTenant(this.table, this.tenantId).then(() => false, isTableGone);
    if (!gone) return;
    const { state } = this;
    Object.assign(state, { watermark: undefined, pass: undefined, aggregates: emptyAggregates(), recountNeeded: false, childrenSeen: undefined });
    this.ctx.log.warn(
      `${this.collection.name}: the table ${this.table.tableName} was deleted, and its rows with it: the next run reads everything again`,
    );
  }

  /** The pass ended well: access confirmed, counts recounted where they may be off. */
  async succeeded(): Promise<void> {
    const { state, collection } = this;
    state.access = undefined;
    this.summary.outcome = 'succeeded';
    if (state.recountNeeded) {
      const counted = await recount(this.table, collection, this.tenantId);
      state.lastRecountDrift = drift(state.aggregates, counted);
      if (state.lastRecountDrift > 0)
        this.ctx.log.warn(`${collection.name}: the counts were off by ${state.lastRecountDrift}; recounted from the rows`);
      state.aggregates = counted;
      state.recountNeeded = false;
    }
    state.lastSuccessAt = this.isoNow();
  }

  /** Records how the run ended: the state and the lease (in one transaction), the SyncRuns row around them. */
  async end(): Promise<RunSummary> {
    const { summary, state } = this;
    await Promise.allSettled(this.released);
    if (this.writers.length > 0 || this.quarantinedKeys.size > 0) state.quarantined = await this.quarantine.count().catch(() => state.quarantined);
    const sum = (key: 'created' | 'replaced' | 'unchanged' | 'quarantined' | 'transactions') => this.writers.reduce((n, w) => n + w[key], 0);
    Object.assign(summary, {
      new: sum('created'),
      updated: sum('replaced'),
      unchanged: sum('unchanged'),
      quarantined: summary.quarantined + sum('quarantined'),
      transactions: sum('transactions'),
      requests: this.reader?.stats.requests ?? 0,
      retries: this.reader?.stats.retries ?? 0,
      throttles: this.reader?.stats.throttles ?? 0,
    });
    summary.finishedAt = this.isoNow();
    summary.watermarkAfter = state.watermark;
    state.lastRun = {
      runId: summary.runId,
      outcome: summary.outcome,
      startedAt: summary.startedAt,
      finishedAt: summary.finishedAt,
      read: summary.read,
      error: summary.error,
    };
    // The run ends here whatever its outcome (its own SyncRuns row says how); only a kill leaves activeRunId set.
    state.activeRunId = state.activeRunKey = undefined;
    // The row says how the run ended before the state stops naming the run: killed in between, the run is marked
    // interrupted by the next one instead of staying `running` (finish() writes the row again, with the final figures).
    await this.recorder.write().catch(() => undefined);
    try {
      await this.store.release(state);
    } catch (error) {
      this.store.abandon();
      if (summary.outcome !== 'failed') {
        summary.outcome = 'failed';
        summary.error = `could not save the sync state: ${(error as Error).message}`;
      }
    }
    return this.recorder.finish(this.ctx.log);
  }

  /** Progress for the CLI's progress line. */
  progress(): void {
    const { summary } = this;
    this.options.onProgress?.({
      collection: this.collection.name,
      pages: summary.pages,
      read: summary.read,
      elapsedMs: this.ctx.clock.now() - Date.parse(summary.startedAt),
    });
  }
}

function newSummary(runId: string, tenantId: string, collection: string, options: RunOptions, clock: Clock): RunSummary {
  return {
    runId,
    tenantId,
    collection,
    trigger: options.trigger,
    startedAt: new Date(clock.now()).toISOString(),
    outcome: 'running',
    full: Boolean(options.full),
    sweep: false,
    pages: 0,
    read: 0,
    new: 0,
    updated: 0,
    unchanged: 0,
    adjusted: 0,
    quarantined: 0,
    transactions: 0,
    requests: 0,
    retries: 0,
    throttles: 0,
    restarts: 0,
  };
}
