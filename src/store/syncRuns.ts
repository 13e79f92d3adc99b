import { odata, type TableClient } from '@azure/data-tables';
import type { RunRecord } from '../domain/runs';
import { edmDateTime, textValue } from './edm';
import { isStatus } from './tables';

/**
 * SyncRuns: one row per run. PartitionKey = `<tenantId>_<collection>`; RowKey = reversed start time + run id,
 * so the newest run of a collection is the first row of its partition.
 */
export type { RunOutcome, RunRecord } from '../domain/runs';

const MAX_MS = 9_999_999_999_999;

export function runPartitionKey(tenantId: string, collection: string): string {
  return `${tenantId}_${collection}`;
}

export function runRowKey(startedAt: string, runId: string): string {
  return `${String(MAX_MS - new Date(startedAt).getTime()).padStart(13, '0')}_${runId}`;
}

const DATETIME_FIELDS = ['startedAt', 'finishedAt', 'watermarkBefore', 'watermarkAfter', 'filterFrom'] as const;

export async function writeRun(client: TableClient, run: RunRecord): Promise<void> {
  const entity: Record<string, unknown> = {
    partitionKey: runPartitionKey(run.tenantId, run.collection),
    rowKey: runRowKey(run.startedAt, run.runId),
  };
  for (const [key, value] of Object.entries(run)) {
    if (value === undefined) continue;
    if ((DATETIME_FIELDS as readonly string[]).includes(key)) entity[key] = edmDateTime(String(value));
    else if (key === 'error') entity[key] = String(value).slice(0, 16_000);
    else entity[key] = value;
  }
  await client.upsertEntity(entity as { partitionKey: string; rowKey: string }, 'Replace');
}

/** Marks a run that stopped without writing its outcome (killed, timed out, lost its host). */
export async function markInterrupted(client: TableClient, tenantId: string, collection: string, rowKey: string, byRunId: string) {
  await client.upsertEntity(
    {
      partitionKey: runPartitionKey(tenantId, collection),
      rowKey,
      outcome: 'interrupted',
      error: `the run stopped without recording its end (killed, timed out or its host went away); run ${byRunId} resumed from its last checkpoint`,
    },
    'Merge',
  );
}

/** The newest runs of a collection, newest first. */
export async function latestRuns(client: TableClient, tenantId: string, collection: string, top = 1): Promise<Record<string, unknown>[]> {
  const runs: Record<string, unknown>[] = [];
  const pages = client
    .listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${runPartitionKey(tenantId, collection)}` },
    })
    .byPage({ maxPageSize: top });
  for await (const page of pages) {
    runs.push(...page.slice(0, top - runs.length));
    if (runs.length >= top) break;
  }
  return runs;
}

/** How far before a run id's issue time its run may have started by the clock of another instance (clock skew). */
const SKEW_MS = 5 * 60_000;

/**
 * The SyncRuns row of a run id among the given collections, or undefined. An id that carries its issue time (see
 * ./runQueue.ts `issuedAt`) is looked for only among the runs started since (a RowKey range: the newest rows of each
 * partition); any other id among every run of each collection's partition.
 */
export async function findRun(
  client: TableClient,
  tenantId: string,
  collections: readonly string[],
  runId: string,
  issuedAtMs?: number,
): Promise<Record<string, unknown> | undefined> {
  const found = await Promise.all(
    collections.map(async (collection) => {
      const partition = runPartitionKey(tenantId, collection);
      const filter =
        issuedAtMs === undefined
          ? odata`PartitionKey eq ${partition} and runId eq ${runId}`
          : odata`PartitionKey eq ${partition} and RowKey lt ${String(MAX_MS - (issuedAtMs - SKEW_MS) + 1).padStart(13, '0')} and runId eq ${runId}`;
      for await (const row of client.listEntities<Record<string, unknown>>({ queryOptions: { filter }, disableTypeConversion: true })) return row;
      return undefined;
    }),
  ).catch(noTableYet);
  return found.find((row) => row !== undefined);
}

/** The newest `last` runs of the given collections together, newest first (rows as read without type conversion). */
export async function recentRuns(
  client: TableClient,
  tenantId: string,
  collections: readonly string[],
  last: number,
): Promise<Record<string, unknown>[]> {
  const newest = async (collection: string): Promise<Record<string, unknown>[]> => {
    const filter = odata`PartitionKey eq ${runPartitionKey(tenantId, collection)}`;
    const pages = client
      .listEntities<Record<string, unknown>>({ queryOptions: { filter }, disableTypeConversion: true })
      .byPage({ maxPageSize: last });
    // The partition's first rows are its newest; a page may come back empty with a continuation.
    for await (const page of pages) if (page.length > 0) return page.slice(0, last);
    return [];
  };
  const perCollection = await Promise.all(collections.map(newest)).catch(noTableYet);
  return perCollection
    .flat()
    .sort((a, b) => startOf(b) - startOf(a))
    .slice(0, last);
}

/** SyncRuns does not exist before the first run: no rows. */
function noTableYet(error: unknown): never[] {
  if (isStatus(error, 404)) return [];
  throw error;
}

const startOf = (row: Record<string, unknown>) => Date.parse(textValue(row.startedAt) ?? '') || 0;
