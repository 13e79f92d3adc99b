import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { shortReason, type CollectionStatus, type ReadModel } from '../store/readModel';
import { JSON_CONTENT_TYPE } from './errors';
import { readParams } from './params';

/**
 * GET /api/snapshot: per collection, the counts the sync keeps up to date as it writes, the watermark, the last
 * success and run, and staleness. It reads one SyncState row per collection and never a data table, so it answers
 * in milliseconds at any size. The body carries no clock reading, so its strong ETag changes only when the state does
 * (or a collection turns stale); `If-None-Match` with that ETag answers 304.
 */
export interface CollectionSummary {
  total: number;
  /** byRiskLevel, byRiskState: counts by value; rows without a value count under "(none)". */
  [counts: `by${string}`]: Record<string, number>;
  lastSuccessfulSyncAt: string | null;
  watermark: string | null;
  stale: boolean;
  staleReason: string | null;
  lastRun: { outcome: string; finishedAt: string; read: number; error: string | null } | null;
  passInProgress: { kind: string; startedAt: string; pages: number; read: number } | null;
  /** `licensed`, `unlicensed` (the tenant lacks the licence) or `forbidden` (a missing Graph permission). */
  access: string;
  accessAction: string | null;
  /** When the last sweep (a re-read of SYNC_SWEEP_LOOKBACK_HOURS) ended and how many rows it found new or changed. */
  lastSweep: { finishedAt: string; found: number } | null;
  /** `P1` when the data is shaped as Entra ID P1 serves it: premium detections generic, risk hidden. */
  dataShape: string | null;
  /** Records that could not be stored and wait in the quarantine table. */
  quarantined: number;
}

export function summarize(status: CollectionStatus): CollectionSummary {
  const summary = { total: status.total } as CollectionSummary;
  for (const [column, counts] of Object.entries(status.counts)) {
    summary[`by${column[0]!.toUpperCase()}${column.slice(1)}`] = sortedCounts(counts);
  }
  return Object.assign(summary, {
    lastSuccessfulSyncAt: status.lastSuccessfulSyncAt,
    watermark: status.watermark,
    stale: status.stale,
    staleReason: status.staleReason,
    lastRun: status.lastRun
      ? {
          outcome: status.lastRun.outcome,
          finishedAt: status.lastRun.finishedAt,
          read: status.lastRun.read,
          // One short line: the run's row keeps the whole error, the summary never a multi-line SDK dump.
          error: status.lastRun.error === null ? null : shortReason(status.lastRun.error),
        }
      : null,
    passInProgress: status.passInProgress,
    access: status.access,
    accessAction: status.accessAction,
    lastSweep: status.lastSweep,
    dataShape: status.dataShape,
    quarantined: status.quarantined,
  });
}

/** Keys in a stable order, so equal counts always give the same bytes (and ETag). */
function sortedCounts(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export async function snapshotBody(model: ReadModel, now = Date.now()): Promise<{ collections: Record<string, CollectionSummary> }> {
  const statuses = await Promise.all(model.catalog.names.map((c) => model.status(c, now)));
  return { collections: Object.fromEntries(statuses.map((s) => [s.collection, summarize(s)])) };
}

export function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
}

/** If-None-Match: `*`, or a list of entity tags, compared weakly (a W/ prefix is ignored), as RFC 9110 says. */
export function matchesIfNoneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const tags = header
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return tags.some((t) => t === '*' || opaque(t) === opaque(etag));
}

export async function snapshot(model: ReadModel, request: HttpRequest): Promise<HttpResponseInit> {
  readParams(request, []);
  const body = JSON.stringify(await snapshotBody(model));
  const etag = etagOf(body);
  const headers = { etag, 'cache-control': 'no-cache' };
  if (matchesIfNoneMatch(request.headers.get('if-none-match'), etag)) return { status: 304, headers };
  return { status: 200, body, headers: { ...headers, 'content-type': JSON_CONTENT_TYPE } };
}
