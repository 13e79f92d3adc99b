import { CollectionStateStore } from '../store/syncState';
import { COLLECTIONS, type CollectionName } from '../domain/collections';
import type { SyncService } from './service';

/** What the CLI `status`, the snapshot API and the health check tell about one collection. */
export interface CollectionStatus {
  collection: CollectionName;
  table: string;
  schedule: string;
  watermark: string | null;
  lastSuccessfulSyncAt: string | null;
  stale: boolean;
  /** Why the collection is stale, when it is. */
  staleReason: string | null;
  passInProgress: { startedAt: string; pages: number; records: number } | null;
  lastRun: { runId: string; outcome: string; startedAt: string; finishedAt: string; records: number; error: string | null } | null;
  total: number;
  /** Counts by value of each aggregate column, e.g. byRiskLevel, byRiskState. */
  counts: Record<string, Record<string, number>>;
}

export async function collectionStatus(service: SyncService, collection: CollectionName, now = Date.now()): Promise<CollectionStatus> {
  const { settings } = service;
  const store = new CollectionStateStore(service.tables.state, settings.tenantId, collection, settings.leaseSeconds * 1000);
  const state = await store.read();
  const schedule = settings.collections[collection];
  const staleAfterMs = settings.staleAfterRuns * schedule.scheduleIntervalMs;
  let staleReason: string | null = null;
  if (!state.lastSuccessAt) staleReason = 'no run has completed yet';
  else if (now - Date.parse(state.lastSuccessAt) > staleAfterMs) {
    staleReason = `the last success (${state.lastSuccessAt}) is older than ${settings.staleAfterRuns} schedule intervals (${Math.round(staleAfterMs / 1000)} s)`;
  }
  if (state.lastRun?.outcome === 'failed') {
    staleReason = `${staleReason ? `${staleReason}; ` : ''}the last run failed: ${state.lastRun.error ?? 'unknown error'}`;
  }
  const counts: Record<string, Record<string, number>> = {};
  for (const column of COLLECTIONS[collection].aggregateBy) counts[column] = state.aggregates.by[column] ?? {};
  return {
    collection,
    table: schedule.table,
    schedule: schedule.schedule,
    watermark: state.watermark ?? null,
    lastSuccessfulSyncAt: state.lastSuccessAt ?? null,
    stale: staleReason !== null,
    staleReason,
    passInProgress: state.pass ? { startedAt: state.pass.startedAt, pages: state.pass.pages, records: state.pass.records } : null,
    lastRun: state.lastRun ? { ...state.lastRun, error: state.lastRun.error ?? null } : null,
    total: state.aggregates.total,
    counts,
  };
}
