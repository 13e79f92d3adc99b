import type { Clock } from '../domain/clock';
import type { CollectionStatus, ReadModel } from '../store/readModel';

/**
 * How long one API process answers from what it read last (ms): the collections' state (/api/snapshot,
 * /api/health) and the JSON pages of the lists. Under load those reads are most of a request's time and most of the
 * storage account's work. The data is written by the sync (other processes), so a cached copy is at most this much
 * behind what the tables hold, plus the time one read takes (see RefreshingCache): as if the request had come that
 * much earlier. Nothing the API decides depends on sub-second freshness (staleness is counted in schedule intervals,
 * minutes), and an ETag seen by a client changes at most that much later than the state.
 */
export const STATE_CACHE_MS = 1000;

/**
 * How long after its last read came back an entry is still answered from at once, while a refresh starts (ms). Under
 * steady load entries are refreshed every STATE_CACHE_MS, and a caller that polls less often than this finds its entry
 * older: it waits for a fresh read, so a monitor polling every minute sees what the tables hold (when it is alone; with
 * other callers, a copy whose read came back less than this ago). Counted from when the read came back, not from when
 * it began: after a read that took longer than this (storage slow to answer), a new read would bring a value no
 * fresher by the time it came, only later.
 */
export const MAX_STALE_MS = 10_000;

/**
 * The oldest value a request is answered from at once (ms, from when its read began): storage is slow to answer when
 * reads take long (a sync writing hard into the same account), and requests are answered at once instead of queueing
 * behind it. The value ages to about twice the time one read takes; a read out longer than this is taken for hung.
 */
export const MAX_STALE_WHILE_READING_MS = 60_000;

interface Entry<T> {
  /** When the read that gave `value` started. */
  at: number;
  /** When that read came back. */
  settledAt: number;
  value?: T;
  /** The read in flight (the first one, or a refresh), and when it started. */
  reading?: Promise<T>;
  readingSince?: number;
}

/**
 * Values read at most `ttlMs` ago by `clock`, by key. A request that finds its entry older shares one refresh:
 * it gets the value the entry holds while the refresh runs (so no request waits on storage once a key is warm, and
 * p99 latency is not the latency of the one read per second), as long as that value is younger than
 * `maxStaleWhileReadingMs` and either a refresh has been reading for less than `maxStaleWhileReadingMs` or the last
 * read came back less than `maxStaleMs` ago. A request with nothing to serve waits on the read in flight, and so do
 * the requests after it until that read is done. A failed read is not kept: the entry is dropped, and the next
 * request reads again (and fails as storage does). A read out longer than `maxStaleWhileReadingMs` is not
 * waited for (a connection that hangs): the next request starts another. At most `maxEntries` keys, the least recently
 * read go.
 */
export class RefreshingCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly maxStaleMs: number;
  private readonly maxStaleWhileReadingMs: number;

  constructor(
    private readonly ttlMs: number,
    private readonly clock: Clock,
    private readonly options: { maxStaleMs?: number; maxStaleWhileReadingMs?: number; maxEntries?: number } = {},
  ) {
    this.maxStaleMs = options.maxStaleMs ?? MAX_STALE_MS;
    this.maxStaleWhileReadingMs = Math.max(this.maxStaleMs, options.maxStaleWhileReadingMs ?? MAX_STALE_WHILE_READING_MS);
  }

  get(key: string, read: () => Promise<T>): Promise<T> {
    const now = this.clock.now();
    let entry = this.entries.get(key);
    const age = entry?.value === undefined ? Infinity : now - entry.at;
    if (entry && age >= 0 && age < this.ttlMs) return Promise.resolve(entry.value!);
    const readingFor = entry?.reading ? now - entry.readingSince! : Infinity;
    const reading = readingFor >= 0 && readingFor < this.maxStaleWhileReadingMs ? entry!.reading : undefined;
    const sinceSettled = entry?.value === undefined ? Infinity : now - entry.settledAt;
    if (entry && age >= 0 && age < this.maxStaleWhileReadingMs && (reading || (sinceSettled >= 0 && sinceSettled < this.maxStaleMs))) {
      if (!reading) this.refresh(key, entry, read, now);
      return Promise.resolve(entry.value!);
    }
    if (reading) return reading;
    if (!entry || age < 0) this.remember(key, (entry = { at: now, settledAt: now }));
    // Too old to answer from: the requests that come while this one reads wait for its read too.
    else entry.value = undefined;
    return this.refresh(key, entry, read, now);
  }

  private refresh(key: string, entry: Entry<T>, read: () => Promise<T>, startedAt: number): Promise<T> {
    const reading = read().then(
      (value) => {
        if (this.entries.get(key) === entry && (entry.value === undefined || startedAt >= entry.at)) {
          entry.value = value;
          entry.at = startedAt;
          entry.settledAt = this.clock.now();
          this.remember(key, entry);
        }
        if (entry.reading === reading) entry.reading = undefined;
        return value;
      },
      (error: unknown) => {
        if (this.entries.get(key) === entry && entry.reading === reading) this.entries.delete(key);
        throw error;
      },
    );
    entry.reading = reading;
    entry.readingSince = startedAt;
    // A refresh nobody waits for must not be an unhandled rejection; the request that started a first read gets it.
    reading.catch(() => undefined);
    return reading;
  }

  private remember(key: string, entry: Entry<T>): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    const max = this.options.maxEntries ?? 256;
    while (this.entries.size > max) this.entries.delete(this.entries.keys().next().value!);
  }
}

/**
 * A read model whose status() and cached() answer from a RefreshingCache of `ttlMs` (see STATE_CACHE_MS); everything
 * else is the model's own. With `ttlMs` 0 the model itself: every request reads the tables.
 */
export function cachingStatus(model: ReadModel, ttlMs: number, clock: Clock): ReadModel {
  if (ttlMs <= 0) return model;
  const statuses = new RefreshingCache<CollectionStatus>(ttlMs, clock);
  // JSON list pages: up to about 2 MB each (top <= 1000; names outside Latin-1 double a string's bytes); 64 of them
  // bound the memory to about 128 MB.
  const pages = new RefreshingCache<unknown>(ttlMs, clock, { maxEntries: 64 });
  return Object.create(model, {
    status: { value: (collection: string) => statuses.get(collection, () => model.status(collection, clock.now())) },
    cached: { value: <T>(key: string, read: () => Promise<T>) => pages.get(key, read) as Promise<T> },
  }) as ReadModel;
}
