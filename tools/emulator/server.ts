/**
 * The Graph emulator: an HTTPS server for the Identity Protection collections and a plain-http App Service
 * managed-identity endpoint on loopback, with throttling, faults, paging and enum drift as Graph has them.
 * See ../shared/reference/graph-identity-protection.md for the behaviour it reproduces.
 */
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { handleAdmin } from './admin.js';
import { ensureEmulatorCertificate } from './certificate.js';
import { FaultController, type FaultSpec } from './faults.js';
import { FilterError } from './filter.js';
import { GraphApi, NotFoundError, matchRoute, shapeRecord } from './graph-api.js';
import { ODATA_JSON, type RequestIds, type Truncation, defaultErrorCode, graphError, requestIds, sendJson } from './http.js';
import { IDENTITY_PATH, appServiceError, tokenResponse } from './identity.js';
import { type ApiVersion, type CollectionName, type RecordInput, type RecordOf } from './model.js';
import { SkipTokens } from './paging.js';
import { Prng } from './prng.js';
import { QueryError } from './query.js';
import { type EmulatorStats, type RequestLogEntry, type RouteName, StatsRecorder } from './stats.js';
import { Throttle, type ThrottlingSettings } from './throttle.js';
import { TokenStore } from './tokens.js';
import { RecordStore, type UpsertOptions } from './store.js';

export const DEFAULT_TENANT_ID = '5b0a4a4e-8d1c-4f7a-9e61-3c3f1e0d2a11';
export const DEFAULT_CLIENT_ID = '0f5e2d3c-6b7a-4c8d-9e0f-1a2b3c4d5e6f';
export const DEFAULT_RESOURCE = 'https://graph.microsoft.com';

/**
 * msal-node keeps the App Service endpoint URL and header in static fields after the first token request of the
 * process. By default every emulator of the process therefore uses the same identity header and tries the identity
 * port of the first one (free again once that one is closed), so that a credential that first talked to an earlier
 * emulator keeps working with the next ones.
 */
const PROCESS_IDENTITY_HEADER = randomBytes(24).toString('base64url');
let processIdentityPort: number | undefined;

export interface GraphEmulatorOptions {
  /** HTTPS port of the Graph API (default 0: any free port). */
  port?: number;
  /** Port of the plain-http managed-identity endpoint (default: the first emulator's of the process if free, else any). */
  identityPort?: number;
  /** One emulator is one tenant; tokens are valid for every emulator of the tenant in the process. */
  tenantId?: string;
  /** Client id of the managed identity (answered in `client_id`; a request for another client_id fails). */
  clientId?: string;
  /** IDENTITY_HEADER secret (default: random, the same for the whole process). */
  identityHeader?: string;
  /** The Graph resource tokens are issued for (default https://graph.microsoft.com). */
  resource?: string;
  tokenLifetimeSeconds?: number;
  /** Throttling on/off (default on). */
  throttling?: boolean;
  /** Tenant budget in requests per second (default 1). */
  rps?: number;
  /** Slack for timer jitter when enforcing 1000/rps ms between accepted requests (default 5 ms). */
  throttleToleranceMs?: number;
  /** Seeds result order, empty pages and fault probabilities (default 1). */
  seed?: number | string;
  /** Probability that a page with records left is served empty, with a next link (default 0). */
  emptyPageProbability?: number;
  /** Lifetime of a `$skiptoken` (default 10 minutes). */
  skipTokenTtlMs?: number;
  /** A quoted datetime against a datetime property: matches nothing (default) or answers 400. */
  quotedDateTime?: 'matchNothing' | 'badRequest';
  /** Reproduce the reported quirk where `gt` on a timestamp returns the boundary record too (default false). */
  gtIncludesBoundary?: boolean;
  /** Where the TLS certificate lives (default .local/emulator under the working directory). */
  certificateDir?: string;
}

/** Run-time switches (also settable at start through GraphEmulatorOptions). */
export interface GraphEmulatorSettings {
  emptyPageProbability: number;
  skipTokenTtlMs: number;
  quotedDateTime: 'matchNothing' | 'badRequest';
  gtIncludesBoundary: boolean;
}

