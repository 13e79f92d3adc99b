import { randomUUID } from 'node:crypto';
import { RestError } from '@azure/data-tables';
import type { CollectionDefinition } from '../domain/collection';
import type { RunSummary } from '../domain/runs';
import { ensureTables, forgetTables, isTableBeingDeleted, isTableGone, TableBeingDeletedError, tableOfRequest } from '../store/tables';
import { readChildren } from './children';
import { readPass } from './pass';
import { Run, type EngineContext, type RunOptions } from './run';

/** Attempts at beginning a run (the tables, the lease) when storage does not answer. */
const BEGIN_ATTEMPTS = 3;

export type { EngineContext, RunOptions } from './run';

/**
 * The sync engine: one run of one collection of one tenant, the same for every declared collection.
 *
 * 1. Take the collection's lease (./run.ts; a run that can not is `skipped`). A collection the tenant was found not
 *    licensed or permitted for is tried again only every SYNC_UNLICENSED_RETRY_HOURS by a scheduled run.
 * 2. Read: a top-level collection pass by pass, window by window (./pass.ts, rules in ./plan.ts); a child collection
 *    parent by parent (./children.ts).
 * 3. End: a licence or permission 403 is `unlicensed` / `forbidden`, anything else thrown `failed`; the state (watermark,
 *    counts, last run) is saved, the lease given up and the SyncRuns row written.
 */
export async function syncCollection(ctx: EngineContext, tenantId: string, name: string, options: RunOptions): Promise<RunSummary> {
  try {
    return await runCollection(ctx, tenantId, name, options);
  } catch (error) {
    throw await afterTableGone(ctx, error);
  }
}

async function runCollection(ctx: EngineContext, tenantId: string, name: string, options: RunOptions): Promise<RunSummary> {
  const run = await begin(ctx, tenantId, ctx.settings.catalog.require(name), options);
  if (!(run instanceof Run)) return run;
  const { collection } = run;
  try {
    await (collection.parent ? readChildren(run) : readPass(run));
  } catch (error) {
    await run.failed(await afterTableGone(ctx, error));
    if (isTableGone(error)) await run.forgetCopyIfTableGone();
  }
  return run.end();
}

/**
 * A table deleted by hand (or by a reset): the next start creates the tables again (see ensureTables). A table still
 * being deleted is said so by name.
 */
async function afterTableGone(ctx: EngineContext, error: unknown): Promise<unknown> {
  if (!isTableGone(error)) return error;
  await forgetTables(ctx.tables).catch(() => undefined);
  if (!isTableBeingDeleted(error) || error instanceof TableBeingDeletedError) return error;
  let cause: unknown = error;
  while (cause instanceof Error && !(cause instanceof RestError)) cause = cause.cause;
  const table = tableOfRequest(cause instanceof RestError ? cause.request?.url : undefined);
  return new TableBeingDeletedError(table ? [table] : [], { cause: error });
}

/**
 * The tables and the lease. The run reads its lease and state while the tables are checked (a store that is new answers
 * those reads as absent, which they are), and writes nothing before the check is done. Storage that did not answer (a
 * reset connection, a timeout, a 5xx) after the SDK's own retries is tried twice more, after 1 s and 2 s, with the same
 * run id: a lease written whose answer was lost is ours (judgeLease). A store that stays down fails the run with its
 * error; nothing can be recorded then.
 */
async function begin(ctx: EngineContext, tenantId: string, collection: CollectionDefinition, options: RunOptions): Promise<Run | RunSummary> {
  const runOptions = { ...options, runId: options.runId ?? randomUUID() };
  for (let attempt = 1; ; attempt++) {
    try {
      const holdWritesUntil = Promise.all([ensureTables(ctx.tables), options.holdWritesUntil]);
      holdWritesUntil.catch(() => undefined); // the run's error when it waits for it; nothing to report when it failed first
      return await Run.begin(ctx, tenantId, collection, { ...runOptions, holdWritesUntil });
    } catch (error) {
      // A failure that came before the writes were allowed (a read while the credential was being checked): the check's
      // own verdict comes first (a credential that can never work ends the CLI with its own line).
      await Promise.allSettled([options.holdWritesUntil]);
      if (attempt >= BEGIN_ATTEMPTS || !isUnanswered(error) || options.signal?.aborted) throw error;
      ctx.log.warn(`${collection.name}: storage did not answer while the run began (${(error as Error).message}); trying again`);
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
  }
}

function isUnanswered(error: unknown): boolean {
  if (!(error instanceof RestError)) return false;
  return error.statusCode === undefined || error.statusCode === 408 || error.statusCode >= 500;
}
