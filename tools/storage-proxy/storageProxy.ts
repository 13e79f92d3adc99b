import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { AZURITE_ACCOUNT, AZURITE_KEY } from '../azurite/azurite';
import { Prng } from '../emulator/prng';
import { AZURE_LIMITS, batchFailure, checkAzureLimits, type AzureLimits, type Refusal } from './azureLimits';

export { AZURE_LIMITS, type AzureLimits } from './azureLimits';

/**
 * A fault-injecting HTTP proxy between the Table SDK and Azurite, for the reliability suite (test/reliability).
 *
 * It forwards every request to Azurite and can, instead:
 * - answer 500 / 503 with an Azure-shaped error body (nothing reaches Azurite), N times, with a probability, for a while;
 * - reset the connection before forwarding (nothing reaches Azurite);
 * - forward, let Azurite commit, then reset the connection (`lostResponse`: the client can not know it was stored);
 * - hold a request for a while before forwarding (`slow`);
 * - `stall`: hold every matching request that arrives while the stall lasts until it ends (or until `releaseStalls()`),
 *   then forward them all: a store, a network path or a paused VM that sits on a process's traffic for longer than
 *   its lease, after which the held transactions land anyway;
 * - "restart": for a while every connection is reset, in flight ones included (their answers are lost even when Azurite
 *   committed). Azurite runs in memory, so a real restart would lose every row; the proxy models the restart of a
 *   persistent store (Azure Storage keeps what it committed), which is what production meets.
 * With `azureLimits` (on by default in the reliability world) it refuses what Azure Table Storage refuses and Azurite
 * accepts, as Azure answers (./azureLimits.ts): an entity over 1 MiB as Table Storage counts it, a string property
 * over 64 KiB, more than 252 properties, a batch body over 4 MiB.
 * With `tableDeletionMs`, a table that was deleted stays "being deleted" for that long, as in Azure (40 seconds or more):
 * every request that names it, a create included, is answered 409 TableBeingDeleted; Azurite frees the name at once.
 * Hooks see each request (method, table, body) before it is forwarded and after Azurite answered, and may act then
 * (kill a process) and drop the request or the answer: that is how the crash tests kill a sync at a precise moment.
 */

export type RequestKind = 'batch' | 'read' | 'write' | 'table';

export interface ProxiedRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  /** The table(s) the request touches (for a $batch: every table named in its sub-requests). */
  tables: string[];
  kind: RequestKind;
  body: string;
}

export interface StorageFaultScope {
  /** Which requests: all (default), or by kind / table. */
  match?: { kinds?: RequestKind[]; tables?: string[] };
  count?: number;
  probability?: number;
  durationMs?: number;
}

export type StorageFaultSpec = StorageFaultScope &
  (
    | { kind: 'status'; status: 500 | 503; code?: string }
    | { kind: 'reset' }
    | { kind: 'lostResponse' }
    | { kind: 'slow'; delayMs: number }
    /** Holds matching requests until `ms` after the fault was added (without `ms`: until `releaseStalls()`). */
    | { kind: 'stall'; ms?: number }
  );

export type HookDecision = 'forward' | 'drop' | void;

export interface ProxyHook {
  match: (request: ProxiedRequest) => boolean;
  /** Before forwarding; 'drop' resets the client's connection without forwarding. */
  before?: (request: ProxiedRequest) => Promise<HookDecision> | HookDecision;
  /** After Azurite answered; 'drop' resets the client's connection instead of relaying the answer. */
  after?: (request: ProxiedRequest, status: number) => Promise<HookDecision> | HookDecision;
  /** Remove the hook after its first match (default true). */
  once?: boolean;
}

export interface StorageProxyStats {
  requests: number;
  forwarded: number;
  faults: Record<string, number>;
  dropped: number;
  /** Requests refused by the Azure limits, by error code. */
  refused: Record<string, number>;
}

export interface RequestLogEntry {
  /** performance.timeOrigin + performance.now() when Azurite answered. */
  at: number;
  status: number;
  method: string;
  kind: RequestKind;
  tables: string[];
}