export interface ListOptions {
  /** Only what Graph serves now (default false: the newest version of every record, visible or not yet). */
  visibleOnly?: boolean;
  /** Shape of the records (default v1.0; beta adds its extra properties). */
  version?: ApiVersion;
}

export interface GraphEmulator {
  /** https://127.0.0.1:<port>; resources under /v1.0 and /beta. */
  readonly graphUrl: string;
  /** The value for IDENTITY_ENDPOINT: http://127.0.0.1:<port>/msi/token */
  readonly identityEndpoint: string;
  /** The value for IDENTITY_HEADER. */
  readonly identityHeader: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly resource: string;
  /** Faults switchable at run time. */
  readonly faults: FaultController;

  /** Adds or replaces records (by id). Missing properties are served as null. */
  upsert<C extends CollectionName>(collection: C, records: RecordInput<C> | readonly RecordInput<C>[], options?: UpsertOptions): void;
  remove(collection: CollectionName, id: string): boolean;
  clear(collection?: CollectionName): void;
  /** Records as Graph returns them with `Prefer: include-unknown-enum-members` (raw enum values). */
  list<C extends CollectionName>(collection: C, options?: ListOptions): RecordOf[C][];
  get<C extends CollectionName>(collection: C, id: string, options?: ListOptions): RecordOf[C] | undefined;

  setThrottling(settings: Partial<ThrottlingSettings>): void;
  readonly throttling: ThrottlingSettings;
  configure(settings: Partial<GraphEmulatorSettings>): void;
  readonly settings: GraphEmulatorSettings;

  /** Invalidates every token issued so far for this tenant. */
  revokeTokens(): void;
  /** A valid token without going through the managed-identity endpoint (counts in tokensIssued). */
  issueToken(): { token: string; expiresOn: number };
  /** Expires every `$skiptoken` handed out so far. */
  expireSkipTokens(): void;

  stats(): EmulatorStats;
  /** The last 1000 requests, oldest first. */
  requestLog(): RequestLogEntry[];
  resetStats(): void;

  /** Closes both listeners and destroys open connections. */
  close(): Promise<void>;
}

export async function startGraphEmulator(options: GraphEmulatorOptions = {}): Promise<GraphEmulator> {
  const { cert, key } = await ensureEmulatorCertificate(options.certificateDir);
  const emulator = new Emulator(options, cert, key);
  await emulator.listen(options.port ?? 0, options.identityPort);
  return emulator;
}

const WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';

const UNAUTHORIZED_MESSAGES = {
  missing: 'Access token is empty.',
  unknown: 'Access token validation failure. Invalid audience.',
  expired: 'Lifetime validation failed, the token is expired.',
  revoked: 'Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokensRevoked',
};

class Emulator implements GraphEmulator {
  readonly tenantId: string;
  readonly clientId: string;
  readonly resource: string;
  readonly identityHeader: string;
  readonly faults: FaultController;

  private readonly graphServer: https.Server;
  private readonly identityServer: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private graphPort = 0;
  private identityPort = 0;

  private readonly store = new RecordStore();
  private readonly tokens: TokenStore;
  private readonly tokenLifetimeSeconds: number;
  private readonly throttle: Throttle;
  private readonly skipTokens: SkipTokens;
  private readonly recorder = new StatsRecorder();
  private readonly api: GraphApi;
  private current: GraphEmulatorSettings;

