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
import { CollectionRegistry, type CollectionSpec } from './collections.js';
import { FaultController, type FaultSpec } from './faults.js';
import { FilterError } from './filter.js';
import { GraphApi, NotFoundError, PhantomNextLinkError, shapeRecord } from './graph-api.js';
import { HistoryStore } from './history.js';
import { ODATA_JSON, type RequestIds, type Truncation, defaultErrorCode, graphError, requestIds, sendJson } from './http.js';
import { IDENTITY_PATH, appServiceError, tokenResponse } from './identity.js';
import { FORBIDDEN_CODE, FORBIDDEN_MESSAGE, UNLICENSED_MESSAGES, isLicence, isUnlicensedCode, licensed, permitted, tenantView } from './licence.js';
import {
  type CollectionName,
  type CollectionSchema,
  HISTORY_SCHEMA,
  PERMISSIONS,
  type RecordFor,
  type RecordInput,
  type RiskyUserHistoryItem,
} from './model.js';
import { SkipTokens } from './paging.js';
import { Prng } from './prng.js';
import { QueryError } from './query.js';
import { type EmulatorStats, type RequestLogEntry, type RouteName, StatsRecorder } from './stats.js';
import { RecordStore, type UpsertOptions } from './store.js';
import { Throttle, type ThrottlingSettings } from './throttle.js';
import { TokenStore } from './tokens.js';
import type { GraphEmulator, GraphEmulatorOptions, GraphEmulatorSettings, ListOptions } from './types.js';

