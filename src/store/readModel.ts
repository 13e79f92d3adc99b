import type { TableClient } from '@azure/data-tables';
import type { Clock } from '../domain/clock';
import type { Catalog, CollectionDefinition } from '../domain/collection';
import type { Settings } from '../config/settings';
import { CollectionStateStore, type CollectionState } from './syncState';
import type { SyncTables } from './tables';

/**
 * What the HTTP API and `risk-sync status` read, and nothing more: the collections' state (as statuses), their
 * tables, and the table that holds the API's signing key. The API never reaches the sync engine.
 */
export interface ReadModel {
  readonly tenantId: string;
  readonly catalog: Catalog;
  status(collection: string, now?: number): Promise<CollectionStatus>;
  /** The collections that have a table of their own and are listed by the API (every declared one). */
  table(collection: string): TableClient;
  changesTable(collection: string): TableClient | undefined;
  /** SyncState: the API keeps its continuation signing key there. */
  readonly stateTable: TableClient;
  readonly runsTable: TableClient;
  /**
   * What `read` gives, or what it gave for the same `key` a moment ago (the API process's cache, src/app/stateCache.ts;
   * here, every call reads). `key` must name everything the value depends on.
   */
  cached<T>(key: string, read: () => Promise<T>): Promise<T>;
}

export type AccessState = 'licensed' | 'unlicensed' | 'forbidden';

/** What the CLI `status`, the snapshot API and the health check tell about one collection. */
export interface CollectionStatus {
  collection: string;
  table: string;
  schedule: string | null;
  watermark: string | null;
  lastSuccessfulSyncAt: string | null;
  stale: boolean;
  /** Why the collection is stale, when it is. */
  staleReason: string | null;
  /** Whether the tenant can read it: `unlicensed` (no licence) or `forbidden` (a missing permission) as Graph said last. */
  access: AccessState;
  /** What to do about an `unlicensed` or `forbidden` collection. */
  accessAction: string | null;
  passInProgress: { kind: string; startedAt: string; pages: number; read: number } | null;
  lastRun: { runId: string; outcome: string; startedAt: string; finishedAt: string; read: number; error: string | null } | null;
  lastSweep: { finishedAt: string; found: number } | null;
  /** `P1` when the data is shaped as Entra ID P1 serves it (premium detections generic, risk hidden). */
  dataShape: string | null;
  quarantined: number;
  total: number;
  /** Counts by value of each aggregate column, e.g. riskLevel, riskState. */
  counts: Record<string, Record<string, number>>;
}

export function createReadModel(settings: Settings, tables: SyncTables, tenantId: string, clock: Clock): ReadModel {
  return {
    tenantId,
    catalog: settings.catalog,
    stateTable: tables.state,
    runsTable: tables.runs,
    table: (collection) => {
      const table = tables.collections[collection];
      if (!table) throw new Error(`no table for collection '${collection}'`);
      return table;
    },
    changesTable: (collection) => tables.changes[collection],
    cached: (_key, read) => read(),
    async status(collection, now = clock.now()) {
      const store = new CollectionStateStore(tables.state, tenantId, collection, { leaseMs: settings.leaseSeconds * 1000, clock });
      return statusOf(settings.catalog.require(collection), settings, await store.read(), now);
    },
  };
}

/** A collection's status from its state: staleness is a matter of the schedule, the last success and the last run. */
export function statusOf(collection: CollectionDefinition, settings: Settings, state: CollectionState, now: number): CollectionStatus {
  const configured = settings.collections[collection.name]!;
  const staleAfterMs = settings.staleAfterRuns * configured.scheduleIntervalMs;
  const access: AccessState = state.access?.state ?? 'licensed';
  let staleReason: string | null = null;
  if (access === 'licensed') {
    if (!state.lastSuccessAt) staleReason = 'no run has completed yet';
    else if (now - Date.parse(state.lastSuccessAt) > staleAfterMs) {
      staleReason = `the last success (${state.lastSuccessAt}) is older than ${settings.staleAfterRuns} schedule intervals (${Math.round(staleAfterMs / 1000)} s)`;
    }
    if (state.lastRun?.outcome === 'failed') {
      staleReason = `${staleReason ? `${staleReason}; ` : ''}the last run failed: ${shortReason(state.lastRun.error)}`;
    }
  }
  const counts: Record<string, Record<string, number>> = {};
  for (const column of collection.aggregateBy) counts[column] = state.aggregates.by[column] ?? {};
  return {
    collection: collection.name,
    table: configured.table,
    schedule: configured.schedule ?? null,
    watermark: state.watermark ?? null,
    lastSuccessfulSyncAt: state.lastSuccessAt ?? null,
    stale: staleReason !== null,
    staleReason,
    access,
    accessAction: state.access?.action ?? null,
    passInProgress: state.pass ? { kind: state.pass.kind, startedAt: state.pass.startedAt, pages: state.pass.pages, read: state.pass.records } : null,
    lastRun: state.lastRun ? { ...state.lastRun, error: state.lastRun.error ?? null } : null,
    lastSweep: state.lastSweep ? { finishedAt: state.lastSweep.finishedAt, found: state.lastSweep.found } : null,
    dataShape: state.dataShape ?? null,
    quarantined: state.quarantined ?? 0,
    total: state.aggregates.total,
    counts,
  };
}

/** The first line of an error, at most 300 characters: health and summaries carry a reason, never an SDK dump. */
export function shortReason(error: string | undefined | null): string {
  if (!error) return 'unknown error';
  const line = error.split('\n', 1)[0]!.trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
