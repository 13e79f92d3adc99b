/**
 * The emulator's public shape: what `startGraphEmulator` accepts and returns. In a module of its own so that the parts
 * that drive an emulator (admin routes, the data activity) depend on this interface, not on the server.
 */
import type { CollectionSpec } from './collections.js';
import type { FaultController } from './faults.js';
import type { UnlicensedCode } from './licence.js';
import type { ApiVersion, CollectionName, CollectionSchema, Licence, RecordFor, RecordInput, RiskyUserHistoryItem } from './model.js';
import type { EmulatorStats, RequestLogEntry } from './stats.js';
import type { UpsertOptions } from './store.js';
import type { ThrottlingSettings } from './throttle.js';

/** Run-time switches (also settable at start through GraphEmulatorOptions, and over HTTP: POST /_emulator/settings). */
export interface GraphEmulatorSettings {
  /** Probability that a page with records left is served empty, with a next link (default 0). */
  emptyPageProbability: number;
  /** Lifetime of a `$skiptoken` (default 10 minutes). */
  skipTokenTtlMs: number;
  /** A quoted datetime against a datetime property: matches nothing (default) or answers 400. */
  quotedDateTime: 'matchNothing' | 'badRequest';
  /** Reproduce the reported quirk where `gt` on a timestamp returns the boundary record too (default false). */
  gtIncludesBoundary: boolean;
  /**
   * The tenant's licence (default P2). Without P2, riskyUsers and its history answer 403; with `none`, riskDetections
   * too; P1 tenants get premium detections as `generic` with riskLevel and riskDetail `hidden`.
   */
  licence: Licence;
  /** The code of the licence 403s (default Authentication_RequestFromNonPremiumTenantOrB2CTenant). */
  unlicensedCode: UnlicensedCode;
  /** The application permissions the caller's tokens carry (default both Identity Protection read permissions). */
  permissions: string[];
  /** A last page holding exactly `$top` records still has a next link, which answers 400 with an empty message. */
  phantomNextLink: boolean;
  /** riskyUsers/{id}/history returns the current item only (microsoftgraph/microsoft-graph-docs#16407). */
  historyOnlyCurrent: boolean;
}

export interface GraphEmulatorOptions extends Partial<GraphEmulatorSettings> {
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
  /** Where the TLS certificate lives (default .local/emulator under the working directory). */
  certificateDir?: string;
  /** Collections to serve besides riskDetections and riskyUsers (see defineCollection). */
  collections?: readonly CollectionSpec[];
}

export interface ListOptions {
  /** Only what Graph serves now (default false: the newest version of every record, visible or not yet). */
  visibleOnly?: boolean;
  /** Shape of the records (default v1.0; beta adds its extra properties). */
  version?: ApiVersion;
  /**
   * As the tenant's licence shows them (on P1: premium detections `generic` with riskLevel and riskDetail `hidden`),
   * for comparing with what a sync stored. Default false: the data as upserted, fit for read-modify-write.
   */
  asServed?: boolean;
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

  /**
   * Serves one more collection, with the same paging, filtering, throttling (the tenant's one budget), licence and
   * permission checks and faults as the built-in ones. Throws a RangeError naming the problem for a bad spec.
   */
  defineCollection(spec: CollectionSpec): CollectionSchema;
  /** The collections served, built-in ones first. */
  collections(): CollectionSchema[];

  /**
   * Adds or replaces records (by id). Missing properties are served as null. A riskyUsers version whose risk changed
   * appends a history item (see UpsertOptions.history).
   */
  upsert<C extends CollectionName>(collection: C, records: RecordInput<C> | readonly RecordInput<C>[], options?: UpsertOptions): void;
  /** Removes a record (a risky user's history with it). */
  remove(collection: CollectionName, id: string): boolean;
  clear(collection?: CollectionName): void;
  /**
   * Records as Graph returns them with `Prefer: include-unknown-enum-members` (raw enum values), every property of
   * the version present. Timestamps in the normalized 7-digit form (`2026-01-01T00:00:00.0000000Z`); on the wire
   * Graph trims the trailing zeros. See ListOptions.asServed for the licence's view.
   */
  list<C extends CollectionName>(collection: C, options?: ListOptions): RecordFor<C>[];
  get<C extends CollectionName>(collection: C, id: string, options?: ListOptions): RecordFor<C> | undefined;
  /**
   * A risky user's history as `/riskyUsers/{id}/history` serves it (current item first, historyOnlyCurrent applied),
   * in list()'s form; undefined for a user Graph would answer 404 for.
   */
  history(userId: string, options?: ListOptions): RiskyUserHistoryItem[] | undefined;

  setThrottling(settings: Partial<ThrottlingSettings>): void;
  readonly throttling: ThrottlingSettings;
  /** Changes switches; throws a RangeError naming the bad value (nothing is changed then). */
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