  constructor(options: GraphEmulatorOptions, cert: string, key: string) {
    const seed = options.seed ?? 1;
    this.tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
    this.clientId = options.clientId ?? DEFAULT_CLIENT_ID;
    this.resource = options.resource ?? DEFAULT_RESOURCE;
    this.identityHeader = options.identityHeader ?? PROCESS_IDENTITY_HEADER;
    this.tokens = TokenStore.forTenant(this.tenantId);
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
    this.throttle = new Throttle({ enabled: options.throttling ?? true, rps: options.rps ?? 1 }, options.throttleToleranceMs ?? 5);
    this.faults = new FaultController(seed);
    this.current = {
      emptyPageProbability: 0,
      skipTokenTtlMs: 10 * 60 * 1000,
      quotedDateTime: 'matchNothing',
      gtIncludesBoundary: false,
    };
    this.skipTokens = new SkipTokens(this.current.skipTokenTtlMs);
    this.configure({
      emptyPageProbability: options.emptyPageProbability,
      skipTokenTtlMs: options.skipTokenTtlMs,
      quotedDateTime: options.quotedDateTime,
      gtIncludesBoundary: options.gtIncludesBoundary,
    });
    const rng = new Prng(seed);
    this.api = new GraphApi(this.store, this.skipTokens, rng.fork('order'), rng.fork('pages'), () => ({
      baseUrl: this.graphUrl,
      ...this.current,
    }));

    this.graphServer = https.createServer({ cert, key }, (req, res) => this.dispatch(req, res, 'graph'));
    this.identityServer = http.createServer((req, res) => this.dispatch(req, res, 'token'));
    for (const server of [this.graphServer, this.identityServer]) {
      server.on('connection', (socket: Socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
    }
    // A client that does not trust the certificate is its own problem, not the emulator's.
    this.graphServer.on('tlsClientError', () => {});
  }

  async listen(graphPort: number, identityPort: number | undefined): Promise<void> {
    this.graphPort = await listenOn(this.graphServer, graphPort);
    if (identityPort !== undefined) {
      this.identityPort = await listenOn(this.identityServer, identityPort);
    } else {
      this.identityPort =
        (processIdentityPort !== undefined && (await listenOn(this.identityServer, processIdentityPort).catch(() => undefined))) ||
        (await listenOn(this.identityServer, 0));
      processIdentityPort ??= this.identityPort;
    }
  }

  get graphUrl(): string {
    return `https://127.0.0.1:${this.graphPort}`;
  }

  get identityEndpoint(): string {
    return `http://127.0.0.1:${this.identityPort}${IDENTITY_PATH}`;
  }

  // ---- data ----

  upsert<C extends CollectionName>(collection: C, records: RecordInput<C> | readonly RecordInput<C>[], options?: UpsertOptions): void {
    const list = (Array.isArray(records) ? records : [records]) as RecordInput<C>[];
    for (const record of list) this.store.upsert(collection, record, options);
  }

  remove(collection: CollectionName, id: string): boolean {
    return this.store.remove(collection, id);
  }

  clear(collection?: CollectionName): void {
    this.store.clear(collection);
  }

  list<C extends CollectionName>(collection: C, options: ListOptions = {}): RecordOf[C][] {
    return this.store
      .ids(collection)
      .map((id) => this.get(collection, id, options))
      .filter((r): r is RecordOf[C] => r !== undefined);
  }

  get<C extends CollectionName>(collection: C, id: string, options: ListOptions = {}): RecordOf[C] | undefined {
    const record = options.visibleOnly ? this.store.visible(collection, id) : this.store.latest(collection, id);
    return record && (shapeRecord(record, collection, options.version ?? 'v1.0', undefined, true) as RecordOf[C]);
  }

  // ---- switches ----

  setThrottling(settings: Partial<ThrottlingSettings>): void {
    this.throttle.set(settings);
  }

  get throttling(): ThrottlingSettings {
    return this.throttle.current;
  }

  configure(settings: Partial<GraphEmulatorSettings>): void {
    const next = { ...this.current };
    if (settings.emptyPageProbability !== undefined) {
      if (!(settings.emptyPageProbability >= 0 && settings.emptyPageProbability < 1)) {
        throw new RangeError('emptyPageProbability must be in [0, 1)');
      }
      next.emptyPageProbability = settings.emptyPageProbability;
    }
    if (settings.skipTokenTtlMs !== undefined) {
      if (!(settings.skipTokenTtlMs > 0)) throw new RangeError('skipTokenTtlMs must be positive');
      next.skipTokenTtlMs = settings.skipTokenTtlMs;
    }
    if (settings.quotedDateTime !== undefined) next.quotedDateTime = settings.quotedDateTime;
    if (settings.gtIncludesBoundary !== undefined) next.gtIncludesBoundary = settings.gtIncludesBoundary;
    this.current = next;
    this.skipTokens.setTtl(next.skipTokenTtlMs);
  }

  get settings(): GraphEmulatorSettings {
    return { ...this.current };
  }

  revokeTokens(): void {
    this.tokens.revokeAll();
  }

  issueToken(): { token: string; expiresOn: number } {
    this.recorder.mutable.tokensIssued++;
    return this.tokens.issue(this.tokenLifetimeSeconds);
  }

  expireSkipTokens(): void {
    this.skipTokens.expireAll();
  }

  stats(): EmulatorStats {
    return this.recorder.snapshot();
  }

  requestLog(): RequestLogEntry[] {
    return this.recorder.entries();
  }

  resetStats(): void {
    this.recorder.reset();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closing = [this.graphServer, this.identityServer].map(
      (server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
    );
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closing);
  }

  // ---- requests ----

  private dispatch(req: IncomingMessage, res: ServerResponse, listener: 'graph' | 'token'): void {
    const ids = requestIds(req);
    const handler = listener === 'graph' ? this.onGraphRequest(req, res, ids) : this.onTokenRequest(req, res, ids);
    handler.catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const message = `Emulator failure: ${(error as Error).message}`;
      sendJson(res, 500, listener === 'graph' ? graphError(ids, 'InternalServerError', message) : appServiceError(500, message));
    });
  }

