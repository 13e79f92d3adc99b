import type { Clock } from '../domain/clock';
import type { CollectionStatus, ReadModel } from '../store/readModel';

/**
 * How long one API process answers from the collections' state it read last (ms). /api/snapshot and /api/health read
 * one SyncState row per collection on every request; under load that is most of their time and most of the storage
 * account's work. The state is written by the sync (other processes), so a cached copy is at most this much behind
 * what the table holds: as if the request had come this much earlier. Nothing the API decides depends on sub-second
 * freshness (staleness is counted in schedule intervals, minutes), and an ETag seen by a client changes at most this
 * much later than the state.
 */
export const STATE_CACHE_MS = 1000;

/**
 * A read model whose status() reads each collection's state at most once per `ttlMs`: concurrent requests share
 * the read in flight, a failed read is not kept (the next request reads again), and an entry older than `ttlMs` by
 * `clock` is read again. Everything else is the model's own.
 */
export function cachingStatus(model: ReadModel, ttlMs: number, clock: Clock): ReadModel {
  if (ttlMs <= 0) return model;
  const entries = new Map<string, { at: number; status: Promise<CollectionStatus> }>();
  return Object.create(model, {
    status: {
      value: (collection: string): Promise<CollectionStatus> => {
        const now = clock.now();
        const cached = entries.get(collection);
        if (cached && now - cached.at < ttlMs && now >= cached.at) return cached.status;
        const status = model.status(collection, now);
        entries.set(collection, { at: now, status });
        status.catch(() => {
          if (entries.get(collection)?.status === status) entries.delete(collection);
        });
        return status;
      },
    },
  }) as ReadModel;
}
