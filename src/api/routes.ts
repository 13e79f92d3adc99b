import type { Settings } from '../config/settings';
import type { HttpFunction } from '../app/functions';
import { sharedSyncService, type SyncService } from '../sync/service';
import { guarded } from './errors';
import { health } from './health';
import { listCollection } from './list';
import { snapshot } from './snapshot';

/**
 * The HTTP functions of the snapshot API (docs/api.md). They only read, apart from the API's own signing key
 * (see ./continuation.ts). `service` is how a handler reaches the tables: the process's shared service in Azure and
 * under `risk-sync serve`; tests pass their own.
 */
export function httpFunctions(settings: Settings, service: () => SyncService = sharedSyncService): HttpFunction[] {
  const common = { kind: 'http', methods: ['GET', 'HEAD'], authLevel: settings.httpAuthLevel } as const;
  return [
    { ...common, methods: [...common.methods], name: 'snapshot', route: 'snapshot', handler: guarded((request) => snapshot(service(), request)) },
    {
      ...common,
      methods: [...common.methods],
      name: 'snapshotCollection',
      route: 'snapshot/{collection}',
      handler: guarded((request, context) => listCollection(service(), request, context)),
    },
    {
      ...common,
      methods: [...common.methods],
      name: 'health',
      route: 'health',
      authLevel: settings.httpHealthAuthLevel,
      handler: guarded((request, context) => health(service(), request, context)),
    },
  ];
}
