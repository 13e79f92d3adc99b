import type { HttpHandler, HttpMethod } from '@azure/functions';
import type { ReadModel } from '../store/readModel';
import { listChanges } from './changes';
import { guarded } from './errors';
import { health } from './health';
import type { LinkOptions } from './links';
import { listCollection } from './list';
import { getHistory, getRecord } from './record';
import { getRun, listRuns, requestRun } from './runs';
import { snapshot } from './snapshot';
import type { RunQueue } from '../store/runQueue';

/** One route of the API; src/app turns it into an HTTP function with its auth level. */
export interface ApiRoute {
  name: string;
  route: string;
  methods: HttpMethod[];
  /**
   * `health` may be opened alone to uptime monitors (HTTP_HEALTH_AUTH_LEVEL); `data` routes carry data (the function
   * key, HTTP_AUTH_LEVEL); `admin` routes start work (POST /api/runs): the admin (master) key only, whatever the settings.
   */
  access: 'data' | 'health' | 'admin';
  handler: HttpHandler;
}

/**
 * The routes of the snapshot API (docs/api.md). They only read, apart from the API's own signing key (see
 * ./continuation.ts), through the read model `model()` gives: built on first use by the composition root.
 */
export function apiRoutes(model: () => ReadModel, links: LinkOptions = {}, runQueue: () => RunQueue | undefined = () => undefined): ApiRoute[] {
  const read: HttpMethod[] = ['GET', 'HEAD'];
  return [
    { name: 'snapshot', route: 'snapshot', methods: read, access: 'data', handler: guarded((request) => snapshot(model(), request)) },
    {
      name: 'snapshotCollection',
      route: 'snapshot/{collection}',
      methods: read,
      access: 'data',
      handler: guarded((request, context) => listCollection(model(), request, context, links)),
    },
    {
      name: 'snapshotRecord',
      route: 'snapshot/{collection}/{id}',
      methods: read,
      access: 'data',
      handler: guarded((request) => getRecord(model(), request)),
    },
    {
      name: 'snapshotHistory',
      route: 'snapshot/{collection}/{id}/history',
      methods: read,
      access: 'data',
      handler: guarded((request) => getHistory(model(), request, links)),
    },
    {
      name: 'changes',
      route: 'changes',
      methods: read,
      access: 'data',
      handler: guarded((request, context) => listChanges(model(), request, context, links)),
    },
    {
      name: 'requestRun',
      route: 'runs',
      methods: ['POST'],
      access: 'admin',
      handler: guarded((request) => requestRun(model(), runQueue(), request, links)),
    },
    { name: 'runs', route: 'runs', methods: read, access: 'data', handler: guarded((request) => listRuns(model(), request)) },
    { name: 'run', route: 'runs/{id}', methods: read, access: 'data', handler: guarded((request) => getRun(model(), request)) },
    { name: 'health', route: 'health', methods: read, access: 'health', handler: guarded((request, context) => health(model(), request, context)) },
  ];
}
