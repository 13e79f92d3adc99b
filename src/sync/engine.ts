import type { RunSummary } from '../domain/runs';
import { ensureTables, forgetTables, isTableNotFound } from '../store/tables';
import { readChildren } from './children';
import { readPass } from './pass';
import { Run, type EngineContext, type RunOptions } from './run';

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
    // A table deleted by hand: the next start creates the tables again (see ensureTables).
    if (isTableNotFound(error)) await forgetTables(ctx.tables).catch(() => undefined);
    throw error;
  }
}

async function runCollection(ctx: EngineContext, tenantId: string, name: string, options: RunOptions): Promise<RunSummary> {
  const collection = ctx.settings.catalog.require(name);
  await ensureTables(ctx.tables);
  const run = await Run.begin(ctx, tenantId, collection, options);
  if (!(run instanceof Run)) return run;
  try {
    await (collection.parent ? readChildren(run) : readPass(run));
  } catch (error) {
    if (isTableNotFound(error)) await forgetTables(ctx.tables).catch(() => undefined);
    await run.failed(error);
  }
  return run.end();
}
