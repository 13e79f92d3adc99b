/**
 * Admin routes on the HTTPS listener, so another process (a CLI, a demo) can drive the emulator. No auth: the
 * emulator only listens on loopback.
 *
 *   GET  /_emulator/stats                     -> EmulatorStats
 *   GET  /_emulator/log                       -> RequestLogEntry[]
 *   POST /_emulator/reset-stats
 *   POST /_emulator/throttling                {enabled?, rps?}
 *   POST /_emulator/faults                    {clear?: true, add?: FaultSpec | FaultSpec[]} -> {ids}
 *   POST /_emulator/revoke                    revokes every token issued so far
 *   POST /_emulator/expire-skiptokens
 *   POST /_emulator/token                     -> {access_token, expires_on}
 *   POST /_emulator/data/{collection}         {records: record | record[], visibleAfterMs?}
 *   DELETE /_emulator/data/{collection}/{id}
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { FaultSpec } from './faults.js';
import { readBody } from './http.js';
import { COLLECTION_NAMES, type CollectionName } from './model.js';
import type { GraphEmulator } from './server.js';

export interface AdminResult {
  status: number;
  body: unknown;
}

const throttlingBody = z.object({ enabled: z.boolean().optional(), rps: z.number().positive().optional() }).strict();
const faultsBody = z
  .object({ clear: z.boolean().optional(), add: z.union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown()))]).optional() })
  .strict();
const dataBody = z
  .object({
    records: z.union([z.looseObject({ id: z.string().min(1) }), z.array(z.looseObject({ id: z.string().min(1) }))]),
    visibleAfterMs: z.number().nonnegative().optional(),
  })
  .strict();

const BODY_LIMIT = 50 * 1024 * 1024;

export async function handleAdmin(emulator: GraphEmulator, req: IncomingMessage, url: URL): Promise<AdminResult> {
  const method = req.method ?? 'GET';
  const path = url.pathname.slice('/_emulator/'.length).replace(/\/+$/, '');
  const error = (status: number, message: string): AdminResult => ({ status, body: { error: { code: 'EmulatorAdmin', message } } });
  const ok = (body: unknown = { ok: true }): AdminResult => ({ status: 200, body });

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
    const data = /^data\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (data) {
      const collection = data[1] as CollectionName;
      if (!COLLECTION_NAMES.includes(collection)) return error(404, `Unknown collection '${data[1]}'`);
      if (method === 'POST' && data[2] === undefined) {
        const body = dataBody.parse(json);
        emulator.upsert(collection, body.records as never, { visibleAfterMs: body.visibleAfterMs });
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
