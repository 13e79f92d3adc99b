import { randomBytes } from 'node:crypto';
import type { FilterPredicate } from './filter.js';
import type { ApiVersion } from './model.js';
import type { StoredRecord } from './store.js';

/** A query whose first page has been served: the shuffled ids that matched then, and how to re-check them. */
export interface QueryState {
  /** What was listed: a collection's name, or `riskyUsers/{id}/history`; a token is refused elsewhere. */
  source: string;
  version: ApiVersion;
  ids: readonly string[];
  predicate: FilterPredicate;
  /** The record served now for an id, re-read for every page. */
  read: (id: string) => StoredRecord | undefined;
  select: readonly string[] | undefined;
  top: number;
  /** The first request's query options (encoded, without `$skiptoken`), repeated in next links. */
  linkQuery: string;
}

export interface Cursor {
  query: QueryState;
  position: number;
  /**
   * A next link handed out after the last page although nothing is left (microsoftgraph/microsoft-graph-docs#16332):
   * following it answers 400 with an empty message.
   */
  phantom?: boolean;
}

/**
 * Server-side paging state behind opaque `$skiptoken`s. A token is a random id that names a (query, position)
 * pair, so it can be requested again (a client retrying a failed next link gets the same page) until it expires.
 */
export class SkipTokens {
  private readonly cursors = new Map<string, Cursor & { expiresAt: number }>();

  constructor(private ttlMs: number) {}

  issue(cursor: Cursor): string {
    this.dropExpired();
    const token = randomBytes(18).toString('base64url');
    this.cursors.set(token, { ...cursor, expiresAt: performance.now() + this.ttlMs });
    return token;
  }

  /** The cursor of a live token, undefined if the token is unknown, forged or expired. */
  resolve(token: string): Cursor | undefined {
    this.dropExpired();
    return this.cursors.get(token);
  }

  expireAll(): void {
    this.cursors.clear();
  }

  setTtl(ttlMs: number): void {
    this.ttlMs = ttlMs;
  }

  private dropExpired(): void {
    const now = performance.now();
    for (const [token, cursor] of this.cursors) if (cursor.expiresAt <= now) this.cursors.delete(token);
  }
}
