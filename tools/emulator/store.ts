import { type CollectionName, COLLECTION_NAMES, type RecordInput, SCHEMAS } from './model.js';
import { normalizeDateTime } from './timestamps.js';

export type StoredRecord = Record<string, unknown> & { id: string };

interface Version {
  record: StoredRecord;
  /** performance.now() from which this version is served. */
  visibleAt: number;
}

export interface UpsertOptions {
  /**
   * Serve this version only after this delay (its timestamps may well be older: Graph surfaces offline detections
   * late). Until then the previous version, if any, is still served.
   */
  visibleAfterMs?: number;
}

/**
 * The tenant's data. Each id keeps a short list of versions so that a late update does not hide the current one;
 * versions older than the newest visible one are dropped.
 */
export class RecordStore {
  private readonly data = new Map<CollectionName, Map<string, Version[]>>(COLLECTION_NAMES.map((c) => [c, new Map()]));

  constructor(private readonly now: () => number = () => performance.now()) {}

  upsert<C extends CollectionName>(collection: C, input: RecordInput<C>, options: UpsertOptions = {}): void {
    const record = normalizeRecord(collection, input);
    const versions = this.map(collection).get(record.id) ?? [];
    versions.push({ record, visibleAt: this.now() + Math.max(0, options.visibleAfterMs ?? 0) });
    this.map(collection).set(record.id, versions);
    this.prune(versions);
  }

  remove(collection: CollectionName, id: string): boolean {
    return this.map(collection).delete(id);
  }

  clear(collection?: CollectionName): void {
    for (const c of collection ? [collection] : COLLECTION_NAMES) this.map(c).clear();
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
    const map = this.data.get(collection);
    if (!map) throw new Error(`Unknown collection '${collection}' (expected ${COLLECTION_NAMES.join(' or ')})`);
    return map;
  }

  private prune(versions: Version[]): void {
    const now = this.now();
    let newestVisible = -1;
    for (let i = 0; i < versions.length; i++) if (versions[i]!.visibleAt <= now) newestVisible = i;
    if (newestVisible > 0) versions.splice(0, newestVisible);
  }
}

/** A private copy with timestamps in Graph's 7-digit UTC form; throws on data a test should not have written. */
function normalizeRecord(collection: CollectionName, input: Record<string, unknown>): StoredRecord {
  if (!input || typeof input !== 'object' || typeof input.id !== 'string' || input.id === '') {
    throw new TypeError(`A ${collection} record needs a non-empty string id`);
  }
  const record = structuredClone(input) as StoredRecord;
  for (const [name, def] of Object.entries(SCHEMAS[collection].properties)) {
    const value = record[name];
    if (def.type !== 'datetime' || value === null || value === undefined) continue;
    const normalized =
      typeof value === 'string' ? normalizeDateTime(value) : value instanceof Date ? normalizeDateTime(value.toISOString()) : undefined;
    if (!normalized) throw new TypeError(`${collection} ${record.id}: ${name} is not a DateTimeOffset: ${String(value)}`);
    record[name] = normalized;
  }
  return record;
}
