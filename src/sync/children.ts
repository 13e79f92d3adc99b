import { createHash } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { merge } from '../domain/aggregates';
import type { CollectionDefinition } from '../domain/collection';
import { fromDate } from '../domain/datetime';
import type { PassPlan } from '../domain/pass';
import { GraphRequestError } from '../graph/errors';
import type { GraphPage, GraphRecord } from '../graph/graphReader';
import { isRefusedNextLink } from '../graph/query';
import { idOfRowKey } from '../store/entityMapping';
import { tenantFilter } from '../store/partitions';
import { CollectionStateStore } from '../store/syncState';
import { passKind, startPass } from './plan';
import type { Run } from './run';

/** Restarts of one parent's children after refused next links, before the run gives up. */
const MAX_RESTARTS = 3;

/** Fingerprints kept of parents not older than the watermark (16 characters each: the state row stays small). */
const MAX_SEEN = 1000;

interface Parent {
  /** `<PartitionKey>\n<RowKey>`: the order parents are read in, and the checkpoint. */
  key: string;
  id: string;
  /** The row's Timestamp as listed (Table Storage's clock). */
  timestamp?: string;
}

/**
 * A parent row as it was when its children were read: a row rewritten since (its record changed) has another.
 *
 * The watermark is two seconds behind Table Storage's time at the listing (its Date header has whole seconds), so
 * parent rows written in those seconds are listed again by the next pass although their children were stored: a
 * first sync's whole last page of parents, whose history would all be read again. The pass keeps the fingerprints of
 * those parents, and the next pass skips a parent whose row still has the fingerprint it kept.
 */
export function parentFingerprint(parent: Pick<Parent, 'key' | 'timestamp'>): string {
  return createHash('sha256')
    .update(`${parent.key}\n${parent.timestamp ?? ''}`)
    .digest('base64url')
    .slice(0, 16);
}

/**
 * One pass of a child collection (`riskyUsers/{id}/history`): for every parent whose row was written since the child's
 * watermark (a parent row is rewritten only when its record changed, so these are the parents whose risk moved), and
 * for every parent on the first pass, a sweep or `--full`, the children are read whole and stored. The child's
 * watermark is a time on Table Storage's own clock (the parent rows' `Timestamp`, against the `Date` of the answer
 * that listed them), so no host's clock is compared with another's: every parent row written before it has its
 * children stored. Parents are read in table order and checkpointed one by one, so a pass resumes after the last parent
 * stored; the next parent's first page is requested while the current one's rows are written.
 */
export async function readChildren(run: Run): Promise<void> {
  const { ctx, collection, state, summary, options, store } = run;
  const { settings, clock, log } = ctx;
  const parentName = collection.parent!.collection;
  const resumable = !options.full && state.pass ? state.pass : undefined;
  let plan: PassPlan = resumable ?? newChildPass(run);
  /** A pass begun by an earlier run is followed by one for the parents that changed since it began. */
  let catchUp = Boolean(resumable);
  summary.sweep = plan.kind === 'sweep';
  summary.filterFrom = plan.from;
  let lastCheckpointAt = clock.now();
  const parentsOfPages = new Map<number, { parent: Parent; pages: number; records: number }>();
  /** Parents of this pass (stored, or skipped as unchanged) that the next pass would list again: see parentFingerprint. */
  let recent: Parent[] = [];
  const isRecent = (parent: Parent) => parent.timestamp !== undefined && Date.parse(parent.timestamp) >= Date.parse(plan.cap!) - 1;
  const writer = run.writer({
    onCommitted: (delta, rows) => {
      merge(state.aggregates, delta);
      plan.found += rows.created + rows.replaced;
    },
    onStored: (n) => {
      const done = parentsOfPages.get(n)!;
      parentsOfPages.delete(n);
      if (isRecent(done.parent)) recent.push(done.parent);
      plan.afterKey = done.parent.key;
      plan.pages += done.pages;
      plan.records += done.records;
      summary.pages += done.pages;
      summary.read += done.records;
      state.pass = { ...plan };
      if (clock.now() - lastCheckpointAt >= settings.checkpointSeconds * 1000) {
        lastCheckpointAt = clock.now();
        store.checkpoint(state);
      }
      run.progress();
    },
  });
  await run.register();
  // A parent the tenant is not licensed or permitted for has no children to read: the child says the same.
  const parentState = await new CollectionStateStore(ctx.tables.state, run.tenantId, parentName, {
    leaseMs: settings.leaseSeconds * 1000,
    clock,
  }).read();
  if (parentState.access) {
    summary.outcome = parentState.access.state;
    summary.action = parentState.access.action;
    summary.error = `${parentName} is ${parentState.access.state}: ${parentState.access.code}`;
    state.access = { ...parentState.access };
    return;
  }

  for (;;) {
    const { parents, unchanged, serverTime } = await parentsToRead(run, ctx.tables.collections[parentName]!, plan, new Set(state.childrenSeen));
    plan.cap ??= serverTime;
    recent.push(...unchanged.filter(isRecent));
    if (plan === resumable)
      log.info(`${collection.name}: resuming the ${plan.kind} pass started ${plan.startedAt}: ${parents.length} ${parentName} left`);
    const firstPage = (parent: Parent) => run.fetch(run.graph().url(childPath(collection, parent.id), { top: collection.pageSize }));
    let next = parents.length > 0 ? firstPage(parents[0]!) : undefined;
    for (let i = 0; i < parents.length; i++) {
      const parent = parents[i]!;
      const { records, pages } = await readAll(run, parent, next!, () => firstPage(parent));
      // The next parent's first page is on its way while this one's rows are written.
      next = i + 1 < parents.length && !run.stopping ? firstPage(parents[i + 1]!) : undefined;
      const mapped = await run.map(records, (record) => fillParent(collection, record, parent.id));
      parentsOfPages.set(writer.nextPage, { parent, pages, records: records.length });
      await writer.add(mapped.rows);
      store.throwIfCheckpointFailed();
      if (!next && i + 1 < parents.length) {
        await writer.flush();
        state.pass = { ...plan };
        summary.outcome = 'partial';
        log.info(
          `${collection.name}: ${options.signal?.aborted ? 'stopped on request' : 'time budget used'}; the pass resumes after ${parent.id} on the next run`,
        );
        return;
      }
    }
    await writer.flush();
    // Every parent row written before the pass began has its children stored.
    state.watermark = plan.cap;
    state.childrenSeen = recent.slice(0, MAX_SEEN).map(parentFingerprint);
    recent = [];
    state.pass = undefined;
    if (plan.kind !== 'incremental') state.lastSweep = { finishedAt: run.isoNow(), found: plan.kind === 'sweep' ? plan.found : 0, runId: run.runId };
    if (plan.kind === 'sweep') state.recountNeeded = true; // as for a top-level collection: a sweep recounts
    if (!catchUp || run.stopping) break;
    catchUp = false;
    await store.save(state);
    plan = newChildPass(run);
    log.info(`${collection.name}: the resumed pass is complete; reading the ${parentName} that changed since it began`);
  }
  await run.succeeded();
}