export interface StorageProxy {
  port: number;
  /** The requests Azurite answered (only with `record: true`). */
  readonly log: RequestLogEntry[];
  /** A connection string with the Azurite account pointing at the proxy. */
  connectionString: string;
  addFault(spec: StorageFaultSpec): number;
  clearFaults(): void;
  /** Resets every connection, open and new, for `ms` (a restart of the store). */
  restart(ms: number): void;
  addHook(hook: ProxyHook): () => void;
  clearHooks(): void;
  /** Resolves when no request is in flight. */
  idle(): Promise<void>;
  /** Resolves with the next request a stall holds (already held ones count: it resolves at once if one is held). */
  held(): Promise<ProxiedRequest>;
  /** The requests stalls hold now, in the order they arrived. */
  stalled(): ProxiedRequest[];
  /** Ends every stall now: the held requests are forwarded, in the order they arrived. */
  releaseStalls(): void;
  /** Turns the Azure limits on or off, or changes them (tests lower them to make a record too large). */
  setAzureLimits(limits: Partial<AzureLimits> | boolean): void;
  /** How long a deleted table stays "being deleted", counted from its deletion (0 frees every name at once, as Azurite does). */
  setTableDeletionMs(ms: number): void;
  readonly stats: StorageProxyStats;
  close(): Promise<void>;
}

interface ActiveFault {
  id: number;
  spec: StorageFaultSpec;
  remaining: number;
  expiresAt: number;
  /** A stall: resolves when it ends. */
  ended?: Promise<void>;
  end?: () => void;
}

