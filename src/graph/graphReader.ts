import { randomUUID } from 'node:crypto';
import {
  AuthenticationHandler,
  HTTPMessageHandler,
  type AuthenticationProvider,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import pRetry, { AbortError } from 'p-retry';
import type { Settings } from '../config/settings';
import type { GraphRecord } from '../domain/collection';
import type { RenewableCredential } from './credential';
import { GraphAuthenticationError, GraphCertificateError, GraphRequestError, GraphTransportError, isTlsTrustFailure } from './errors';
import { sleep, type Pacer } from './pacer';
import { firstPageUrl, type PageQuery } from './query';
import { formatTicks, ticksOfDate } from '../domain/datetime';

export type { GraphRecord } from '../domain/collection';

export interface GraphPage {
  records: GraphRecord[];
  nextLink?: string;
  /**
   * Graph's own time just before it read the page (its Date header, less the request's round trip and a second for
   * the header's whole seconds), normalized; absent when the answer had no Date.
   */
  graphTime?: string;
}

export interface GraphReaderStats {
  requests: number;
  retries: number;
  throttles: number;
  tokenRefreshes: number;
}

export interface RetryPolicy {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  requestTimeoutMs: number;
}

export interface RetryEvent {
  /** The attempt that failed (1 for the first request). */
  attempt: number;
  /** Graph's status; 0 for a transport failure or no token. */
  status: number;
  code: string;
  /** What failed, in a few words (for a transport failure or a token that could not be had). */
  reason?: string;
  /** How long until the request is sent again (the backoff, or Graph's Retry-After when longer). */
  delayMs: number;
  delayHintMs?: number;
}

export interface GraphReaderOptions {
  graphRoot: string;
  scope: string;
  pacer: Pacer;
  /** The process's credential; renewed (its cached token dropped) after a 401. */
  credential: RenewableCredential;
  retry: RetryPolicy;
  signal?: AbortSignal;
  onRetry?: (event: RetryEvent) => void;
}

const GRAPH_HOSTS = new Set(['graph.microsoft.com', 'graph.microsoft.us', 'dod-graph.microsoft.us']);

/** Hands the Graph SDK's AuthenticationHandler a token; `refresh()` drops the credential's token cache. */
class RefreshableTokenProvider implements AuthenticationProvider {
  constructor(
    private readonly credential: GraphReaderOptions['credential'],
    private readonly scope: string,
  ) {}

  async getAccessToken(): Promise<string> {
    let token;
    try {
      token = await this.credential.getToken(this.scope);
    } catch (error) {
      if (error instanceof GraphAuthenticationError) throw error;
      throw new GraphAuthenticationError(`could not get a token: ${String((error as Error).message ?? error).split('\n')[0]}`, true, {
        cause: error,
      });
    }
    if (!token) throw new GraphAuthenticationError('could not get a token: the credential returned none', true);
    return token.token;
  }

  refresh(): void {
    this.credential.renew();
  }
}

/** Takes the pacer's slot after the token is in hand, so time spent getting a token never bunches requests up. */
class PacingHandler implements Middleware {
  private next?: Middleware;
  constructor(
    private readonly pacer: Pacer,
    private readonly signal?: AbortSignal,
  ) {}

  async execute(context: Context): Promise<void> {
    const answered = await this.pacer.acquire(this.signal);
    try {
      await this.next!.execute(context);
    } finally {
      answered();
    }
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

/**
 * Reads Graph pages: paced per tenant, `Prefer: include-unknown-enum-members` on every request, next links
 * followed verbatim, and the one retry layer of the project (p-retry): 429, 5xx and transport failures back off
 * exponentially with jitter (Retry-After honoured when present), a 401 gets one fresh token, any other 4xx fails.
 * The Graph SDK's own RetryHandler is deliberately not in the middleware chain.
 */
export class GraphReader {
  readonly stats: GraphReaderStats = { requests: 0, retries: 0, throttles: 0, tokenRefreshes: 0 };
  private readonly tokens: RefreshableTokenProvider;
  private readonly chain: AuthenticationHandler;
  private readonly customHosts: Set<string> | undefined;
  private readonly origin: string;

  constructor(private readonly options: GraphReaderOptions) {
    this.tokens = new RefreshableTokenProvider(options.credential, options.scope);
    this.chain = new AuthenticationHandler(this.tokens);
    const pacing = new PacingHandler(options.pacer, options.signal);
    this.chain.setNext(pacing);
    pacing.setNext(new HTTPMessageHandler());
    const root = new URL(options.graphRoot);
    this.origin = root.origin;
    this.customHosts = GRAPH_HOSTS.has(root.hostname) ? undefined : new Set([root.hostname]);
  }

  /** The absolute URL of the first page of a query (see ./query.ts). */
  url(path: string, query: PageQuery): string {
    return firstPageUrl(this.origin, path, query);
  }

  async getPage(url: string): Promise<GraphPage> {
    if (new URL(url).origin !== this.origin) {
      throw new GraphRequestError(
        0,
        'UnexpectedNextLink',
        `Graph sent a next link to another origin (${new URL(url).origin}); the token is only sent to ${this.origin}`,
      );
    }
    const { retry, signal } = this.options;
    let refreshedToken = false;
    return pRetry(
      async () => {
        this.stats.requests++;
        const sentAt = Date.now();
        const { status, headers, text } = await this.send(url);
        if (status === 200) return { ...parsePage(text, url), ...graphTimeOf(headers, Date.now() - sentAt) };
        const error = toGraphError(status, headers, text, url);
        if (status === 401 && !refreshedToken) {
          refreshedToken = true;
          this.stats.tokenRefreshes++;
          this.tokens.refresh();
          throw new FreshTokenNeeded(error);
        }
        if (error.retryable) throw error;
        throw new AbortError(error);
      },
      {
        retries: retry.retries,
        // The backoff is taken in onFailedAttempt (so that the retry line can say how long it is): none here.
        minTimeout: 0,
        maxTimeout: 0,
        signal,
        shouldRetry: ({ error }) => !(error instanceof GraphAuthenticationError) || error.retryable,
        shouldConsumeRetry: ({ error }) => !(error instanceof FreshTokenNeeded),
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft, retriesConsumed }) => {
          if (error instanceof FreshTokenNeeded || retriesLeft <= 0) return;
          if (error instanceof GraphAuthenticationError && !error.retryable) return;
          const status = error instanceof GraphRequestError ? error.status : 0;
          const code = error instanceof GraphRequestError ? error.code : error.name;
          const retryAfterMs = error instanceof GraphRequestError ? error.details.retryAfterMs : undefined;
          // Exponential backoff with jitter (1x to 2x), as p-retry's `randomize` computes it.
          const backoffMs = Math.min(retry.maxDelayMs, Math.round((1 + Math.random()) * retry.baseDelayMs * 2 ** retriesConsumed));
          this.stats.retries++;
          if (status === 429) {
            this.stats.throttles++;
            if (retryAfterMs === undefined) this.options.pacer.throttled();
            // No Retry-After on these resources: hold every caller of this tenant for the backoff we are about to take.
            this.options.pacer.holdUntil(Date.now() + (retryAfterMs ?? retry.baseDelayMs * 2 ** (attemptNumber - 1)));
          } else if (retryAfterMs !== undefined) {
            this.options.pacer.holdUntil(Date.now() + retryAfterMs);
          }
          const delayMs = Math.max(backoffMs, retryAfterMs ?? 0);
          const reason = status !== 0 ? undefined : error instanceof GraphRequestError ? error.graphMessage : error.message;
          this.options.onRetry?.({ attempt: attemptNumber, status, code, reason, delayMs, delayHintMs: retryAfterMs });
          await sleep(backoffMs, signal);
        },
      },
    ).catch((error: unknown) => {
      throw error instanceof FreshTokenNeeded ? error.cause : error;
    });
  }

  private async send(url: string): Promise<{ status: number; headers: Headers; text: string }> {
    const timeout = AbortSignal.timeout(this.options.retry.requestTimeoutMs);
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout;
    const context: Context = {
      request: url,
      options: {
        method: 'GET',
        headers: {
          Accept: 'application/json',
          Prefer: 'include-unknown-enum-members',
          'client-request-id': randomUUID(),
        },
        signal,
      },
      customHosts: this.customHosts,
    };
    try {
      await this.chain.execute(context);
      const response = context.response!;
      return { status: response.status, headers: response.headers, text: await response.text() };
    } catch (error) {
      if (error instanceof GraphAuthenticationError) throw error;
      if (this.options.signal?.aborted) throw this.options.signal.reason;
      const cause = (error as { cause?: { code?: string } }).cause;
      if (cause?.code && isTlsTrustFailure(cause.code)) throw new GraphCertificateError(this.origin, cause.code);
      const reason = timeout.aborted
        ? `no answer within ${this.options.retry.requestTimeoutMs} ms`
        : `${(error as Error).message}${cause?.code ? ` (${cause.code})` : ''}`;
      throw new GraphTransportError(reason, url);
    }
  }
}

class FreshTokenNeeded extends Error {
  constructor(override readonly cause: GraphRequestError) {
    super(cause.message);
  }
}

function parsePage(text: string, url: string): GraphPage {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new GraphTransportError(`Graph sent a body that is not JSON (${text.length} bytes, cut short?)`, url);
  }
  const value = (body as { value?: unknown }).value;
  if (!Array.isArray(value)) throw new GraphTransportError('Graph sent a page without a value array', url);
  const nextLink = (body as Record<string, unknown>)['@odata.nextLink'];
  return { records: value as GraphRecord[], nextLink: typeof nextLink === 'string' && nextLink ? nextLink : undefined };
}

