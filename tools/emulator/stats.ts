import type { FaultKind } from './faults.js';
import type { CollectionName } from './model.js';

/** A collection's name, `riskyUsers/history` for the history of any user, or the other listeners and routes. */
export type RouteName = CollectionName | 'riskyUsers/history' | 'token' | 'notFound' | 'admin';

export interface EmulatorStats {
  /** Responses by route and status ('reset' for sockets destroyed by a fault). */
  requests: Partial<Record<RouteName, Record<string, number>>>;
  /** Graph requests that passed the throttle (and consumed the budget). */
  accepted: number;
  /** 429s from the throttle (429s injected as faults count under `faults`). */
  throttled: number;
  /** Faults served, by kind and listener. */
  faults: { graph: Partial<Record<FaultKind, number>>; token: Partial<Record<FaultKind, number>> };
  tokensIssued: number;
  /** Graph requests carrying a `$skiptoken`. */
  nextLinkRequests: number;
  pagesServed: number;
  emptyPagesServed: number;
  /** Next links handed out after a last page that held exactly `$top` records (switch phantomNextLink). */
  phantomNextLinks: number;
  /** Requests that followed a phantom next link (answered 400 with an empty message). */
  phantomNextLinksFollowed: number;
  /** 403s for a licence the tenant lacks, and for a permission the token lacks. */
  unlicensed: number;
  forbidden: number;
}

export interface RequestLogEntry {
  /** ISO time the request arrived. */
  at: string;
  listener: 'graph' | 'token';
  method: string;
  /** Path and query exactly as received. */
  url: string;
  route: RouteName;
  status: number | 'reset';
  fault?: FaultKind;
  prefer?: string;
  clientRequestId?: string;
}

const LOG_LIMIT = 1000;

export class StatsRecorder {
  private data = emptyStats();
  private log: RequestLogEntry[] = [];

  get mutable(): EmulatorStats {
    return this.data;
  }

  response(route: RouteName, status: number | 'reset'): void {
    const byStatus = (this.data.requests[route] ??= {});
    byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1;
  }

  fault(target: 'graph' | 'token', kind: FaultKind): void {
    this.data.faults[target][kind] = (this.data.faults[target][kind] ?? 0) + 1;
  }

  record(entry: RequestLogEntry): void {
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  snapshot(): EmulatorStats {
    return structuredClone(this.data);
  }

  entries(): RequestLogEntry[] {
    return this.log.map((e) => ({ ...e }));
  }

  reset(): void {
    this.data = emptyStats();
    this.log = [];
  }
}

function emptyStats(): EmulatorStats {
  return {
    requests: {},
    accepted: 0,
    throttled: 0,
    faults: { graph: {}, token: {} },
    tokensIssued: 0,
    nextLinkRequests: 0,
    pagesServed: 0,
    emptyPagesServed: 0,
    phantomNextLinks: 0,
    phantomNextLinksFollowed: 0,
    unlicensed: 0,
    forbidden: 0,
  };
}