export type { GraphEmulator, GraphEmulatorOptions, GraphEmulatorSettings, ListOptions } from './types.js';

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

  private readonly registry = new CollectionRegistry();
  private readonly store = new RecordStore((collection) => this.registry.require(collection));
  private readonly historyStore = new HistoryStore();
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
      licence: 'P2',
      unlicensedCode: 'Authentication_RequestFromNonPremiumTenantOrB2CTenant',
      permissions: [PERMISSIONS.riskEvents, PERMISSIONS.riskyUsers],
      phantomNextLink: false,
      historyOnlyCurrent: false,
    };
    this.skipTokens = new SkipTokens(this.current.skipTokenTtlMs);
    this.configure({
      emptyPageProbability: options.emptyPageProbability,
      skipTokenTtlMs: options.skipTokenTtlMs,
      quotedDateTime: options.quotedDateTime,
      gtIncludesBoundary: options.gtIncludesBoundary,
      licence: options.licence,
      unlicensedCode: options.unlicensedCode,
      permissions: options.permissions,
      phantomNextLink: options.phantomNextLink,
      historyOnlyCurrent: options.historyOnlyCurrent,
    });
    for (const spec of options.collections ?? []) this.registry.define(spec);
    const rng = new Prng(seed);
    this.api = new GraphApi(this.store, this.historyStore, this.skipTokens, rng.fork('order'), rng.fork('pages'), () => ({
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

  // ---- collections and data ----

  defineCollection(spec: CollectionSpec): CollectionSchema {
    return this.registry.define(spec);
  }

  collections(): CollectionSchema[] {
    return this.registry.list();
  }

  upsert<C extends CollectionName>(collection: C, records: RecordInput<C> | readonly RecordInput<C>[], options: UpsertOptions = {}): void {
    this.registry.require(collection);
    if (options.history !== undefined && collection !== 'riskyUsers') {
      throw new TypeError(`upsert option 'history' applies to riskyUsers only, not ${collection}`);
    }
    const list = (Array.isArray(records) ? records : [records]) as Record<string, unknown>[];
    for (const input of list) {
      const { record, previous, visibleAt } = this.store.upsert(collection, input, options);
      if (collection === 'riskyUsers') this.historyStore.record(record, previous, options, visibleAt);
    }
  }

  remove(collection: CollectionName, id: string): boolean {
    if (collection === 'riskyUsers') this.historyStore.remove(id);
    return this.store.remove(collection, id);
  }

  clear(collection?: CollectionName): void {
    if (collection === undefined || collection === 'riskyUsers') this.historyStore.clear();
    this.store.clear(collection);
  }

  list<C extends CollectionName>(collection: C, options: ListOptions = {}): RecordFor<C>[] {
    return this.store
      .ids(collection)
      .map((id) => this.get(collection, id, options))
      .filter((r): r is RecordFor<C> => r !== undefined);
  }

  get<C extends CollectionName>(collection: C, id: string, options: ListOptions = {}): RecordFor<C> | undefined {
    const schema = this.registry.require(collection);
    const record = options.visibleOnly ? this.store.visible(collection, id) : this.store.latest(collection, id);
    if (!record) return undefined;
    const view = options.asServed ? tenantView(schema, record, this.current.licence) : record;
    return shapeRecord(view, schema, options.version ?? 'v1.0', undefined, true, false) as RecordFor<C>;
  }

  history(userId: string, options: ListOptions = {}): RiskyUserHistoryItem[] | undefined {
    const items = this.api.historyOf(userId, options.visibleOnly ?? false);
    return items?.map((item) => shapeRecord(item, HISTORY_SCHEMA, options.version ?? 'v1.0', undefined, true, false) as RiskyUserHistoryItem);
  }

  // ---- switches ----

  setThrottling(settings: Partial<ThrottlingSettings>): void {
    this.throttle.set(settings);
  }

  get throttling(): ThrottlingSettings {
    return this.throttle.current;
  }

  configure(settings: Partial<GraphEmulatorSettings>): void {
    this.current = validatedSettings(this.current, settings);
    this.skipTokens.setTtl(this.current.skipTokenTtlMs);
  }

  get settings(): GraphEmulatorSettings {
    return { ...this.current, permissions: [...this.current.permissions] };
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

    const route = this.registry.match(url.pathname);
    const routeName: RouteName = route?.schema.name ?? 'notFound';
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
    const fault = this.faults.take({ target: 'graph', nextLink, collection: route?.schema.name });
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

    // Answered by the service like any other request: they consume the budget (README, "Do 403s consume the budget?").
    if (!permitted(route.schema, this.current.permissions)) {
      this.recorder.mutable.forbidden++;
      return fail(403, FORBIDDEN_CODE, FORBIDDEN_MESSAGE);
    }
    if (!licensed(route.schema, this.current.licence)) {
      this.recorder.mutable.unlicensed++;
      return fail(403, this.current.unlicensedCode, UNLICENSED_MESSAGES[this.current.unlicensedCode]);
    }

    const includeUnknownEnums = (prefer ?? '').split(',').some((p) => p.trim().toLowerCase() === 'include-unknown-enum-members');
    let result;
    try {
      result = this.api.get(route, url.searchParams, includeUnknownEnums);
    } catch (error) {
      if (error instanceof PhantomNextLinkError) this.recorder.mutable.phantomNextLinksFollowed++;
      if (error instanceof QueryError || error instanceof FilterError) return fail(400, 'BadRequest', error.message);
      if (error instanceof NotFoundError) return fail(404, 'ResourceNotFound', error.message);
      throw error;
    }
    if (result.page) {
      this.recorder.mutable.pagesServed++;
      if (result.page.size === 0) this.recorder.mutable.emptyPagesServed++;
      if (result.page.phantom) this.recorder.mutable.phantomNextLinks++;
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

/** The settings after a change, or a RangeError naming the first bad value (nothing changes then). */
function validatedSettings(current: GraphEmulatorSettings, change: Partial<GraphEmulatorSettings>): GraphEmulatorSettings {
  const next = { ...current, permissions: [...current.permissions] };
  const bad = (name: string, expected: string, value: unknown): never => {
    throw new RangeError(`${name} must be ${expected}, got ${JSON.stringify(value)}`);
  };
  const flag = (name: 'gtIncludesBoundary' | 'phantomNextLink' | 'historyOnlyCurrent'): void => {
    const value = change[name];
    if (value === undefined) return;
    if (typeof value !== 'boolean') bad(name, 'true or false', value);
    next[name] = value;
  };
  const { emptyPageProbability, skipTokenTtlMs, quotedDateTime, licence, unlicensedCode, permissions } = change;
  if (emptyPageProbability !== undefined) {
    if (!(typeof emptyPageProbability === 'number' && emptyPageProbability >= 0 && emptyPageProbability < 1)) {
      bad('emptyPageProbability', 'in [0, 1)', emptyPageProbability);
    }
    next.emptyPageProbability = emptyPageProbability;
  }
  if (skipTokenTtlMs !== undefined) {
    if (!(typeof skipTokenTtlMs === 'number' && skipTokenTtlMs > 0)) bad('skipTokenTtlMs', 'a positive number of milliseconds', skipTokenTtlMs);
    next.skipTokenTtlMs = skipTokenTtlMs;
  }
  if (quotedDateTime !== undefined) {
    if (quotedDateTime !== 'matchNothing' && quotedDateTime !== 'badRequest') bad('quotedDateTime', "'matchNothing' or 'badRequest'", quotedDateTime);
    next.quotedDateTime = quotedDateTime;
  }
  if (licence !== undefined) {
    if (!isLicence(licence)) bad('licence', "'P2', 'P1' or 'none'", licence);
    next.licence = licence;
  }
  if (unlicensedCode !== undefined) {
    if (!isUnlicensedCode(unlicensedCode))
      bad('unlicensedCode', "'Authentication_RequestFromNonPremiumTenantOrB2CTenant' or 'NoLicense'", unlicensedCode);
    next.unlicensedCode = unlicensedCode;
  }
  if (permissions !== undefined) {
    if (!Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string' && p.trim() !== '')) {
      bad('permissions', 'a list of application permission names (possibly empty)', permissions);
    }
    next.permissions = permissions.map((p) => p.trim());
  }
  flag('gtIncludesBoundary');
  flag('phantomNextLink');
  flag('historyOnlyCurrent');
  return next;
}
