import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { COLLECTION_NAMES } from '../domain/collections';
import { collectionStatus, type CollectionStatus } from '../sync/status';
import type { SyncService } from '../sync/service';
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
  lastRun: { outcome: string; finishedAt: string; records: number; error: string | null } | null;
  passInProgress: { startedAt: string; pages: number; records: number } | null;
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
      ? { outcome: status.lastRun.outcome, finishedAt: status.lastRun.finishedAt, records: status.lastRun.records, error: status.lastRun.error }
      : null,
    passInProgress: status.passInProgress,
  });
}

/** Keys in a stable order, so equal counts always give the same bytes (and ETag). */
function sortedCounts(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export async function snapshotBody(service: SyncService, now = Date.now()): Promise<{ collections: Record<string, CollectionSummary> }> {
  const statuses = await Promise.all(COLLECTION_NAMES.map((c) => collectionStatus(service, c, now)));
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

export async function snapshot(service: SyncService, request: HttpRequest): Promise<HttpResponseInit> {
  readParams(request, []);
  const body = JSON.stringify(await snapshotBody(service));
  const etag = etagOf(body);
  const headers = { etag, 'cache-control': 'no-cache' };
  if (matchesIfNoneMatch(request.headers.get('if-none-match'), etag)) return { status: 304, headers };
  return { status: 200, body, headers: { ...headers, 'content-type': JSON_CONTENT_TYPE } };
}
