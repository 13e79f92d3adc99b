import type { CollectionName, CollectionSchema } from './model.js';
import { normalizeDateTime } from './timestamps.js';

export type StoredRecord = Record<string, unknown> & { id: string };

interface Version {
  record: StoredRecord;
  /** performance.now() from which this version is served. */
  visibleAt: number;
}

/** What changed a risky user's risk, for the history item an upsert appends (see HistoryStore). */
export interface HistoryNote {
  /** The actor's object id (an admin, the user themself); null or absent when Identity Protection changed the risk. */
  initiatedBy?: string | null;
  /** The detections behind the change (`activity.riskEventTypes`). */
  riskEventTypes?: readonly string[];
  /** `activity.detail` (default: the new riskDetail, or null when it is `none`). */
  detail?: string | null;
}

export interface UpsertOptions {
  /**
   * Serve this version only after this delay (its timestamps may well be older: Graph surfaces offline detections
   * late). Until then the previous version, if any, is still served.
   */
  visibleAfterMs?: number;
  /**
   * riskyUsers only: the history item this version appends when its risk changed (riskLevel, riskState or
   * riskDetail; a user's first version always counts). With a note, an item is appended even if the risk values are
   * the same (a new detection at the same level); `false` appends nothing.
   */
  history?: HistoryNote | false;
}

/**
 * The tenant's data. Each id keeps a short list of versions so that a late update does not hide the current one;
 * versions older than the newest visible one are dropped.
 */
export class RecordStore {
  private readonly data = new Map<CollectionName, Map<string, Version[]>>();

  constructor(
    private readonly schemaOf: (collection: CollectionName) => CollectionSchema,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Stores a version; returns the normalized record, when it becomes visible and the newest version it follows. */
  upsert(
    collection: CollectionName,
    input: Record<string, unknown>,
    options: UpsertOptions = {},
  ): { record: StoredRecord; visibleAt: number; previous?: StoredRecord } {
    const record = normalizeRecord(this.schemaOf(collection), input);
    const map = this.map(collection);
    const versions = map.get(record.id) ?? [];
    const previous = versions[versions.length - 1]?.record;
    const visibleAt = this.now() + Math.max(0, options.visibleAfterMs ?? 0);
    versions.push({ record, visibleAt });
    map.set(record.id, versions);
    this.prune(versions);
    return { record, visibleAt, ...(previous && { previous }) };
  }

  remove(collection: CollectionName, id: string): boolean {
    return this.map(collection).delete(id);
  }

  clear(collection?: CollectionName): void {
    if (collection !== undefined) this.map(collection).clear();
    else this.data.clear();
  }

  /** The version Graph serves now, if any. */
  visible(collection: CollectionName, id: string): StoredRecord | undefined {
    const versions = this.map(collection).get(id);
    if (!versions) return undefined;
    this.prune(versions);
    const now = this.now();
    for (let i = versions.length - 1; i >= 0; i--) if (versions[i]!.visibleAt <= now) return versions[i]!.record;
    return undefined;
  }

  /** The newest version, visible or not: what Graph will serve once everything has surfaced. */
  latest(collection: CollectionName, id: string): StoredRecord | undefined {
    const versions = this.map(collection).get(id);
    return versions?.[versions.length - 1]?.record;
  }

  ids(collection: CollectionName): string[] {
    return [...this.map(collection).keys()];
  }

  size(collection: CollectionName): number {
    return this.map(collection).size;
  }

  private map(collection: CollectionName): Map<string, Version[]> {
    let map = this.data.get(collection);
    if (!map) {
      this.schemaOf(collection); // throws for a collection that was never defined
      this.data.set(collection, (map = new Map()));
    }
    return map;
  }

  private prune(versions: Version[]): void {
    const now = this.now();
    let newestVisible = -1;
    for (let i = 0; i < versions.length; i++) if (versions[i]!.visibleAt <= now) newestVisible = i;
    if (newestVisible > 0) versions.splice(0, newestVisible);
  }
}

/** A private copy with timestamps in the normalized 7-digit UTC form; throws on data a test should not have written. */
export function normalizeRecord(schema: CollectionSchema, input: Record<string, unknown>): StoredRecord {
  if (!input || typeof input !== 'object' || typeof input.id !== 'string' || input.id === '') {
    throw new TypeError(`A ${schema.name} record needs a non-empty string id`);
  }
  const record = structuredClone(input) as StoredRecord;
  for (const [name, def] of Object.entries(schema.properties)) {
    const value = record[name];
    if (def.type !== 'datetime' || value === null || value === undefined) continue;
    const normalized =
      typeof value === 'string' ? normalizeDateTime(value) : value instanceof Date ? normalizeDateTime(value.toISOString()) : undefined;
    if (!normalized) throw new TypeError(`${schema.name} ${record.id}: ${name} is not a DateTimeOffset: ${String(value)}`);
    record[name] = normalized;
  }
  return record;
}
