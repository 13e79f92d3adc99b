import type { Settings } from '../config/settings';
import type { SyncService } from '../sync/service';
import type { AppServices } from './functions';

/**
 * The services of one Functions app instance, built on first use: registering the functions loads no SDK, and a
 * configuration problem that only a run can find (credentials, storage) surfaces in that run's log.
 */
export function lazyServices(settings: Settings): AppServices {
  let sync: SyncService | undefined;
  const service = (): SyncService => {
    // Loaded here, not at the top: the Graph client, the identity and table SDKs are what a cold start pays for.
    const { createSyncService } = require('../sync/service') as typeof import('../sync/service');
    sync ??= createSyncService(settings);
    return sync;
  };
  return { sync: service, readModel: () => service().readModel };
}

/** Services that exist already (the CLI's, a test's). */
export function fixedServices(sync: SyncService): AppServices {
  return { sync: () => sync, readModel: () => sync.readModel };
}