function newChildPass(run: Run): PassPlan {
  const { settings, clock } = run.ctx;
  const now = clock.now();
  const kind = passKind({
    watermark: run.state.watermark,
    readStyle: 'incremental',
    full: run.options.full,
    sweepRequested: run.options.sweep,
    lastSweepAt: run.state.lastSweep?.finishedAt ?? run.state.lastSuccessAt,
    sweepHours: settings.sweepHours,
    now,
  });
  const plan = startPass({ kind, lookbackMinutes: 0, sweepLookbackHours: 0, pageSize: run.collection.pageSize, now, runId: run.runId });
  // The parents written since the watermark; all of them on the first pass, a sweep or --full.
  plan.from = kind === 'incremental' ? run.state.watermark : undefined;
  plan.window = { from: plan.from };
  return plan;
}

/**
 * The parents to read, in table order, after the checkpoint; the ones skipped because their row still has the
 * fingerprint the last pass kept (`seen`, only in an incremental pass); and Table Storage's time before it listed
 * them (its Date header has whole seconds: two seconds less, so no row written at that time or later is missed).
 */
async function parentsToRead(
  run: Run,
  parentTable: Run['table'],
  plan: PassPlan,
  seen: Set<string>,
): Promise<{ parents: Parent[]; unchanged: Parent[]; serverTime: string }> {
  let filter = `(${tenantFilter(run.tenantId)})`;
  if (plan.from) filter += ` and ${odata`Timestamp ge ${new Date(Date.parse(plan.from))}`}`;
  const parents: Parent[] = [];
  const unchanged: Parent[] = [];
  let serverTime: string | undefined;
  const onResponse = (response: { headers: { get(name: string): string | undefined | null } }) => {
    const date = Date.parse(response.headers.get('date') ?? '');
    if (serverTime === undefined && !Number.isNaN(date)) serverTime = fromDate(date - 2000);
  };
  const fallback = fromDate(run.ctx.clock.now() - 2000);
  try {
    const rows = parentTable.listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey', 'Timestamp'] }, onResponse });
    for await (const row of rows) {
      const key = `${row.partitionKey}\n${row.rowKey}`;
      if (plan.afterKey !== undefined && key <= plan.afterKey) continue;
      const parent: Parent = { key, id: idOfRowKey(String(row.rowKey)), timestamp: typeof row.timestamp === 'string' ? row.timestamp : undefined };
      if (plan.from && parent.timestamp !== undefined && seen.has(parentFingerprint(parent))) unchanged.push(parent);
      else parents.push(parent);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return { parents, unchanged, serverTime: serverTime ?? fallback };
}

function childPath(collection: CollectionDefinition, parentId: string): string {
  return collection.path.replace('{parentId}', encodeURIComponent(parentId));
}

/** A child record names its parent (the history item's userId): set it where Graph left it out. */
function fillParent(collection: CollectionDefinition, record: Record<string, unknown>, parentId: string): void {
  if (
    collection.partition.by === 'property' &&
    (record[collection.partition.property] === undefined || record[collection.partition.property] === null)
  ) {
    record[collection.partition.property] = parentId;
  }
}

/** All pages of one parent's children; a refused next link reads them again from the first page, a gone parent has none. */
async function readAll(
  run: Run,
  parent: Parent,
  first: Promise<GraphPage>,
  again: () => Promise<GraphPage>,
): Promise<{ records: GraphRecord[]; pages: number }> {
  let pending = first;
  for (let restarts = 0; ;) {
    const records: GraphRecord[] = [];
    let pages = 0;
    try {
      let page = await pending;
      for (;;) {
        pages++;
        records.push(...page.records);
        if (!page.nextLink) return { records, pages };
        page = await run.fetch(page.nextLink);
      }
    } catch (error) {
      if (error instanceof GraphRequestError && error.status === 404 && pages === 0) return { records: [], pages: 0 }; // the parent is gone
      if (pages > 0 && isRefusedNextLink(error) && restarts < MAX_RESTARTS) {
        restarts++;
        run.summary.restarts++;
        run.ctx.log.warn(`${run.collection.name}: Graph refused a next link of ${parent.id}; reading its children again`);
        pending = again();
        continue;
      }
      throw error;
    }
  }
}
