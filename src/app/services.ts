import type { Settings } from '../config/settings';
import { systemClock } from '../domain/clock';
import type { Credentials } from '../graph/credential';
import type { ReadModel } from '../store/readModel';
import type { RunQueue } from '../store/runQueue';
import type { SyncTables } from '../store/tables';
import type { SyncService } from '../sync/service';
import type { AppServices } from './functions';
import { cachingStatus, STATE_CACHE_MS } from './stateCache';

/**
 * The services of one Functions app instance, built on first use: registering the functions loads no SDK, and a
 * configuration problem that only a run can find (credentials, storage) surfaces in that run's log.
 *
 * The modules are loaded here, not at the top: the Graph client, the identity and Table SDKs are what a cold start
 * pays for. The API needs only the tables (and, with TABLES_ENDPOINT, the credential), so an instance that serves
 * HTTP never loads the sync engine nor the Graph client; the timer's first run builds the sync service on the same
 * tables and credential.
 */
export function lazyServices(settings: Settings): AppServices {
  let credentials: Credentials | undefined;
  let tables: SyncTables | undefined;
  let readModel: ReadModel | undefined;
  let sync: SyncService | undefined;
  let queue: { value: RunQueue | undefined } | undefined;
  // One Credentials for the instance: Graph, the Table clients (TABLES_ENDPOINT) and the run queue share it.
  const processCredentials = (): Credentials => {
    const { Credentials } = require('../graph/credential') as typeof import('../graph/credential');
    return (credentials ??= new Credentials());
  };
  const processTables = (): SyncTables => {
    const { createTableClients } = require('../store/tables') as typeof import('../store/tables');
    return (tables ??= createTableClients(settings, processCredentials().for(settings)));
  };
  return {
    sync: () => {
      const { createSyncService } = require('../sync/service') as typeof import('../sync/service');
      return (sync ??= createSyncService(settings, { credentials: processCredentials(), tables: processTables() }));
    },
    readModel: () => {
      if (readModel) return readModel;
      const { createReadModel } = require('../store/readModel') as typeof import('../store/readModel');
      return (readModel = cachingStatus(createReadModel(settings, processTables(), settings.tenantId, systemClock), STATE_CACHE_MS, systemClock));
    },
    runQueue: () => {
      if (queue) return queue.value;
      const { createRunQueue } = require('../store/runQueue') as typeof import('../store/runQueue');
      return (queue = { value: createRunQueue(settings, () => processCredentials().for(settings)) }).value;
    },
  };
}

/**
 * Services that exist already (the CLI's, a test's). `stateCacheMs`: the API answers from the state it read at most
 * that long ago (see STATE_CACHE_MS; the local host uses it as Azure does, tests read the table every time).
 * `runQueue`: for POST /api/runs (none: it answers 503).
 */
export function fixedServices(sync: SyncService, options: { stateCacheMs?: number; runQueue?: RunQueue } = {}): AppServices {
  const readModel = cachingStatus(sync.readModel, options.stateCacheMs ?? 0, systemClock);
  return { sync: () => sync, readModel: () => readModel, runQueue: () => options.runQueue };
}
