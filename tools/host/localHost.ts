import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { HttpRequest, HttpResponse, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { Cron } from 'croner';
import type { FunctionDefinition, HttpFunction, TimerFunction } from '../../src/app/functions';
import type { Logger } from '../../src/domain/logger';

/**
 * A local stand-in for the Azure Functions host (Core Tools can not be installed here): serves the app's HTTP
 * functions on /api/<route> and fires its timers on their NCRONTAB schedules, calling the very same handlers.
 * Like Core Tools, it does not check function keys; it listens on loopback unless told otherwise.
 */
export interface LocalHostOptions {
  functions: FunctionDefinition[];
  port: number;
  hostname?: string;
  timers?: boolean;
  log: Logger;
}

export interface LocalHost {
  url: string;
  /** Runs a timer function now, as its schedule would (awaits the run). */
  runTimer(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const http = options.functions.filter((f): f is HttpFunction => f.kind === 'http');
  const timers = options.functions.filter((f): f is TimerFunction => f.kind === 'timer');
  const routes = http.map((f) => ({ fn: f, match: routeMatcher(f.route) }));
  const running = new Map<string, Promise<void>>();

  const server: Server = createServer((req, res) => {
    void serve(req, res).catch((error: unknown) => {
      options.log.error(`local host: ${(error as Error).stack ?? String(error)}`);
      if (res.headersSent) return void res.destroy(); // cut a streamed body short rather than append an error to it
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'InternalError', message: 'the function failed; see the host log' } }));
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse) {
    const url = requestUrl(req);
    const path = url.pathname.replace(/\/+$/, '');
    let found: { fn: HttpFunction; params: Record<string, string> } | undefined;
    let methodMismatch = false;
    let routePath: string | undefined;
    try {
      routePath = path.startsWith('/api/') ? decodeURIComponent(path.slice('/api/'.length)) : undefined;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'BadRequest', message: 'the path is not valid percent-encoded UTF-8' } }));
      return;
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
      res.writeHead(methodMismatch ? 405 : 404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { code: methodMismatch ? 'MethodNotAllowed' : 'NotFound', message: `no function serves ${req.method} ${url.pathname}` },
        }),
      );
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const request = new HttpRequest({
      method: req.method ?? 'GET',
      url: url.toString(),
      headers,
      params: found.params,
      ...(chunks.length ? { body: { bytes: Buffer.concat(chunks) } } : {}),
    });
    const context = invocationContext(found.fn.name, options.log);
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

  const runTimer = (name: string): Promise<void> => {
    const fn = timers.find((t) => t.name === name);
    if (!fn) return Promise.reject(new Error(`no timer function named ${name}`));
    // A late run waits for the running one, as the Functions timer does.
    const previous = running.get(name) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        await fn.handler(
          { isPastDue: false, scheduleStatus: { last: '', next: '', lastUpdated: '' } } as never,
          invocationContext(name, options.log),
        );
      } catch (error) {
        options.log.error(`${name} failed: ${(error as Error).message}`);
      }
    });
    running.set(name, next);
    return next;
  };

  const crons = options.timers ? timers.map((t) => new Cron(t.schedule, { timezone: 'UTC', protect: true }, () => runTimer(t.name))) : [];

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    runTimer,
    close: async () => {
      crons.forEach((c) => c.stop());
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all(running.values());
    },
  };
}

/** The request's URL. A Host header that is no host[:port] (`exa mple`, `[`) must not fail the request: localhost then. */
function requestUrl(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  } catch {
    return new URL(req.url ?? '/', 'http://localhost');
  }
}

function invocationContext(functionName: string, log: Logger): InvocationContext {
  return new InvocationContext({
    functionName,
    invocationId: randomUUID(),
    logHandler: (level, ...args) => {
      const text = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' ');
      if (level === 'error' || level === 'critical') log.error(`[${functionName}] ${text}`);
      else if (level === 'warning') log.warn(`[${functionName}] ${text}`);
      else if (level !== 'trace' && level !== 'debug') log.info(`[${functionName}] ${text}`);
    },
  });
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
