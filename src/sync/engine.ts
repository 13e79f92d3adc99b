import { randomUUID } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import type { Settings } from '../config/settings';
import { GraphRequestError } from '../graph/errors';
import type { GraphPage, GraphReader } from '../graph/graphReader';
import { count, countedValue, emptyAggregates, merge, type Aggregates } from '../domain/aggregates';
import { toEntity, type MappedRecord } from '../store/entityMapping';
import { EntityWriter } from '../store/entityWriter';
import { markInterrupted, runRowKey, writeRun, type RunRecord } from '../store/syncRuns';
import { CollectionStateStore, type CollectionState, type PassCheckpoint } from '../store/syncState';
import { ensureTables, type SyncTables } from '../store/tables';
import { COLLECTIONS, type CollectionDefinition, type CollectionName } from '../domain/collections';
import { fromDate, maxDateTime, minDateTime, minusMinutes, normalizeDateTime } from '../domain/datetime';

/**
 * The sync engine: one pass of one collection, the same for every declared collection.
 *
 * - The pass reads `cursor ge (watermark - lookback)` (the first pass: everything, or SYNC_INITIAL_DAYS) and upserts
 *   by id, so re-reading the window is harmless.
 * - Pages stream through one EntityWriter: page n+1 is fetched and mapped while page n's transactions run. Once every
 *   page up to n is stored, the checkpoint (page n's next link, the largest cursor stored, counts) is saved in the
 *   background, at most every SYNC_CHECKPOINT_SECONDS: a run cut short by the time budget, an error or a kill resumes
 *   there. The watermark moves only when the whole pass is stored, because Graph returns records in no order.
 * - A next link Graph no longer accepts restarts the pass from the committed watermark.
 * - A lease (SyncState, ETag-guarded, renewed while alive) keeps two runs of a collection apart.
 */

export interface Logger {
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
}

export interface Progress {
  collection: CollectionName;
  pages: number;
  records: number;
  elapsedMs: number;
}

