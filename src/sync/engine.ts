import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { merge } from '../domain/aggregates';
import type { Clock } from '../domain/clock';
import type { CollectionDefinition } from '../domain/collection';
import { fromDate, normalizeDateTime } from '../domain/datetime';
import type { Logger } from '../domain/logger';
import type { PassPlan } from '../domain/pass';
import type { Progress, RunOutcome, RunSummary } from '../domain/runs';
import type { Settings } from '../config/settings';
import { GraphRequestError } from '../graph/errors';
import type { GraphPage, GraphReader } from '../graph/graphReader';
import { accessProblem, isRefusedNextLink } from '../graph/query';
import { EntityWriter, type EntityWriterOptions } from '../store/entityWriter';
import { Quarantine } from '../store/quarantine';
import { drift, hasRowsOfTenant, recount } from '../store/partitions';
import { CollectionStateStore, type CollectionState } from '../store/syncState';
import { ensureTables, type SyncTables } from '../store/tables';
import { mapPage } from './pageMapping';
import { closeWindow, notePagesPerRun, observe, passKind, restartWindow, setCap, startPass, windowFilter } from './plan';
import { RunRecorder } from './runRecorder';

/**
 * The sync engine: one run of one collection of one tenant, the same for every declared collection.
 *
 * 1. Take the collection's lease (SyncState; a run that can not is `skipped`).
 * 2. A collection the tenant was found not licensed or permitted for is tried again only every
 *    SYNC_UNLICENSED_RETRY_HOURS by a scheduled run (`unlicensed` / `forbidden` until then; a manual run tries now).
 * 3. Resume the pass in progress, or plan a new one (src/sync/plan.ts: incremental, sweep, backfill or full).
 * 4. Read the pass window by window; pages stream through one EntityWriter (page n+1 is fetched while page n is
 *    written); once every page up to n is stored, the plan is checkpointed in the background. A complete window moves
 *    the watermark (plan.closeWindow); a refused next link starts the window over (plan.restartWindow).
 * 5. A pass begun by an earlier run is followed by one that reads what changed since it began.
 * 6. Record the run: its SyncRuns row, the state (watermark, counts, last run), the lease given up.
 */

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
/** Window restarts in one run before it gives up. */
const MAX_RESTARTS = 3;
const WRITE_PARALLELISM = 4;

