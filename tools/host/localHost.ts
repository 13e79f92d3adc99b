import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { HttpRequest, HttpResponse, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { Cron } from 'croner';
import type { FunctionDefinition, HttpFunction, QueueFunction, TimerFunction } from '../../src/app/functions';
import type { QueueClients } from '../../src/store/runQueue';
import { formatRunLine, type RunLineInput } from '../../src/cli/format';
import type { Logger } from '../../src/domain/logger';
import { startQueuePoller, type QueuePoller } from './queue';

/**
 * A local stand-in for the Azure Functions host (Core Tools can not be installed here): serves the app's HTTP
 * functions on /api/<route> and fires its timers on their NCRONTAB schedules, calling the very same handlers.
 * Like Core Tools, it does not check function keys; it listens on loopback unless told otherwise.
 *
 * Requests are taken in origin-form only, with a Host header that is a host[:port] (anything else is a 400 before
 * a URL is built from it), and bodies up to 1 MiB (413 beyond, without reading the rest). Timer runs get an
 * AbortSignal (the handler's third argument), aborted by close(): a run being retried checkpoints and ends.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/** What `risk-sync serve` tells a parent process (the demo) over IPC once its API listens. */
export interface ListeningMessage {
  type: 'listening';
  url: string;
}

/** The port is taken: the message names it and the option that picks another. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly host: string,
  ) {
    super(
      `port ${port} on ${host} is already in use (another risk-sync serve, npm start or Functions host?): stop it, or pick another port with --port <n>`,
    );
  }
}
export interface LocalHostOptions {
  functions: FunctionDefinition[];
  port: number;
  hostname?: string;
  timers?: boolean;
  /** The storage queues the queue functions read (./queue.ts polls them); without, queue functions do not run. */
  queues?: QueueClients;
  log: Logger;
}

export interface LocalHost {
  url: string;
  /** Runs a timer function now, as its schedule would (awaits the run). */
  /** Runs a timer function now; `all`: the one sync timer runs every collection, due or not (`--sync-now`). */
  runTimer(name: string, options?: { all?: boolean }): Promise<void>;
  /** Whether the named queue function's queue is being polled. */
  polls(name: string): boolean;
  close(): Promise<void>;
}

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const http = options.functions.filter((f): f is HttpFunction => f.kind === 'http');
  const timers = options.functions.filter((f): f is TimerFunction => f.kind === 'timer');
  const routes = http.map((f) => ({ fn: f, match: routeMatcher(f.route) }));
  const running = new Map<string, Promise<void>>();
  const stopping = new AbortController();
  const reply = (res: ServerResponse, status: number, code: string, message: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...extra });
    res.end(JSON.stringify({ error: { code, message } }));
  };

  const server: Server = createServer((req, res) => {
    void serve(req, res).catch((error: unknown) => {
      options.log.error(`local host: ${(error as Error).stack ?? String(error)}`);
      if (res.headersSent) return void res.destroy(); // cut a streamed body short rather than append an error to it
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'InternalError', message: 'the function failed; see the host log' } }));
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse) {
    const url = requestUrl(req, server.address() as AddressInfo);
    if (typeof url === 'string') return reply(res, 400, 'BadRequest', url, { connection: 'close' });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return tooLarge(req, res);
    const path = url.pathname.replace(/\/+$/, '');
    let found: { fn: HttpFunction; params: Record<string, string> } | undefined;
    let methodMismatch = false;
    let routePath: string | undefined;
    try {
      routePath = path.startsWith('/api/') ? decodeURIComponent(path.slice('/api/'.length)) : undefined;
    } catch {
      return reply(res, 400, 'BadRequest', 'the path is not valid percent-encoded UTF-8');
    }
    if (routePath !== undefined) {
      for (const route of routes) {
        const params = route.match(routePath);
        if (!params) continue;
        if (!route.fn.methods.includes((req.method ?? 'GET') as never)) {
          methodMismatch = true;
          continue;
        }
        found = { fn: route.fn, params };
        break;
      }
    }
    if (!found) {
      return reply(
        res,
        methodMismatch ? 405 : 404,
        methodMismatch ? 'MethodNotAllowed' : 'NotFound',
        `no function serves ${req.method} ${url.pathname}`,
        hasBody(req) ? { connection: 'close' } : {},
      );
    }
    const body = await readBody(req);
    if (!body) return tooLarge(req, res);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const request = new HttpRequest({
      method: req.method ?? 'GET',
      url: url.toString(),
      headers,
      params: found.params,
      // As the Functions host does, a GET or HEAD request's body is read (and limited) but not handed on.
      ...(body.length && req.method !== 'GET' && req.method !== 'HEAD' ? { body: { bytes: body } } : {}),
    });
    const context = invocationContext(found.fn.name, options.log, false);
    const result = await found.fn.handler(request, context);
    const response = result instanceof HttpResponse ? result : new HttpResponse((result ?? {}) as HttpResponseInit);
    const outHeaders: Record<string, string> = {};
    response.headers.forEach((value, key) => (outHeaders[key] = value));
    res.writeHead(response.status ?? 200, outHeaders);
    if (response.body && req.method !== 'HEAD') {
      await new Promise<void>((resolve, reject) => {
        Readable.fromWeb(response.body as never)
          .on('error', reject)
          .pipe(res)
          .on('finish', resolve)
          .on('error', reject);
      });
    } else res.end();
  }

  const runTimer = (name: string, runOptions: { all?: boolean } = {}): Promise<void> => {
    const fn = timers.find((t) => t.name === name);
    if (!fn) return Promise.reject(new Error(`no timer function named ${name}`));
    // A late run waits for the running one, as the Functions timer does.
    const previous = running.get(name) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        const timer = { isPastDue: false, scheduleStatus: { last: '', next: '', lastUpdated: '' }, ...(runOptions.all && { runAll: true }) } as never;
        await fn.handler(timer, invocationContext(name, options.log, true), stopping.signal);
      } catch (error) {
        // Stopping, the runs' own lines have said how they ended.
        if (!stopping.signal.aborted) options.log.error(`${name} failed: ${(error as Error).message}`);
      }
    });
    running.set(name, next);
    return next;
  };

  const crons = options.timers ? timers.map((t) => new Cron(t.schedule, { timezone: 'UTC', protect: true }, () => runTimer(t.name))) : [];

  const hostname = options.hostname ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      crons.forEach((c) => c.stop());
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(options.port, hostname) : error);
    });
    server.listen(options.port, hostname, () => resolve());
  });
  const queues = options.queues;
  const pollers = new Map<string, QueuePoller>();
  for (const fn of options.functions.filter((f): f is QueueFunction => f.kind === 'queue')) {
    if (!queues) break;
    const context = () => invocationContext(fn.name, options.log, true);
    pollers.set(
      fn.name,
      startQueuePoller({ fn, queue: (name) => queues.of(name), create: queues.create, context, log: options.log, signal: stopping.signal }),
    );
  }
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    runTimer,
    polls: (name) => pollers.has(name),
    close: async () => {
      crons.forEach((c) => c.stop());
      stopping.abort(new Error('stopped on request (the host is shutting down)'));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([...running.values(), ...[...pollers.values()].map((p) => p.stopped)]);
    },
  };
}

