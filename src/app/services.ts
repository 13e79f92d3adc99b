import type { Settings } from '../config/settings';
import { Credentials } from '../graph/credential';
import { createRunQueue, type RunQueue } from '../store/runQueue';
import type { SyncService } from '../sync/service';
import type { AppServices } from './functions';

/**
 * The services of one Functions app instance, built on first use: registering the functions loads no SDK, and a
 * configuration problem that only a run can find (credentials, storage) surfaces in that run's log.
 */
export function lazyServices(settings: Settings): AppServices {
  // One Credentials for the instance: Graph, the Table clients (TABLES_ENDPOINT) and the run queue share it.
  const credentials = new Credentials();
  let sync: SyncService | undefined;
  let queue: { value: RunQueue | undefined } | undefined;
  const service = (): SyncService => {
    // Loaded here, not at the top: the Graph client, the identity and table SDKs are what a cold start pays for.
    const { createSyncService } = require('../sync/service') as typeof import('../sync/service');
    sync ??= createSyncService(settings, { credentials });
    return sync;
  };
  return {
    sync: service,
    readModel: () => service().readModel,
    runQueue: () => (queue ??= { value: createRunQueue(settings, () => credentials.for(settings)) }).value,
  };
}

/** Services that exist already (the CLI's, a test's); `runQueue` for POST /api/runs (none: it answers 503). */
export function fixedServices(sync: SyncService, runQueue?: RunQueue): AppServices {
  return { sync: () => sync, readModel: () => sync.readModel, runQueue: () => runQueue };
}