export async function syncCollection(ctx: EngineContext, tenantId: string, name: string, options: RunOptions): Promise<RunSummary> {
  const { settings, tables, clock, log } = ctx;
  const collection = settings.catalog.require(name);
  const runId = randomUUID();
  const run = new RunRecorder(tables.runs, newSummary(runId, tenantId, name, options, clock), () => clock.now());
  const summary = run.summary;
  const deadline = options.timeBudgetMs === undefined ? Infinity : clock.now() + options.timeBudgetMs;
  await ensureTables(tables);
  const store = new CollectionStateStore(tables.state, tenantId, name, { leaseMs: settings.leaseSeconds * 1000, clock });
  const lease = await store.tryAcquire(runId);
  if (!lease.acquired) {
    summary.outcome = 'skipped';
    summary.error = `another run holds the lease of ${name} (${lease.holder}) until ${lease.expiresAt}`;
    return run.finish(log);
  }
  if (lease.takenFrom === 'dead-process') log.warn(`${name}: the run holding the lease is gone (its process no longer exists): taking over`);

  const state = lease.state;
  const table = tables.collections[name]!;
  summary.watermarkBefore = state.watermark;
  const blocked = stillBlocked(state, options, settings, clock);
  if (blocked) {
    summary.outcome = blocked.state;
    summary.action = blocked.action;
    summary.error = `${blocked.code}: ${blocked.message} (not tried again before ${blocked.retryAt}; \`risk-sync sync\` tries now)`;
    return end(ctx, run, store, state);
  }

  // Ctrl+C (signal) stops between pages; the reader itself is only cut off once the time budget is well past,
  // so that a retry storm can not outlive the host's function timeout.
  const budget = options.timeBudgetMs === undefined ? undefined : AbortSignal.timeout(options.timeBudgetMs + 30_000);
  const reader = ctx.reader(tenantId, collection, options.signal && budget ? AbortSignal.any([options.signal, budget]) : (options.signal ?? budget));
  const unstoredPages = new Map<number, { nextLink?: string; maxCursor?: string; records: number }>();
  let plan!: PassPlan;
  let lastCheckpointAt = clock.now();
  let pagesThisRun = 0;
  const quarantine = new Quarantine(tables.quarantine, tenantId, name);
  const isoNow = () => new Date(clock.now()).toISOString();
  /** Quarantined records of this collection: each leaves quarantine once a version of it is stored. */
  let quarantinedKeys = new Set<string>();
  const released: Promise<void>[] = [];
  const common: Omit<EntityWriterOptions, 'insertFirst'> = {
    collection,
    parallelism: WRITE_PARALLELISM,
    beforeWrite: () => store.ensureHeld(),
    changes: tables.changes[name] && { table: tables.changes[name]!, tenantId, runId },
    quarantine: (record, reason) => quarantine.put(record.raw, reason, runId, isoNow()),
    onRowsStored: (keys) => {
      for (const key of keys) if (quarantinedKeys.delete(key)) released.push(quarantine.remove(key));
    },
    now: isoNow,
  };
  const writer = new EntityWriter(table, {
    ...common,
    onCommitted: (delta, rows) => {
      merge(state.aggregates, delta);
      plan.found += rows.created + rows.replaced;
    },
    onStored: (n) => {
      const page = unstoredPages.get(n)!;
      unstoredPages.delete(n);
      observe(plan, page);
      pagesThisRun++;
      summary.pages++;
      summary.read += page.records;
      if (page.nextLink) {
        // Every page up to this one is stored: a run stopped from here on resumes at the next one.
        state.pass = { ...plan };
        if (clock.now() - lastCheckpointAt >= settings.checkpointSeconds * 1000) {
          lastCheckpointAt = clock.now();
          store.checkpoint(state);
        }
      }
      options.onProgress?.({ collection: name, pages: summary.pages, read: summary.read, elapsedMs: clock.now() - Date.parse(summary.startedAt) });
    },
  });
  const fetchPage = (url: string): Promise<GraphPage> => {
    const promise = reader.getPage(url);
    promise.catch(() => undefined); // observed when awaited; never an unhandled rejection meanwhile
    return promise;
  };
  const firstPageOf = (p: PassPlan) => fetchPage(reader.url(collection.path, { filter: windowFilter(p.window, collection.cursor), top: p.pageSize }));

  let syncedAtMs = 0;
  let p1Shaped = 0;
  try {
    const resumable = !options.full && state.pass ? state.pass : undefined;
    plan = resumable ? { ...resumable, runId } : newPass(collection, settings, state, options, runId, clock);
    /** A pass begun by an earlier run is followed by a new one, so that a run that succeeds has read Graph as of its start. */
    let catchUp = Boolean(resumable);
    /** The link being followed was saved by an earlier run (its refusal then means the window did not fit in a run). */
    let resumedLink = Boolean(resumable?.nextLink);
    /** The request in flight follows a next link (not a window's first page). */
    let followingLink = resumedLink;
    let restartsThisRun = 0;
    let previousPageFull = false;
    // A backfill writes plain inserts first; one resumed may have stored rows whose `created` change row a kill lost.
    writer.configure({
      insertFirst: plan.kind === 'backfill',
      repairSince: resumable?.kind === 'backfill' ? normalizeDateTime(resumable.startedAt) : undefined,
    });
    summary.sweep = plan.kind === 'sweep';
    summary.filterFrom = plan.from;
    // The first page is requested now, while the run registers itself (reading writes nothing).
    let pending: Promise<GraphPage> | undefined = plan.nextLink ? fetchPage(plan.nextLink) : firstPageOf(plan);

    if (state.activeRunId && state.activeRunKey && state.activeRunId !== runId) {
      log.warn(`${name}: run ${state.activeRunId} stopped without finishing; resuming from its last checkpoint`);
      await run.markInterrupted(state.activeRunKey);
      state.recountNeeded = true;
    } else if (!lease.stateExisted && (await hasRowsOfTenant(table, tenantId))) {
      state.recountNeeded = true; // rows without counts (the state table was new): count them after this pass
    }
    state.activeRunId = runId;
    state.activeRunKey = run.rowKey;
    // The state names this run before its SyncRuns row exists: a run killed in between leaves no `running` row that
    // nobody marks (the next run marks the run the state names, creating its row if need be).
    await store.save(state);
    await run.write();
    quarantinedKeys = await retryQuarantined(
      quarantine,
      collection,
      tenantId,
      (onRowsStored) => new EntityWriter(table, { ...common, insertFirst: false, onRowsStored }),
      fromDate(clock.now()),
      log,
    );
    if (resumable) log.info(`${name}: resuming the ${plan.kind} pass started ${plan.startedAt} after ${plan.pages} pages`);

    while (pending) {
      let page: GraphPage;
      try {
        page = await pending;
      } catch (error) {
        if (followingLink && isRefusedNextLink(error) && restartsThisRun < MAX_RESTARTS) {
          restartsThisRun++;
          summary.restarts++;
          await writer.flush(); // the pages read so far are stored before the window starts over
          const reason = resumedLink ? 'expired-across-runs' : previousPageFull ? 'phantom-suspect' : 'expired';
          plan = restartWindow(plan, reason, runId);
          state.pass = { ...plan };
          log.warn(`${name}: Graph refused a next link (${(error as Error).message}); reading the window again (${reason})`);
          resumedLink = followingLink = previousPageFull = false;
          pending = firstPageOf(plan);
          continue;
        }
        throw error;
      }
      resumedLink = false;
      setCap(plan, page.graphTime, fromDate(clock.now() - 1000));
      previousPageFull = page.records.length === plan.pageSize;
      const stop = clock.now() >= deadline || options.signal?.aborted === true;
      // Page n+1 is on its way while page n is written.
      pending = page.nextLink && !stop ? fetchPage(page.nextLink) : undefined;
      followingLink = true;

      // One syncedAt per page, later than the previous page's: the writer tells a row it wrote itself by it.
      syncedAtMs = Math.max(clock.now(), syncedAtMs + 1);
      const mapped = mapPage(collection, page.records, tenantId, fromDate(syncedAtMs));
      for (const bad of mapped.unmappable) {
        summary.quarantined++;
        log.error(`${name}: a record can not be stored and goes to quarantine: ${bad.reason}: ${JSON.stringify(bad.record)?.slice(0, 300)}`);
        await quarantine.put(bad.record, bad.reason, runId, isoNow());
      }
      for (const a of mapped.adjusted) log.warn(`${name}: record ${a.rowKey} stored with adjustments: ${a.adjustments.join('; ')}`);
      summary.adjusted += mapped.adjusted.length;
      p1Shaped += mapped.p1Shaped;
      unstoredPages.set(writer.nextPage, { nextLink: page.nextLink, maxCursor: mapped.maxCursor, records: page.records.length });
      await writer.add(mapped.rows);
      store.throwIfCheckpointFailed();

      if (!page.nextLink) {
        await writer.flush();
        const closed = closeWindow(plan, state.watermark, runId);
        state.watermark = closed.watermark;
        if (closed.next) {
          plan = closed.next;
          state.pass = { ...plan };
          await store.save(state); // the window's progress is committed: it survives a next link Graph forgets
          if (!stop) {
            pending = firstPageOf(plan);
            followingLink = false;
            continue;
          }
        } else {
          state.pass = undefined;
          finishPass(state, plan, p1Shaped, clock);
          p1Shaped = 0;
          if (catchUp && !stop) {
            catchUp = false;
            await store.save(state);
            plan = newPass(collection, settings, state, { ...options, full: false }, runId, clock);
            log.info(`${name}: the resumed pass is complete; reading what changed since it began, from ${plan.from ?? 'the beginning'}`);
            summary.filterFrom = plan.from;
            summary.sweep ||= plan.kind === 'sweep';
            pending = firstPageOf(plan);
            followingLink = false;
            continue;
          }
          summary.outcome = 'succeeded';
          break;
        }
      }
      if (stop) {
        await writer.flush();
        if (clock.now() >= deadline) notePagesPerRun(plan, pagesThisRun);
        state.pass = { ...plan };
        summary.outcome = 'partial';
        log.info(
          `${name}: ${options.signal?.aborted ? 'stopped on request' : 'time budget used'}; the pass resumes from its checkpoint on the next run`,
        );
        break;
      }
    }
    state.access = undefined;
    if (state.recountNeeded && summary.outcome === 'succeeded') await recountInto(state, table, collection, tenantId, log);
    if (summary.outcome === 'succeeded') state.lastSuccessAt = new Date(clock.now()).toISOString();
  } catch (error) {
    await writer.stop(); // what is in flight lands (and is counted) before the final state is written; nothing after it
    const access = accessProblem(error, { collection: collection.name, permission: collection.permission, licence: collection.licence });
    if (access) {
      summary.outcome = access.state;
      summary.action = access.action;
      summary.error = `Graph answered 403 ${access.code}: ${access.message}`;
      state.access = { ...access, checkedAt: new Date(clock.now()).toISOString() };
    } else {
      summary.outcome = 'failed';
      summary.error = (error as Error).message ?? String(error);
      summary.errorCode = error instanceof GraphRequestError ? error.code : (error as Error).name;
    }
    if (writer.uncertain) state.recountNeeded = true;
  } finally {
    await Promise.allSettled(released);
    state.quarantined = await quarantine.count().catch(() => state.quarantined);
    Object.assign(summary, {
      new: writer.created,
      updated: writer.replaced,
      unchanged: writer.unchanged,
      quarantined: summary.quarantined + writer.quarantined,
      transactions: writer.transactions,
      requests: reader.stats.requests,
      retries: reader.stats.retries,
      throttles: reader.stats.throttles,
    });
  }
  return end(ctx, run, store, state);
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

function newPass(
  collection: CollectionDefinition,
  settings: Settings,
  state: CollectionState,
  options: RunOptions,
  runId: string,
  clock: Clock,
): PassPlan {
  const now = clock.now();
  const kind = passKind({
    watermark: state.watermark,
    readStyle: collection.read,
    full: options.full,
    sweepRequested: options.sweep,
    lastSweepAt: state.lastSweep?.finishedAt ?? state.lastSuccessAt,
    sweepHours: settings.sweepHours,
    now,
  });
  return startPass({
    kind,
    watermark: state.watermark,
    lookbackMinutes: settings.lookbackMinutes,
    sweepLookbackHours: settings.sweepLookbackHours,
    initialDays: settings.initialDays,
    pageSize: collection.pageSize,
    now,
    runId,
  });
}

/**
 * Tries the quarantined records of the collection again (a newer version of the product may store them now); those
 * stored leave quarantine. Returns the keys still there, so that a version Graph serves again releases them too.
 */
async function retryQuarantined(
  quarantine: Quarantine,
  collection: CollectionDefinition,
  tenantId: string,
  writerFor: (onRowsStored: (keys: string[]) => void) => EntityWriter,
  syncedAt: string,
  log: Logger,
): Promise<Set<string>> {
  const entries = await quarantine.list();
  const left = new Set(entries.map((e) => e.rowKey));
  const page = mapPage(
    collection,
    entries.filter((e) => e.raw !== undefined).map((e) => e.raw),
    tenantId,
    syncedAt,
  );
  if (page.rows.length === 0) return left;
  const stored: string[] = [];
  const writer = writerFor((keys) => stored.push(...keys));
  await writer.add(page.rows);
  await writer.flush();
  for (const key of stored) {
    if (!left.delete(key)) continue;
    await quarantine.remove(key);
  }
  if (stored.length > 0) log.info(`${collection.name}: ${stored.length} quarantined records are stored now`);
  return left;
}

/** The pass is read to its end: what a sweep found, the shape of the tenant's data. */
function finishPass(state: CollectionState, plan: PassPlan, p1Shaped: number, clock: Clock): void {
  if (plan.kind !== 'incremental')
    state.lastSweep = { finishedAt: new Date(clock.now()).toISOString(), found: plan.kind === 'sweep' ? plan.found : 0, runId: plan.runId };
  if (plan.records > 0) state.dataShape = p1Shaped > 0 ? 'P1' : undefined;
}

/** The wait before a scheduled run tries a collection the tenant was found not licensed or permitted for. */
function stillBlocked(state: CollectionState, options: RunOptions, settings: Settings, clock: Clock) {
  const access = state.access;
  if (!access || !SCHEDULED.has(options.trigger)) return undefined;
  const retryAt = Date.parse(access.checkedAt) + settings.unlicensedRetryHours * 3_600_000;
  return clock.now() < retryAt ? { ...access, retryAt: new Date(retryAt).toISOString() } : undefined;
}

async function recountInto(
  state: CollectionState,
  table: TableClient,
  collection: CollectionDefinition,
  tenantId: string,
  log: Logger,
): Promise<void> {
  const counted = await recount(table, collection, tenantId);
  state.lastRecountDrift = drift(state.aggregates, counted);
  if (state.lastRecountDrift > 0) log.warn(`${collection.name}: the counts were off by ${state.lastRecountDrift}; recounted from the rows`);
  state.aggregates = counted;
  state.recountNeeded = false;
}

/** Records how the run ended: the state and the lease first (in one transaction), the SyncRuns row around it. */
async function end(ctx: EngineContext, run: RunRecorder, store: CollectionStateStore, state: CollectionState): Promise<RunSummary> {
  const summary = run.summary;
  summary.finishedAt = new Date(ctx.clock.now()).toISOString();
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
  await run.write().catch(() => undefined);
  try {
    await store.release(state);
  } catch (error) {
    store.abandon();
    if (summary.outcome !== 'failed') {
      summary.outcome = 'failed' satisfies RunOutcome;
      summary.error = `could not save the sync state: ${(error as Error).message}`;
    }
  }
  return run.finish(ctx.log);
}