  private async onGraphRequest(req: IncomingMessage, res: ServerResponse, ids: RequestIds): Promise<void> {
    const at = new Date().toISOString();
    const url = new URL(req.url ?? '/', this.graphUrl);
    const method = req.method ?? 'GET';
    const headers: Record<string, string> = { 'request-id': ids.requestId, 'client-request-id': ids.clientRequestId };

    if (url.pathname.startsWith('/_emulator/')) {
      const result = await handleAdmin(this, req, url);
      sendJson(res, result.status, result.body, headers);
      this.recorder.response('admin', result.status);
      return;
    }

    const route = matchRoute(url.pathname);
    const routeName: RouteName = route?.collection ?? 'notFound';
    const nextLink = [...url.searchParams.keys()].some((k) => k.toLowerCase() === '$skiptoken');
    const prefer = headerValue(req, 'prefer');
    const done = (status: number | 'reset', fault?: FaultSpec['kind']): void => {
      this.recorder.response(routeName, status);
      this.recorder.record({
        at,
        listener: 'graph',
        method,
        url: req.url ?? '',
        route: routeName,
        status,
        ...(fault && { fault }),
        ...(prefer !== undefined && { prefer }),
        ...(typeof req.headers['client-request-id'] === 'string' && { clientRequestId: req.headers['client-request-id'] }),
      });
    };
    const fail = (status: number, code: string, message: string, extra: Record<string, string> = {}): void => {
      sendJson(res, status, graphError(ids, code, message), { ...headers, ...extra });
      done(status);
    };
    if (route && nextLink) this.recorder.mutable.nextLinkRequests++;

    let truncate: Truncation | undefined;
    const fault = this.faults.take({ target: 'graph', nextLink, collection: route?.collection });
    if (fault) {
      this.recorder.fault('graph', fault.kind);
      const outcome = await this.startFault(fault, res, (status, extra) => {
        const code = (fault.kind === 'status' && fault.code) || defaultErrorCode(status);
        sendJson(res, status, graphError(ids, code, `Injected fault: ${status}.`), { ...headers, ...extra });
      });
      if (outcome === 'closed') return;
      if (outcome === 'answered') return done(res.statusCode, fault.kind);
      if (outcome === 'reset') return done('reset', fault.kind);
      if (outcome !== 'continue') truncate = outcome;
    }

    if (!route) return fail(404, 'NotFound', `Resource not found for the segment '${url.pathname}'.`);
    if (method !== 'GET') return fail(405, 'MethodNotAllowed', `The HTTP method '${method}' is not allowed on this resource.`);

    const authorization = /^Bearer\s+(\S+)\s*$/i.exec(headerValue(req, 'authorization') ?? '');
    const check = this.tokens.check(authorization?.[1]);
    if (check !== 'valid') {
      return fail(401, 'InvalidAuthenticationToken', UNAUTHORIZED_MESSAGES[check], { 'www-authenticate': WWW_AUTHENTICATE });
    }

    // A truncated answer is a fault: like the others, it does not consume the budget.
    if (!truncate) {
      if (!this.throttle.tryAccept()) {
        this.recorder.mutable.throttled++;
        return fail(429, 'TooManyRequests', 'Too many requests: the tenant exceeded its Identity Protection request budget.');
      }
      this.recorder.mutable.accepted++;
    }

    const includeUnknownEnums = (prefer ?? '').split(',').some((p) => p.trim().toLowerCase() === 'include-unknown-enum-members');
    let result;
    try {
      result = this.api.get(route, url.searchParams, includeUnknownEnums);
    } catch (error) {
      if (error instanceof QueryError || error instanceof FilterError) return fail(400, 'BadRequest', error.message);
      if (error instanceof NotFoundError) return fail(404, 'ResourceNotFound', error.message);
      throw error;
    }
    if (result.page) {
      this.recorder.mutable.pagesServed++;
      if (result.page.size === 0) this.recorder.mutable.emptyPagesServed++;
    }
    sendJson(
      res,
      result.status,
      result.body,
      {
        ...headers,
        'content-type': ODATA_JSON,
        'odata-version': '4.0',
        ...(includeUnknownEnums && { 'preference-applied': 'include-unknown-enum-members' }),
      },
      truncate,
    );
    done(result.status, truncate && 'truncate');
  }

