/**
 * Admin routes on the HTTPS listener, so another process (a CLI, a demo, a test of the CLI) can drive the emulator.
 * No auth: the emulator only listens on loopback.
 *
 *   GET  /_emulator/stats                     -> EmulatorStats
 *   GET  /_emulator/log                       -> RequestLogEntry[]
 *   POST /_emulator/reset-stats
 *   POST /_emulator/throttling                {enabled?, rps?}
 *   POST /_emulator/faults                    {clear?: true, add?: FaultSpec | FaultSpec[]} -> {ids}
 *   POST /_emulator/revoke                    revokes every token issued so far
 *   POST /_emulator/expire-skiptokens
 *   POST /_emulator/token                     -> {access_token, expires_on}
 *   GET  /_emulator/settings                  -> GraphEmulatorSettings
 *   POST /_emulator/settings                  Partial<GraphEmulatorSettings> (licence, permissions, phantomNextLink, ...)
 *   GET  /_emulator/collections               -> the schemas served
 *   POST /_emulator/collections               CollectionSpec -> the schema
 *   GET  /_emulator/data/{collection}         ?visibleOnly=true -> records, as list() gives them
 *   POST /_emulator/data/{collection}         {records: record | record[], visibleAfterMs?, history?: HistoryNote | false}
 *   DELETE /_emulator/data/{collection}/{id}
 *   GET  /_emulator/history/{userId}          ?visibleOnly=true -> history items, as history() gives them
 *   POST /_emulator/late-offline              {lateByHours, count?, afterMs?, userIds?, seed?} -> {ids}
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { lateOfflineDetections } from './data.js';
import type { FaultSpec } from './faults.js';
import { readBody } from './http.js';
import type { RiskyUser } from './model.js';
import type { GraphEmulator, GraphEmulatorSettings } from './types.js';

export interface AdminResult {
  status: number;
  body: unknown;
}

const throttlingBody = z.object({ enabled: z.boolean().optional(), rps: z.number().positive().optional() }).strict();
const faultsBody = z
  .object({ clear: z.boolean().optional(), add: z.union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown()))]).optional() })
  .strict();
const historyNote = z
  .object({
    initiatedBy: z.string().nullable().optional(),
    riskEventTypes: z.array(z.string()).optional(),
    detail: z.string().nullable().optional(),
  })
  .strict();
const dataBody = z
  .object({
    records: z.union([z.looseObject({ id: z.string().min(1) }), z.array(z.looseObject({ id: z.string().min(1) }))]),
    visibleAfterMs: z.number().nonnegative().optional(),
    history: z.union([historyNote, z.literal(false)]).optional(),
  })
  .strict();
/** Types are checked by configure(), which names the bad value; this only refuses unknown switches. */
const settingsBody = z
  .object({
    emptyPageProbability: z.unknown(),
    skipTokenTtlMs: z.unknown(),
    quotedDateTime: z.unknown(),
    gtIncludesBoundary: z.unknown(),
    licence: z.unknown(),
    unlicensedCode: z.unknown(),
    permissions: z.unknown(),
    phantomNextLink: z.unknown(),
    historyOnlyCurrent: z.unknown(),
  })
  .partial()
  .strict();
const lateOfflineBody = z
  .object({
    lateByHours: z
      .number()
      .positive()
      .max(24 * 30),
    count: z.number().int().positive().max(10_000).optional(),
    afterMs: z.number().nonnegative().optional(),
    userIds: z.array(z.string().min(1)).min(1).optional(),
    seed: z.union([z.number(), z.string()]).optional(),
  })
  .strict();

const BODY_LIMIT = 50 * 1024 * 1024;

