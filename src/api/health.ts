import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { COLLECTION_NAMES } from '../domain/collections';
import { collectionStatus } from '../sync/status';
import type { SyncService } from '../sync/service';
import { describeError, jsonResponse } from './errors';
import { readParams } from './params';

/**
 * GET /api/health, for uptime monitors: 200 when every collection's last success is fresh, 503 with the reasons
 * otherwise (no success yet, the last success older than SNAPSHOT_STALE_AFTER_RUNS schedule intervals, the last run
 * failed, or the sync state can not be read).
 */
export async function health(service: SyncService, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  readParams(request, []);
  const headers = { 'cache-control': 'no-store' };
  let statuses;
  try {
    statuses = await Promise.all(COLLECTION_NAMES.map((c) => collectionStatus(service, c)));
  } catch (error) {
    context.error(`health: the sync state could not be read: ${describeError(error)}`);
    return jsonResponse(503, { status: 'unhealthy', reasons: ['the sync state could not be read (see the function log)'], collections: {} }, headers);
  }
  const collections = Object.fromEntries(
    statuses.map((s) => [
      s.collection,
      {
        lastSuccessfulSyncAt: s.lastSuccessfulSyncAt,
        stale: s.stale,
        ...(s.staleReason ? { staleReason: s.staleReason } : {}),
        lastRunOutcome: s.lastRun?.outcome ?? null,
      },
    ]),
  );
  const reasons = statuses.filter((s) => s.stale).map((s) => `${s.collection}: ${s.staleReason}`);
  if (reasons.length > 0) return jsonResponse(503, { status: 'unhealthy', reasons, collections }, headers);
  return jsonResponse(200, { status: 'healthy', collections }, headers);
}