  private async onTokenRequest(req: IncomingMessage, res: ServerResponse, ids: RequestIds): Promise<void> {
    const at = new Date().toISOString();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const done = (status: number | 'reset', fault?: FaultSpec['kind']): void => {
      this.recorder.response('token', status);
      this.recorder.record({ at, listener: 'token', method, url: req.url ?? '', route: 'token', status, ...(fault && { fault }) });
    };

    let truncate: Truncation | undefined;
    const fault = this.faults.take({ target: 'token', nextLink: false });
    if (fault) {
      this.recorder.fault('token', fault.kind);
      const outcome = await this.startFault(fault, res, (status, extra) => {
        sendJson(res, status, appServiceError(status, `Injected fault: ${status}.`), extra);
      });
      if (outcome === 'closed') return;
      if (outcome === 'answered') return done(res.statusCode, fault.kind);
      if (outcome === 'reset') return done('reset', fault.kind);
      if (outcome !== 'continue') truncate = outcome;
    }

    const result = tokenResponse(method, url, req.headers, {
      identityHeader: this.identityHeader,
      resource: this.resource,
      clientId: this.clientId,
      tokenLifetimeSeconds: this.tokenLifetimeSeconds,
      tokens: this.tokens,
    });
    if (result.issued) this.recorder.mutable.tokensIssued++;
    sendJson(res, result.status, result.body, { 'x-ms-request-id': ids.requestId }, truncate);
    done(result.status, truncate && 'truncate');
  }

  /**
   * Serves the part of a fault that happens before the normal answer: 'answered' (an error status was sent),
   * 'reset', 'closed' (the emulator closed during a delay), 'continue' (answer normally) or a truncation to apply.
   */
  private async startFault(
    fault: FaultSpec,
    res: ServerResponse,
    sendStatus: (status: number, headers: Record<string, string>) => void,
  ): Promise<'answered' | 'reset' | 'closed' | 'continue' | Truncation> {
    switch (fault.kind) {
      case 'status':
        sendStatus(fault.status, fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) });
        return 'answered';
      case 'reset':
        res.socket?.destroy();
        return 'reset';
      case 'slow':
        await this.delay(fault.delayMs);
        return this.closed ? 'closed' : 'continue';
      case 'truncate':
        return { fraction: fault.fraction, declareFullLength: fault.declareFullLength };
    }
  }

  /** A delay that close() cancels (the pending request is then dropped with its socket). */
  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function listenOn(server: http.Server | https.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