export async function handleAdmin(emulator: GraphEmulator, req: IncomingMessage, url: URL): Promise<AdminResult> {
  const method = req.method ?? 'GET';
  const path = url.pathname.slice('/_emulator/'.length).replace(/\/+$/, '');
  const error = (status: number, message: string): AdminResult => ({ status, body: { error: { code: 'EmulatorAdmin', message } } });
  const ok = (body: unknown = { ok: true }): AdminResult => ({ status: 200, body });
  const visibleOnly = url.searchParams.get('visibleOnly') === 'true';

  let json: unknown;
  if (method === 'POST') {
    try {
      const text = await readBody(req, BODY_LIMIT);
      json = text.trim() === '' ? {} : JSON.parse(text);
    } catch (e) {
      return error(400, `The body is not valid JSON: ${(e as Error).message}`);
    }
  }

  try {
    if (method === 'GET' && path === 'stats') return ok(emulator.stats());
    if (method === 'GET' && path === 'log') return ok(emulator.requestLog());
    if (method === 'POST' && path === 'reset-stats') {
      emulator.resetStats();
      return ok();
    }
    if (method === 'POST' && path === 'throttling') {
      emulator.setThrottling(throttlingBody.parse(json));
      return ok(emulator.throttling);
    }
    if (method === 'POST' && path === 'faults') {
      const body = faultsBody.parse(json);
      if (body.clear) emulator.faults.clear();
      const specs = body.add === undefined ? [] : Array.isArray(body.add) ? body.add : [body.add];
      return ok({ ids: specs.map((spec) => emulator.faults.add(spec as unknown as FaultSpec)) });
    }
    if (method === 'POST' && path === 'revoke') {
      emulator.revokeTokens();
      return ok();
    }
    if (method === 'POST' && path === 'expire-skiptokens') {
      emulator.expireSkipTokens();
      return ok();
    }
    if (method === 'POST' && path === 'token') {
      const { token, expiresOn } = emulator.issueToken();
      return ok({ access_token: token, expires_on: String(expiresOn) });
    }
    if (path === 'settings') {
      if (method === 'POST') emulator.configure(settingsBody.parse(json) as Partial<GraphEmulatorSettings>);
      if (method === 'POST' || method === 'GET') return ok(emulator.settings);
    }
    if (path === 'collections') {
      if (method === 'GET') return ok(emulator.collections());
      if (method === 'POST') return ok(emulator.defineCollection(json as never));
    }
    if (method === 'POST' && path === 'late-offline') {
      const body = lateOfflineBody.parse(json);
      const users: RiskyUser[] = body.userIds
        ? body.userIds.map((id) => emulator.get('riskyUsers', id) ?? missingUser(id))
        : emulator.list('riskyUsers', { visibleOnly: true });
      if (users.length === 0) return error(409, 'No risky users to attach late detections to: add riskyUsers first, or pass userIds');
      const afterMs = body.afterMs ?? 0;
      const detections = lateOfflineDetections(body.count ?? 1, {
        seed: body.seed ?? `${Date.now()}`,
        users,
        lateByMs: body.lateByHours * 3600_000,
        surfacesAt: new Date(Date.now() + afterMs),
      });
      emulator.upsert('riskDetections', detections, { visibleAfterMs: afterMs });
      return ok({ ids: detections.map((d) => d.id) });
    }
    const history = /^history\/([^/]+)$/.exec(path);
    if (history && method === 'GET') {
      const items = emulator.history(decodeURIComponent(history[1]!), { visibleOnly });
      return items ? ok(items) : error(404, `No risky user '${decodeURIComponent(history[1]!)}'`);
    }
    const data = /^data\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (data) {
      const collection = decodeURIComponent(data[1]!);
      if (!emulator.collections().some((c) => c.name === collection)) {
        return error(
          404,
          `Unknown collection '${collection}' (known: ${emulator
            .collections()
            .map((c) => c.name)
            .join(', ')})`,
        );
      }
      if (method === 'GET' && data[2] === undefined) return ok(emulator.list(collection, { visibleOnly }));
      if (method === 'POST' && data[2] === undefined) {
        const body = dataBody.parse(json);
        emulator.upsert(collection, body.records as never, {
          ...(body.visibleAfterMs !== undefined && { visibleAfterMs: body.visibleAfterMs }),
          ...(body.history !== undefined && { history: body.history }),
        });
        return ok();
      }
      if (method === 'DELETE' && data[2] !== undefined) {
        return ok({ removed: emulator.remove(collection, decodeURIComponent(data[2])) });
      }
    }
    return error(404, `No admin route ${method} /_emulator/${path}`);
  } catch (e) {
    if (e instanceof z.ZodError || e instanceof RangeError || e instanceof TypeError) return error(400, e.message);
    throw e;
  }
}

function missingUser(id: string): never {
  throw new RangeError(`No risky user '${id}': late detections belong to existing riskyUsers`);
}
