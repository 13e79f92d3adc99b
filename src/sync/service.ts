import { loadSettings, type Settings } from '../config/settings';
import { processCredential } from '../graph/credential';
import { createGraphReader } from '../graph/graphReader';
import { describeRetry } from '../graph/retryMessage';
import { createTableClients, type SyncTables } from '../store/tables';
import { COLLECTION_NAMES, type CollectionName } from '../domain/collections';
import { syncCollection, type Logger, type RunOptions, type RunSummary } from './engine';

/** What the timers, the CLI and the HTTP API share in one process: settings, table clients, the Graph pacer. */
export interface SyncService {
  settings: Settings;
  tables: SyncTables;
  run(collection: CollectionName, options: RunOptions, log: Logger): Promise<RunSummary>;
  /** One pass of each collection, concurrently (they share the tenant's request budget). */
  runAll(collections: CollectionName[], options: RunOptions, log: Logger): Promise<RunSummary[]>;
}

export function createSyncService(settings: Settings): SyncService {
  // One credential for the process: the Graph reader's, also for Table Storage when TABLES_ENDPOINT is set.
  const tables = createTableClients(settings, processCredential(settings));
  const run: SyncService['run'] = (collection, options, log) =>
    syncCollection(
      {
        settings,
        tables,
        log,
        createReader: (signal) => createGraphReader(settings, { signal, onRetry: (e) => log.info(describeRetry(collection, e)) }),
      },
      collection,
      options,
    );
  return {
    settings,
    tables,
    run,
    runAll: (collections, options, log) => Promise.all((collections.length ? collections : COLLECTION_NAMES).map((c) => run(c, options, log))),
  };
}

let shared: SyncService | undefined;

/** The process's service, built from the environment on first use (configuration errors surface here). */
export function sharedSyncService(): SyncService {
  shared ??= createSyncService(loadSettings());
  return shared;
}