/** A host name, an IPv4 address or a bracketed IPv6 address, and an optional port: what a Host header may hold. */
const HOST_HEADER =
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?)(?::(\d{1,5}))?$/;

/**
 * The request's URL, or why there is none: the target must be a path (origin-form: `GET /api/health`, not
 * `GET http://other/api/health`), and the Host header a host[:port] (`127.0.0.1:7071@evil.example`, `[::1` and
 * `a b` are refused, never turned into a URL). Without a Host header (HTTP/1.0), the address the host listens on.
 */
function requestUrl(req: IncomingMessage, address: AddressInfo): URL | string {
  const target = req.url ?? '';
  if (!target.startsWith('/')) return 'the request target must be a path such as /api/health (absolute URLs are not accepted)';
  const header = req.headers.host;
  const host = header === undefined ? `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : header;
  const match = HOST_HEADER.exec(host);
  if (!match || (match[2] !== undefined && Number(match[2]) > 65535) || (match[1]!.startsWith('[') && isIP(match[1]!.slice(1, -1)) !== 6)) {
    return 'the Host header must be a host name or address with an optional port, such as 127.0.0.1:7071';
  }
  // Concatenated, not resolved against a base: a target such as //other/x stays a path of this host.
  const url = new URL(`http://${host}${target}`);
  const expected = match[1]!.toLowerCase().replace(/\.$/, '');
  if (url.hostname.replace(/\.$/, '') !== expected && !/^\d|^\[/.test(expected)) return 'the Host header must be a host name or address';
  return url;
}

/** The body, or undefined once it passes MAX_BODY_BYTES (what came so far is dropped, the rest is not read). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      req.off('data', onData).off('end', onEnd).off('error', reject);
      req.pause();
      resolve(undefined);
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

/** 413, then the rest of the body is discarded as it arrives (never kept) and the connection closed. */
function tooLarge(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify({ error: { code: 'PayloadTooLarge', message: `the request body is larger than ${MAX_BODY_BYTES} bytes (1 MiB)` } }));
  req.resume();
  const timer = setTimeout(() => req.socket.destroy(), 2000);
  timer.unref();
  req.socket.once('close', () => clearTimeout(timer));
}

function invocationContext(functionName: string, log: Logger, timer: boolean): InvocationContext {
  return new InvocationContext({
    functionName,
    invocationId: randomUUID(),
    logHandler: (level, ...args) => {
      const text = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' ');
      const line = timer ? readable(text) : `[${functionName}] ${text}`;
      if (level === 'error' || level === 'critical') log.error(line);
      else if (level === 'warning') log.warn(line);
      else if (level !== 'trace' && level !== 'debug') log.info(line);
    },
  });
}

/**
 * What a timer run logs, for a person at a terminal: the structured `sync-run {json}` line (which Application
 * Insights keeps in Azure) becomes the run line of src/cli/format.ts; the engine's other lines already start with the
 * collection.
 */
function readable(text: string): string {
  if (!text.startsWith('sync-run ')) return text;
  try {
    return formatRunLine(JSON.parse(text.slice('sync-run '.length)) as RunLineInput);
  } catch {
    return text;
  }
}

/** Azure Functions route templates: literal segments, `{name}` and optional `{name?}` parameters. */
export function routeMatcher(template: string): (path: string) => Record<string, string> | undefined {
  const segments = template.split('/').filter(Boolean);
  return (path) => {
    const parts = path.split('/').filter(Boolean);
    const params: Record<string, string> = {};
    let i = 0;
    for (const segment of segments) {
      const param = /^\{(\w+)(\?)?(?::[^}]*)?\}$/.exec(segment);
      const part = parts[i];
      if (param) {
        if (part === undefined) {
          if (param[2]) continue;
          return undefined;
        }
        params[param[1]!] = part;
      } else if (part?.toLowerCase() !== segment.toLowerCase()) return undefined;
      i++;
    }
    return i === parts.length ? params : undefined;
  };
}