function toGraphError(status: number, headers: Headers, text: string, url: string): GraphRequestError {
  let code = `Http${status}`;
  let message = text.slice(0, 300) || '(empty body)';
  try {
    const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (error?.code) code = error.code;
    if (error?.message) message = error.message;
  } catch {
    // not Graph-shaped: keep the raw text
  }
  return new GraphRequestError(status, code, message, {
    url,
    requestId: headers.get('request-id') ?? undefined,
    retryAfterMs: parseRetryAfter(headers.get('retry-after')),
  });
}

function graphTimeOf(headers: Headers, roundTripMs: number): { graphTime?: string } {
  const date = Date.parse(headers.get('date') ?? '');
  return Number.isNaN(date) ? {} : { graphTime: formatTicks(ticksOfDate(date - roundTripMs - 1000)) };
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export interface ReaderContext {
  pacer: Pacer;
  /** The tenant's credential (src/graph/credential.ts Credentials). */
  credential: RenewableCredential;
  signal?: AbortSignal;
  onRetry?: GraphReaderOptions['onRetry'];
}

/** A reader of one tenant for the configured cloud, with the pacer of the budget it draws on. */
export function createGraphReader(settings: Settings, tenantId: string, context: ReaderContext): GraphReader {
  return new GraphReader({
    graphRoot: settings.graphRoot,
    scope: settings.cloud.scope,
    pacer: context.pacer,
    credential: context.credential,
    retry: settings.graphRetry,
    signal: context.signal,
    onRetry: context.onRetry,
  });
}
