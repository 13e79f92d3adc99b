import { odata, type TableClient } from '@azure/data-tables';
import type { RunRecord } from '../domain/runs';
import { edmDateTime } from './edm';

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