const TABLE_IN_PATH = /^\/[^/]+\/([A-Za-z][A-Za-z0-9]*)(?:\(|\?|$|\/)/;
const TABLE_IN_BATCH = /\/([A-Za-z][A-Za-z0-9]*)\((?:PartitionKey=|\))|^(?:POST|PUT|MERGE|PATCH|DELETE|GET) \S*\/([A-Za-z][A-Za-z0-9]*)(?:\?| )/gm;

export function classify(method: string, url: string, body: string): Pick<ProxiedRequest, 'kind' | 'tables'> {
  const path = url.split('?')[0]!;
  if (/\/\$batch$/.test(path)) {
    const tables = new Set<string>();
    for (const m of body.matchAll(TABLE_IN_BATCH)) tables.add((m[1] ?? m[2])!);
    tables.delete('Tables');
    return { kind: 'batch', tables: [...tables] };
  }
  const m = TABLE_IN_PATH.exec(path);
  const table = m?.[1];
  if (!table || table === 'Tables') return { kind: 'table', tables: [] };
  return { kind: method === 'GET' ? 'read' : 'write', tables: [table] };
}

/** The table that a request on the table list creates (`POST /Tables`, its name in the body) or deletes (`DELETE /Tables('X')`). */
export function tableOperand(method: string, url: string, body: string): string | undefined {
  const path = url.split('?')[0]!;
  if (method === 'DELETE') return /\/Tables\('([^']+)'\)$/.exec(path)?.[1];
  if (method !== 'POST' || !/\/Tables$/.test(path)) return undefined;
  try {
    const name = (JSON.parse(body) as { TableName?: unknown }).TableName;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

export async function startStorageProxy(
  target: { port: number; host?: string },
  options: { seed?: number | string; record?: boolean; azureLimits?: Partial<AzureLimits> | boolean; tableDeletionMs?: number } = {},
): Promise<StorageProxy> {
  const log: RequestLogEntry[] = [];
  const rng = new Prng(`${options.seed ?? 1}:storage-proxy`);
  let faults: ActiveFault[] = [];
  let hooks: ProxyHook[] = [];
  let nextId = 1;
  let downUntil = 0;
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const stats: StorageProxyStats = { requests: 0, forwarded: 0, faults: {}, dropped: 0, refused: {} };
  let limits: AzureLimits | undefined;
  const setAzureLimits = (value: Partial<AzureLimits> | boolean | undefined) => {
    limits = value === undefined || value === false ? undefined : { ...AZURE_LIMITS, ...(value === true ? {} : value) };
  };
  setAzureLimits(options.azureLimits);
  let tableDeletionMs = options.tableDeletionMs ?? 0;
  /** Deleted tables (lower case: Azure's table names are case-insensitive) and when they were deleted. */
  const deletedAt = new Map<string, number>();
  /** Requests a stall holds now, and who waits for the next one. */
  const heldNow: ProxiedRequest[] = [];
  let heldWaiters: ((request: ProxiedRequest) => void)[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const down = () => performance.now() < downUntil;
  const countFault = (name: string) => (stats.faults[name] = (stats.faults[name] ?? 0) + 1);

  const takeFault = (request: ProxiedRequest): StorageFaultSpec | undefined => {
    const now = performance.now();
    faults = faults.filter((f) => {
      const live = f.remaining > 0 && f.expiresAt > now;
      if (!live) f.end?.();
      return live;
    });
    for (const fault of faults) {
      if (fault.spec.kind === 'stall') continue;
      const { match } = fault.spec;
      if (match?.kinds && !match.kinds.includes(request.kind)) continue;
      if (match?.tables && !request.tables.some((t) => match.tables!.includes(t))) continue;
      if (fault.spec.probability !== undefined && !rng.chance(fault.spec.probability)) continue;
      fault.remaining--;
      return fault.spec;
    }
    return undefined;
  };

  /** The end of a stall that holds this request, if one does (a stall holds every matching request while it lasts). */
  const takeStall = (request: ProxiedRequest): Promise<void> | undefined => {
    const now = performance.now();
    for (const fault of faults) {
      if (fault.spec.kind !== 'stall' || fault.expiresAt <= now || fault.remaining <= 0) continue;
      const { match } = fault.spec;
      if (match?.kinds && !match.kinds.includes(request.kind)) continue;
      if (match?.tables && !request.tables.some((t) => match.tables!.includes(t))) continue;
      fault.remaining--;
      return fault.ended;
    }
    return undefined;
  };

  const takeHook = (request: ProxiedRequest): ProxyHook | undefined => {
    const hook = hooks.find((h) => h.match(request));
    if (hook && hook.once !== false) hooks = hooks.filter((h) => h !== hook);
    return hook;
  };

  const drop = (res: ServerResponse) => {
    stats.dropped++;
    res.socket?.destroy();
    res.destroy();
  };

  const sendError = (res: ServerResponse, status: number, code: string, message = `${code}: injected by the storage proxy.`) => {
    const body = JSON.stringify({
      'odata.error': {
        code,
        message: { lang: 'en-US', value: `${message}\nRequestId:${nextId}\nTime:${new Date().toISOString()}` },
      },
    });
    res.writeHead(status, {
      'content-type': 'application/json;odata=minimalmetadata;streaming=true;charset=utf-8',
      'x-ms-error-code': code,
      'x-ms-version': '2019-02-02',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  /** Azure's answer to what it refuses: the whole request (400, 413), or, in a batch, the changeset's failed operation. */
  const sendRefusal = (res: ServerResponse, request: ProxiedRequest, refusal: Refusal) => {
    if (request.kind !== 'batch' || refusal.operation === undefined) return sendError(res, refusal.status, refusal.code, refusal.message);
    const body = batchFailure(request.body, refusal, nextId++);
    res.writeHead(202, {
      'content-type': `multipart/mixed; boundary=${body.boundary}`,
      'x-ms-version': '2019-02-02',
      'content-length': Buffer.byteLength(body.text),
    });
    res.end(body.text);
  };

  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const upstream = http.request(
        { host: target.host ?? '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('end', () => resolve({ status: response.statusCode ?? 502, headers: response.headers, body: Buffer.concat(chunks) }));
          response.on('error', reject);
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    stats.requests++;
    if (down()) {
      countFault('restart');
      return drop(res);
    }
    const text = raw.toString('utf8');
    const request: ProxiedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      body: text,
      ...classify(req.method ?? 'GET', req.url ?? '/', text),
    };
    const hook = takeHook(request);
    if (hook?.before && (await hook.before(request)) === 'drop') return drop(res);

    const operand = request.kind === 'table' ? tableOperand(request.method, request.url, text) : undefined;
    const named = operand ? [operand] : request.tables;
    if (named.some((t) => performance.now() < (deletedAt.get(t.toLowerCase()) ?? -Infinity) + tableDeletionMs)) {
      stats.refused.TableBeingDeleted = (stats.refused.TableBeingDeleted ?? 0) + 1;
      return sendError(res, 409, 'TableBeingDeleted', 'The specified table is being deleted. Try operation later.');
    }

    const refusal = limits && checkAzureLimits(request, raw.length, limits);
    if (refusal) {
      stats.refused[refusal.code] = (stats.refused[refusal.code] ?? 0) + 1;
      return sendRefusal(res, request, refusal);
    }
    const stall = takeStall(request);
    if (stall) {
      countFault('stall');
      heldNow.push(request);
      const waiters = heldWaiters;
      heldWaiters = [];
      waiters.forEach((w) => w(request));
      await stall;
      heldNow.splice(heldNow.indexOf(request), 1);
    }
    const fault = takeFault(request);
    if (fault) countFault(fault.kind === 'status' ? String(fault.status) : fault.kind);
    if (fault?.kind === 'status') return sendError(res, fault.status, fault.code ?? (fault.status === 503 ? 'ServerBusy' : 'InternalError'));
    if (fault?.kind === 'reset') return drop(res);
    if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.delayMs));
    if (down()) return drop(res);

    let answer;
    try {
      stats.forwarded++;
      answer = await forward(req, raw);
    } catch {
      return drop(res);
    }
    if (options.record)
      log.push({
        at: performance.timeOrigin + performance.now(),
        status: answer.status,
        method: request.method,
        kind: request.kind,
        tables: request.tables,
      });
    if (operand && request.method === 'DELETE' && answer.status === 204) deletedAt.set(operand.toLowerCase(), performance.now());
    if (hook?.after && (await hook.after(request, answer.status)) === 'drop') return drop(res);
    if (fault?.kind === 'lostResponse' || down()) return drop(res);
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    headers['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  };

  const server = http.createServer((req, res) => {
    inFlight++;
    handle(req, res)
      .catch(() => drop(res))
      .finally(() => {
        inFlight--;
        if (inFlight === 0) {
          const waiters = idleWaiters;
          idleWaiters = [];
          waiters.forEach((w) => w());
        }
      });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (socket: Socket) => {
    if (down()) {
      countFault('restart');
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};TableEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};`,
    stats,
    log,
    addFault(spec) {
      const id = nextId++;
      const fault: ActiveFault = {
        id,
        spec: { ...spec },
        remaining: spec.count ?? Infinity,
        expiresAt: spec.durationMs === undefined ? Infinity : performance.now() + spec.durationMs,
      };
      if (spec.kind === 'stall') {
        fault.ended = new Promise<void>((resolve) => (fault.end = resolve));
        if (spec.ms !== undefined) {
          fault.expiresAt = Math.min(fault.expiresAt, performance.now() + spec.ms);
          const timer = setTimeout(() => fault.end!(), spec.ms);
          timer.unref();
          void fault.ended.then(() => clearTimeout(timer));
        }
      }
      faults.push(fault);
      return id;
    },
    clearFaults() {
      for (const fault of faults) fault.end?.();
      faults = [];
      downUntil = 0;
    },
    held: () => (heldNow.length > 0 ? Promise.resolve(heldNow[0]!) : new Promise<ProxiedRequest>((resolve) => heldWaiters.push(resolve))),
    stalled: () => [...heldNow],
    releaseStalls() {
      for (const fault of faults) fault.end?.();
      faults = faults.filter((f) => f.spec.kind !== 'stall');
    },
    setAzureLimits,
    setTableDeletionMs(ms) {
      tableDeletionMs = ms;
    },
    restart(ms) {
      downUntil = Math.max(downUntil, performance.now() + ms);
      for (const socket of sockets) socket.destroy();
    },
    addHook(hook) {
      hooks.push(hook);
      return () => {
        hooks = hooks.filter((h) => h !== hook);
      };
    },
    clearHooks() {
      hooks = [];
    },
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    close: async () => {
      for (const fault of faults) fault.end?.();
      faults = [];
      hooks = [];
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
