import { merge } from '../domain/aggregates';
import { fromDate } from '../domain/datetime';
import type { PassPlan } from '../domain/pass';
import type { GraphPage } from '../graph/graphReader';
import { isRefusedNextLink } from '../graph/query';
import type { CollectionState } from '../store/syncState';
import { closeWindow, notePagesPerRun, observe, passKind, restartWindow, resumePass, setCap, startPass, windowFilter } from './plan';
import type { Run } from './run';

/** Window restarts in one run before it gives up. */
const MAX_RESTARTS = 3;

/**
 * One pass of a top-level collection: resume the pass in progress or plan one (./plan.ts: incremental, sweep,
 * backfill or full), read it window by window, page by page. Pages stream through one writer (page n+1 is fetched
 * while page n is written); once every page up to n is stored the plan is checkpointed in the background. A complete
 * window moves the watermark; a refused next link starts the window over; a pass begun by an earlier run is followed
 * by one that reads what changed since it began.
 */
export async function readPass(run: Run): Promise<void> {
  const { ctx, collection, state, summary, options, store } = run;
  const { clock, log, settings } = ctx;
  const name = collection.name;
  const resumable = !options.full && state.pass ? state.pass : undefined;
  let plan: PassPlan = resumable ? resumePass(resumable, run.runId) : newPass(run, state, options.full, options.sweep);
  /** A pass begun by an earlier run is followed by a new one, so that a run that succeeds has read Graph as of its start. */
  let catchUp = Boolean(resumable);
  /** The link being followed was saved by an earlier run (its refusal then means the window did not fit in a run). */
  let resumedLink = Boolean(resumable?.nextLink);
  /** The request in flight follows a next link (not a window's first page). */
  let followingLink = resumedLink;
  let restartsThisRun = 0;
  let previousPageFull = false;
  let pagesThisRun = 0;
  let p1Shaped = 0;
  let lastCheckpointAt = clock.now();
  const unstoredPages = new Map<number, { nextLink?: string; maxCursor?: string; minCursor?: string; records: number }>();
  const writer = run.writer({
    // A backfill writes plain inserts while its batches come out all new.
    insertFirst: plan.kind === 'backfill',
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
      run.progress();
    },
  });
  const firstPageOf = (p: PassPlan) =>
    run.fetch(run.graph().url(collection.path, { filter: windowFilter(p.window, collection.cursor), top: p.pageSize }));

  summary.sweep = plan.kind === 'sweep';
  summary.filterFrom = plan.from;
  // The first page is requested now, while the run registers itself (reading writes nothing).
  let pending: Promise<GraphPage> | undefined = plan.nextLink ? run.fetch(plan.nextLink) : firstPageOf(plan);
  await run.register();
  if (resumable) log.info(`${name}: resuming the ${plan.kind} pass started ${plan.startedAt} after ${plan.pages} pages`);

  while (pending) {
    let page: GraphPage;
    try {
      page = await pending;
    } catch (error) {
      if (!(followingLink && isRefusedNextLink(error) && restartsThisRun < MAX_RESTARTS)) throw error;
      restartsThisRun++;
      summary.restarts++;
      await writer.flush(); // the pages read so far are stored before the window starts over
      const reason = resumedLink ? 'expired-across-runs' : previousPageFull ? 'phantom-suspect' : 'expired';
      plan = restartWindow(plan, reason, run.runId);
      state.pass = { ...plan };
      log.warn(`${name}: Graph refused a next link (${(error as Error).message}); reading the window again (${reason})`);
      resumedLink = followingLink = previousPageFull = false;
      pending = firstPageOf(plan);
      continue;
    }
    resumedLink = false;
    setCap(plan, page.graphTime, fromDate(clock.now() - 1000));
    previousPageFull = page.records.length === plan.pageSize;
    const stop = run.stopping;
    // Page n+1 is on its way while page n is written.
    pending = page.nextLink && !stop ? run.fetch(page.nextLink) : undefined;
    followingLink = true;

    const mapped = await run.map(page.records);
    p1Shaped += mapped.p1Shaped;
    unstoredPages.set(writer.nextPage, {
      nextLink: page.nextLink,
      maxCursor: mapped.maxCursor,
      minCursor: mapped.minCursor,
      records: page.records.length,
    });
    await writer.add(mapped.rows);
    store.throwIfCheckpointFailed();

    if (!page.nextLink) {
      await writer.flush();
      const closed = closeWindow(plan, state.watermark, run.runId);
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
        finishPass(run, plan, p1Shaped);
        p1Shaped = 0;
        if (catchUp && !stop) {
          catchUp = false;
          await store.save(state);
          plan = newPass(run, state, false, options.sweep);
          log.info(`${name}: the resumed pass is complete; reading what changed since it began, from ${plan.from ?? 'the beginning'}`);
          summary.filterFrom = plan.from;
          summary.sweep ||= plan.kind === 'sweep';
          pending = firstPageOf(plan);
          followingLink = false;
          continue;
        }
        await run.succeeded();
        return;
      }
    }
    if (stop) {
      await writer.flush();
      if (run.outOfTime) notePagesPerRun(plan, pagesThisRun);
      state.pass = { ...plan };
      summary.outcome = 'partial';
      log.info(
        `${name}: ${options.signal?.aborted ? 'stopped on request' : 'time budget used'}; the pass resumes from its checkpoint on the next run`,
      );
      return;
    }
  }
}

function newPass(run: Run, state: CollectionState, full: boolean | undefined, sweep: boolean | undefined): PassPlan {
  const { settings, clock } = run.ctx;
  const now = clock.now();
  const kind = passKind({
    watermark: state.watermark,
    readStyle: run.collection.read,
    full,
    sweepRequested: sweep,
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
    pageSize: run.collection.pageSize,
    now,
    runId: run.runId,
  });
}

/**
 * The pass is read to its end: what a sweep found, the shape of the tenant's data. A sweep also recounts the rows, so
 * counts that went off (a run whose held writes landed after it lost its lease) heal every SYNC_SWEEP_HOURS; the drift
 * found is kept as `lastRecountDrift`. The data is P1-shaped when at least a tenth of a pass of some size came as
 * Entra ID P1 serves premium detections (`generic`, risk `hidden`): a P2 tenant has the odd such record too.
 */
function finishPass(run: Run, plan: PassPlan, p1Shaped: number): void {
  const { state, summary } = run;
  if (plan.kind === 'sweep') summary.sweepFound = plan.found;
  if (plan.kind !== 'incremental') state.lastSweep = { finishedAt: run.isoNow(), found: plan.kind === 'sweep' ? plan.found : 0, runId: plan.runId };
  if (plan.kind === 'sweep') state.recountNeeded = true;
  if (plan.records >= P1_SHAPE_MIN_RECORDS) state.dataShape = p1Shaped >= plan.records * P1_SHAPE_SHARE ? 'P1' : undefined;
  if (state.dataShape === 'P1') summary.dataShape = 'P1';
}

const P1_SHAPE_MIN_RECORDS = 20;
const P1_SHAPE_SHARE = 0.1;
