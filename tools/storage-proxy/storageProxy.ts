import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { AZURITE_ACCOUNT, AZURITE_KEY } from '../azurite/azurite';
import { Prng } from '../emulator/prng';

/**
 * A fault-injecting HTTP proxy between the Table SDK and Azurite, for the reliability suite (test/reliability).
 *
 * It forwards every request to Azurite and can, instead:
 * - answer 500 / 503 with an Azure-shaped error body (nothing reaches Azurite), N times, with a probability, for a while;
 * - reset the connection before forwarding (nothing reaches Azurite);
 * - forward, let Azurite commit, then reset the connection (`lostResponse`: the client can not know it was stored);
 * - hold a request for a while before forwarding (`slow`);
 * - "restart": for a while every connection is reset, in flight ones included (their answers are lost even when Azurite
 *   committed). Azurite runs in memory, so a real restart would lose every row; the proxy models the restart of a
 *   persistent store (Azure Storage keeps what it committed), which is what production meets.
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
  ({ kind: 'status'; status: 500 | 503; code?: string } | { kind: 'reset' } | { kind: 'lostResponse' } | { kind: 'slow'; delayMs: number });

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
  readonly stats: StorageProxyStats;
  close(): Promise<void>;
}

interface ActiveFault {
  id: number;
  spec: StorageFaultSpec;
  remaining: number;
  expiresAt: number;
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

export async function startStorageProxy(
  target: { port: number; host?: string },
  options: { seed?: number | string; record?: boolean } = {},
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
  const stats: StorageProxyStats = { requests: 0, forwarded: 0, faults: {}, dropped: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const down = () => performance.now() < downUntil;
  const countFault = (name: string) => (stats.faults[name] = (stats.faults[name] ?? 0) + 1);

  const takeFault = (request: ProxiedRequest): StorageFaultSpec | undefined => {
    const now = performance.now();
    faults = faults.filter((f) => f.remaining > 0 && f.expiresAt > now);
    for (const fault of faults) {
      const { match } = fault.spec;
      if (match?.kinds && !match.kinds.includes(request.kind)) continue;
      if (match?.tables && !request.tables.some((t) => match.tables!.includes(t))) continue;
      if (fault.spec.probability !== undefined && !rng.chance(fault.spec.probability)) continue;
      fault.remaining--;
      return fault.spec;
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

  const sendError = (res: ServerResponse, status: number, code: string) => {
    const body = JSON.stringify({
      'odata.error': {
        code,
        message: { lang: 'en-US', value: `${code}: injected by the storage proxy.\nRequestId:${nextId}\nTime:${new Date().toISOString()}` },
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
      faults.push({
        id,
        spec: { ...spec },
        remaining: spec.count ?? Infinity,
        expiresAt: spec.durationMs === undefined ? Infinity : performance.now() + spec.durationMs,
      });
      return id;
    },
    clearFaults() {
      faults = [];
      downUntil = 0;
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
      faults = [];
      hooks = [];
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
