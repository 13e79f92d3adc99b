import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import type { Catalog } from '../domain/collection';
import { plainValue } from '../store/edm';
import type { ReadModel } from '../store/readModel';
import { shortReason } from '../store/readModel';
import { issuedAt, newRunId, NO_QUEUE, type RunQueue, type RunRequest } from '../store/runQueue';
import { findRun, recentRuns } from '../store/syncRuns';
import { ApiError, badRequest, jsonResponse, notFound, quote } from './errors';
import type { LinkOptions } from './links';
import { readParams } from './params';

/**
 * POST /api/runs (admin key): asks for a run now, as `risk-sync sync` does on a workstation. The body
 * `{"collection"?, "full"?, "sweep"?}` (all optional: every collection, an ordinary incremental run) is checked, one
 * message goes to the RUNS_QUEUE Storage queue, and the answer is 202 with one run id per collection that will run
 * (a collection's children follow it: riskyUsers brings riskyUserHistory). The queue function makes the runs.
 * GET /api/runs/{id}: that run's SyncRuns row, or `"outcome": "queued"` while its request waits in the queue.
 * GET /api/runs?last=20[&collection=]: the newest runs, newest first.
 */

/** How long a request may wait in the queue before it expires (the Storage default time-to-live of a message). */
export const QUEUED_FOR_AT_MOST_MS = 7 * 24 * 3_600_000;
/** Clock skew allowed between the instance that issued a run id and the one that reads it. */
const SKEW_MS = 5 * 60_000;

const runBody = z.strictObject({
  collection: z.string({ error: 'must be a collection name (a string)' }).optional(),
  full: z.boolean({ error: 'must be true or false' }).optional(),
  sweep: z.boolean({ error: 'must be true or false' }).optional(),
});

const EXAMPLE = '{"collection": "riskDetections", "full": true}';

async function readBody(request: HttpRequest): Promise<z.infer<typeof runBody>> {
  const text = (await request.text()).trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest(`the body must be a JSON object such as ${EXAMPLE} (or empty: every collection)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest(`the body must be a JSON object such as ${EXAMPLE} (or empty: every collection)`);
  }
  const parsed = runBody.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      throw badRequest(`unknown field ${issue.keys.map(quote).join(', ')} in the body: accepted fields are collection, full, sweep`);
    }
    throw badRequest(`'${issue.path.join('.')}' ${issue.message}`);
  }
  return parsed.data;
}

/** The runs a request makes, in order: the named collection (or every top-level one), each followed by its children. */
export function plannedCollections(catalog: Catalog, requested: string | undefined): string[] {
  const roots = requested === undefined ? catalog.collections.filter((c) => !c.parent).map((c) => c.name) : [requested];
  const out: string[] = [];
  const add = (name: string) => {
    out.push(name);
    for (const child of catalog.childrenOf(name)) add(child.name);
  };
  roots.forEach(add);
  return out;
}

export async function requestRun(model: ReadModel, queue: RunQueue | undefined, request: HttpRequest, links: LinkOptions): Promise<HttpResponseInit> {
  readParams(request, []);
  const body = await readBody(request);
  let collection: string | undefined;
  if (body.collection !== undefined) {
    collection = model.catalog.names.find((n) => n.toLowerCase() === body.collection!.toLowerCase());
    if (!collection) throw badRequest(`unknown collection ${quote(body.collection)}: accepted collections are ${model.catalog.names.join(', ')}`);
  }
  if (body.full && body.sweep) throw badRequest("give 'full' or 'sweep', not both: a full run reads everything again, a sweep re-reads the lookback");
  if (!queue) throw new ApiError(503, 'ServiceUnavailable', NO_QUEUE);
  const now = Date.now();
  const message: RunRequest = {
    runs: plannedCollections(model.catalog, collection).map((c) => ({ collection: c, runId: newRunId(now) })),
    full: body.full === true,
    sweep: body.sweep === true,
    requestedAt: new Date(now).toISOString(),
  };
  await queue.send(message);
  const base = `${links.publicBaseUrl ?? ''}/api/runs/`;
  const runs = message.runs.map((r) => ({ ...r, outcome: 'queued', href: `${base}${r.runId}` }));
  return jsonResponse(
    202,
    { runs, full: message.full, sweep: message.sweep, requestedAt: message.requestedAt },
    {
      location: runs[0]!.href,
      'cache-control': 'no-store',
    },
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function getRun(model: ReadModel, request: HttpRequest): Promise<HttpResponseInit> {
  readParams(request, []);
  const id = (request.params.id ?? '').toLowerCase();
  if (!UUID.test(id))
    throw badRequest(`${quote(request.params.id ?? '')} is not a run id: run ids are UUIDs, as POST /api/runs and GET /api/runs give them`);
  const issued = issuedAt(id);
  const row = await findRun(model.runsTable, model.tenantId, model.catalog.names, id, issued);
  if (row) return jsonResponse(200, runOf(row), { 'cache-control': 'no-store' });
  const now = Date.now();
  if (issued !== undefined && issued <= now + SKEW_MS && now - issued < QUEUED_FOR_AT_MOST_MS) {
    return jsonResponse(
      200,
      {
        runId: id,
        outcome: 'queued',
        requestedAt: new Date(issued).toISOString(),
        message: 'the run has not started yet: its request waits in the run queue for the queue function',
      },
      { 'cache-control': 'no-store' },
    );
  }
  throw notFound(`no run with id ${quote(id)} for this tenant (a request that never ran expires from the queue after 7 days)`);
}

export async function listRuns(model: ReadModel, request: HttpRequest): Promise<HttpResponseInit> {
  const params = readParams(request, ['last', 'collection']);
  const rawLast = params.get('last') ?? '20';
  const last = Number(rawLast);
  if (!/^\d+$/.test(rawLast) || last < 1 || last > 100) throw badRequest(`'last' must be a whole number from 1 to 100, got ${quote(rawLast)}`);
  let collections = model.catalog.names;
  const rawCollection = params.get('collection');
  if (rawCollection !== undefined) {
    const found = collections.find((n) => n.toLowerCase() === rawCollection.toLowerCase());
    if (!found) throw badRequest(`unknown collection ${quote(rawCollection)}: accepted collections are ${collections.join(', ')}`);
    collections = [found];
  }
  const rows = await recentRuns(model.runsTable, model.tenantId, collections, last);
  return jsonResponse(200, { value: rows.map(runOf) }, { 'cache-control': 'no-store' });
}

const HIDDEN = new Set(['partitionKey', 'rowKey', 'etag', 'timestamp', 'tenantId']);

/** A SyncRuns row (read without type conversion) as the API shows it: the run's own fields, dates as their ISO text, the error as one short line. */
export function runOf(row: Record<string, unknown>): Record<string, unknown> {
  const run: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (HIDDEN.has(key) || key.startsWith('odata.')) continue;
    run[key] = plainValue(value);
  }
  if (typeof run.error === 'string') run.error = shortReason(run.error);
  return run;
}
