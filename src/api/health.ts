import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { CollectionStatus, ReadModel } from '../store/readModel';
import { describeError, jsonResponse } from './errors';
import { readParams } from './params';

/**
 * GET /api/health, for uptime monitors: 200 while every collection the tenant is licensed and permitted for is fresh;
 * 503 with the reasons otherwise (no success yet, the last success older than SNAPSHOT_STALE_AFTER_RUNS schedule
 * intervals, the last run failed, no collection can be synced at all, or the sync state can not be read). Collections
 * the tenant lacks the licence or a permission for are listed by name with what to do; they do not make it 503.
 */
export async function health(model: ReadModel, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  readParams(request, []);
  const headers = { 'cache-control': 'no-store' };
  let statuses: CollectionStatus[];
  try {
    statuses = await Promise.all(model.catalog.names.map((c) => model.status(c)));
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
        access: s.access,
        ...(s.accessAction ? { accessAction: s.accessAction } : {}),
      },
    ]),
  );
  const unlicensed = statuses.filter((s) => s.access === 'unlicensed').map((s) => s.collection);
  const forbidden = statuses.filter((s) => s.access === 'forbidden').map((s) => s.collection);
  const syncable = statuses.filter((s) => s.access === 'licensed');
  const reasons = syncable.filter((s) => s.stale).map((s) => `${s.collection}: ${s.staleReason}`);
  if (syncable.length === 0)
    reasons.push('no collection can be synced: the tenant lacks the licence or the identity the permissions (see collections)');
  const body = { status: reasons.length > 0 ? 'unhealthy' : 'healthy', ...(reasons.length > 0 && { reasons }), unlicensed, forbidden, collections };
  return jsonResponse(reasons.length > 0 ? 503 : 200, body, headers);
}