export interface RunOptions {
  trigger: string;
  /** Ignore the watermark and any checkpoint: read everything (or SYNC_INITIAL_DAYS) again. */
  full?: boolean;
  /** Stop and checkpoint once this much time has passed (ms); no limit when absent. */
  timeBudgetMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export type RunSummary = RunRecord & { collection: CollectionName; invalid: number };

export interface EngineDeps {
  settings: Settings;
  tables: SyncTables;
  /** A Graph reader for this run (its stats are the run's). */
  createReader: (signal?: AbortSignal) => GraphReader;
  log: Logger;
}

/** Restarts of a pass after rejected next links, before the run gives up. */
const MAX_RESTARTS = 3;
/** Data transactions in flight at once. */
const WRITE_PARALLELISM = 4;

export async function syncCollection(deps: EngineDeps, name: CollectionName, options: RunOptions): Promise<RunSummary> {
  const { settings, tables, log } = deps;
  const collection: CollectionDefinition = COLLECTIONS[name];
  const startedAt = new Date().toISOString();
  const runId = randomUUID();
  const summary: RunSummary = {
    runId,
    tenantId: settings.tenantId,
    collection: name,
    trigger: options.trigger,
    startedAt,
    outcome: 'running',
    full: Boolean(options.full),
    pages: 0,
    records: 0,
    adjusted: 0,
    invalid: 0,
    transactions: 0,
    requests: 0,
    retries: 0,
    throttles: 0,
    restarts: 0,
  };
  const deadline = options.timeBudgetMs === undefined ? Infinity : Date.now() + options.timeBudgetMs;
  await ensureTables(tables);
  const store = new CollectionStateStore(tables.state, settings.tenantId, name, settings.leaseSeconds * 1000);
  const lease = await store.tryAcquire(runId);
  if (!lease.acquired) {
    summary.outcome = 'skipped';
    summary.error = `another run holds the lease of ${name} (${lease.holder}) until ${lease.expiresAt}; nothing to do`;
    return finish(deps, summary);
  }

  const state = lease.state;
  const table = tables.collections[name];
  summary.watermarkBefore = state.watermark;
  // Ctrl+C (signal) stops between pages, and cuts a request that is being retried short; the reader is also cut off
  // once the time budget is well past, so that a retry storm can not outlive the host's function timeout.
  const budgetSignal = options.timeBudgetMs === undefined ? undefined : AbortSignal.timeout(options.timeBudgetMs + 30_000);
  const readerSignals = [options.signal, budgetSignal].filter((s): s is AbortSignal => s !== undefined);
  const reader = deps.createReader(readerSignals.length > 1 ? AbortSignal.any(readerSignals) : readerSignals[0]);
  /** What the engine needs of a page once the writer reports it stored. */
  const unstoredPages = new Map<number, { nextLink?: string; maxCursor?: string; records: number }>();
  let pass!: PassCheckpoint;
  let lastCheckpointAt = Date.now();
  const writer = new EntityWriter(table, {
    aggregateBy: collection.aggregateBy,
    parallelism: WRITE_PARALLELISM,
    onCommitted: (delta) => merge(state.aggregates, delta),
    onStored: (n) => {
      const page = unstoredPages.get(n)!;
      unstoredPages.delete(n);
      pass.pages++;
      pass.records += page.records;
      pass.maxCursor = maxDateTime(pass.maxCursor, page.maxCursor);
      summary.pages++;
      summary.records += page.records;
      if (page.nextLink) {
        // Every page up to this one is stored: a run stopped from here on resumes at the next one.
        pass.nextLink = page.nextLink;
        state.pass = { ...pass };
        if (Date.now() - lastCheckpointAt >= settings.checkpointSeconds * 1000) {
          lastCheckpointAt = Date.now();
          store.checkpoint(state);
        }
      }
      options.onProgress?.({ collection: name, pages: summary.pages, records: summary.records, elapsedMs: Date.now() - Date.parse(startedAt) });
    },
  });
  let syncedAtMs = 0;
  try {
    const resumable = !options.full && state.pass;
    pass = resumable ? { ...state.pass!, runId } : newPass(collection, reader, settings, state, options.full);
    let atPassStart = !resumable;
    /** A pass begun by an earlier run is followed by a new one, so that a run that succeeds has read Graph as of its start. */
    let catchUp = Boolean(resumable);
    summary.filterFrom = pass.from;
    // The first page is requested now, while the run registers itself (reading writes nothing).
    let pending: Promise<GraphPage> | undefined = prefetch(reader, pass.nextLink);

    if (state.activeRunId && state.activeRunKey && state.activeRunId !== runId) {
      log.warn(`${name}: run ${state.activeRunId} stopped without finishing; resuming from its last checkpoint`);
      await markInterrupted(tables.runs, settings.tenantId, name, state.activeRunKey, runId);
      state.recountNeeded = true;
    } else if (!lease.stateExisted && (await hasRowsOfTenant(table, settings.tenantId))) {
      state.recountNeeded = true; // rows without counts (the state table was new): count them after this pass
    }
    state.activeRunId = runId;
    state.activeRunKey = runRowKey(startedAt, runId);
    // The state names this run before its SyncRuns row exists: a run killed in between leaves no `running` row that
    // nobody marks (the next run marks the run the state names, creating its row if need be).
    await store.save(state);
    await writeRun(tables.runs, summary);
    if (resumable) log.info(`${name}: resuming the pass started ${pass.startedAt} after ${pass.pages} pages`);

    while (pending) {
      let page: GraphPage;
      try {
        page = await pending;
      } catch (error) {
        if (!atPassStart && isRejectedNextLink(error) && summary.restarts < MAX_RESTARTS) {
          summary.restarts++;
          await writer.flush(); // the pages read so far are stored, and checkpointed, before the pass starts over
          const restart = newPass(collection, reader, settings, state, options.full);
          log.warn(
            `${name}: Graph no longer accepts the next link (${(error as Error).message}); restarting the pass from ${restart.from ?? 'the beginning'}`,
          );
          Object.assign(pass, { nextLink: restart.nextLink, from: restart.from });
          summary.filterFrom = pass.from;
          atPassStart = true;
          pending = prefetch(reader, pass.nextLink);
          continue;
        }
        throw error;
      }
      atPassStart = false;
      const stop = Date.now() >= deadline || options.signal?.aborted === true;
      // Page n+1 is on its way while page n is written.
      pending = page.nextLink && !stop ? prefetch(reader, page.nextLink) : undefined;

      // One syncedAt per page, later than the previous page's: the writer tells a row it wrote itself by it.
      syncedAtMs = Math.max(Date.now(), syncedAtMs + 1);
      const syncedAt = fromDate(new Date(syncedAtMs));
      const mapped: MappedRecord[] = [];
      let maxCursor: string | undefined;
      for (const record of page.records) {
        let m: MappedRecord;
        try {
          m = toEntity(collection, record, settings.tenantId, syncedAt);
        } catch (error) {
          summary.invalid++;
          log.error(`${name}: a record can not be stored and is skipped: ${(error as Error).message}: ${JSON.stringify(record).slice(0, 500)}`);
          continue;
        }
        mapped.push(m);
        maxCursor = maxDateTime(maxCursor, m.cursor);
        if (m.adjustments.length > 0) {
          summary.adjusted++;
          log.warn(`${name}: record ${String(m.entity.rowKey)} stored with adjustments: ${m.adjustments.join('; ')}`);
        }
      }
      unstoredPages.set(writer.nextPage, { nextLink: page.nextLink, maxCursor, records: page.records.length });
      await writer.add(mapped);
      store.throwIfCheckpointFailed();

      if (!page.nextLink) {
        await writer.flush();
        state.pass = undefined;
        // Graph pages over the records that matched when the pass began: one changed or added after that may have been
        // missed although the pass stored later cursors. The watermark stays at or before the pass's start, so the
        // next pass reads them (the lookback covers the clock difference with Graph).
        state.watermark = maxDateTime(state.watermark, minDateTime(pass.maxCursor, normalizeDateTime(pass.startedAt)));
        if (catchUp && !stop) {
          catchUp = false;
          await store.save(state);
          Object.assign(pass, newPass(collection, reader, settings, state, options.full), { runId });
          log.info(`${name}: the resumed pass is complete; reading what changed since it began, from ${pass.from ?? 'the beginning'}`);
          summary.filterFrom = pass.from;
          atPassStart = true;
          pending = prefetch(reader, pass.nextLink);
          continue;
        }
        summary.outcome = 'succeeded';
        break;
      }
      if (stop) {
        await writer.flush();
        summary.outcome = 'partial';
        log.info(
          `${name}: ${options.signal?.aborted ? 'stopped on request' : 'time budget used'}; the pass resumes from its checkpoint on the next run`,
        );
        break;
      }
    }
    if (state.recountNeeded && summary.outcome === 'succeeded') {
      state.aggregates = await recount(table, collection, settings.tenantId);
      state.recountNeeded = false;
    }
    summary.watermarkAfter = state.watermark;
    if (summary.outcome === 'succeeded') state.lastSuccessAt = new Date().toISOString();
  } catch (error) {
    await writer.settle(); // what is in flight lands (and is counted) before the final state is written
    // Stopped on request while a request was retried: as after a page, the pass resumes from its checkpoint.
    summary.outcome = options.signal?.aborted ? 'partial' : 'failed';
    summary.error = (error as Error).message ?? String(error);
    summary.errorCode = error instanceof GraphRequestError ? error.code : (error as Error).name;
    summary.watermarkAfter = state.watermark;
    if (writer.uncertain) state.recountNeeded = true;
  } finally {
    Object.assign(summary, {
      transactions: writer.transactions,
      requests: reader.stats.requests,
      retries: reader.stats.retries,
      throttles: reader.stats.throttles,
    });
  }

  summary.finishedAt = new Date().toISOString();
  state.lastRun = {
    runId,
    outcome: summary.outcome,
    startedAt,
    finishedAt: summary.finishedAt,
    records: summary.records,
    error: summary.error,
  };
  // The run ends here whatever its outcome (its own SyncRuns row says how); only a kill leaves activeRunId set.
  state.activeRunId = state.activeRunKey = undefined;
  // The row says how the run ended before the state stops naming the run: killed in between, the run is marked
  // interrupted by the next one instead of staying `running` (finish() writes the row again, with the final outcome).
  await writeRun(tables.runs, summary).catch(() => undefined);
  try {
    await store.release(state);
  } catch (error) {
    store.abandon();
    if (summary.outcome !== 'failed') {
      summary.outcome = 'failed';
      summary.error = `could not save the sync state: ${(error as Error).message}`;
    }
  }
  return finish(deps, summary);
}

function newPass(collection: CollectionDefinition, reader: GraphReader, settings: Settings, state: CollectionState, full?: boolean): PassCheckpoint {
  let from: string | undefined;
  if (state.watermark && !full) from = minusMinutes(state.watermark, settings.lookbackMinutes);
  else if (settings.initialDays) from = fromDate(new Date(Date.now() - settings.initialDays * 86_400_000));
  const query: Record<string, string> = { $top: '500' };
  if (from) query.$filter = `${collection.cursor} ge ${from}`;
  return {
    nextLink: reader.url(collection.path, query),
    from,
    maxCursor: state.pass?.maxCursor,
    pages: 0,
    records: 0,
    startedAt: new Date().toISOString(),
    runId: '',
  };
}

function prefetch(reader: GraphReader, url: string | undefined): Promise<GraphPage> | undefined {
  if (!url) return undefined;
  const promise = reader.getPage(url);
  promise.catch(() => undefined); // observed when awaited; never an unhandled rejection meanwhile
  return promise;
}

/** A next link that Graph refuses (expired or unknown skip token) is a 4xx other than auth and throttling. */
function isRejectedNextLink(error: unknown): boolean {
  return error instanceof GraphRequestError && [400, 404, 410].includes(error.status);
}

async function hasRowsOfTenant(table: TableClient, tenantId: string): Promise<boolean> {
  const pages = table.listEntities({ queryOptions: { filter: tenantFilter(tenantId), select: ['RowKey'] } }).byPage({ maxPageSize: 1 });
  for await (const page of pages) if (page.length > 0) return true;
  return false;
}

function tenantFilter(tenantId: string): string {
  return odata`PartitionKey eq ${tenantId} or (PartitionKey ge ${`${tenantId}_`} and PartitionKey lt ${`${tenantId}\``})`;
}

/** Counts the stored rows of a collection from scratch (after a run stopped between a write and its checkpoint). */
export async function recount(table: TableClient, collection: CollectionDefinition, tenantId: string): Promise<Aggregates> {
  const aggregates = emptyAggregates();
  const rows = table.listEntities<Record<string, unknown>>({
    queryOptions: { filter: tenantFilter(tenantId), select: [...collection.aggregateBy] },
  });
  for await (const row of rows) {
    const values = Object.fromEntries(collection.aggregateBy.map((c) => [c, countedValue(row[c])]));
    count(aggregates, values, 1);
  }
  return aggregates;
}

async function finish(deps: EngineDeps, summary: RunSummary): Promise<RunSummary> {
  summary.finishedAt ??= new Date().toISOString();
  summary.durationMs = Date.parse(summary.finishedAt) - Date.parse(summary.startedAt);
  try {
    await writeRun(deps.tables.runs, summary);
  } catch (error) {
    deps.log.error(`${summary.collection}: could not write the SyncRuns row: ${(error as Error).message}`);
  }
  const line = `sync-run ${JSON.stringify(summaryLog(summary))}`;
  if (summary.outcome === 'failed') deps.log.error(line);
  else deps.log.info(line);
  return summary;
}

/** The one structured line per run that Application Insights queries read (see README, KQL). */
export function summaryLog(s: RunSummary) {
  return {
    collection: s.collection,
    outcome: s.outcome,
    trigger: s.trigger,
    runId: s.runId,
    pages: s.pages,
    records: s.records,
    adjusted: s.adjusted,
    invalid: s.invalid,
    transactions: s.transactions,
    requests: s.requests,
    retries: s.retries,
    throttles: s.throttles,
    restarts: s.restarts,
    durationMs: s.durationMs,
    watermarkBefore: s.watermarkBefore ?? null,
    watermarkAfter: s.watermarkAfter ?? null,
    error: s.error ?? null,
  };
}
