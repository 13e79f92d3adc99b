import type { HttpHandler, HttpMethod } from '@azure/functions';
import type { ReadModel } from '../store/readModel';
import { guarded } from './errors';
import type { LinkOptions } from './links';
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
    {
      name: 'snapshot',
      route: 'snapshot',
      methods: read,
      access: 'data',
      handler: guarded((request) => handlers.snapshot().snapshot(model(), request)),
    },
    {
      name: 'snapshotCollection',
      route: 'snapshot/{collection}',
      methods: read,
      access: 'data',
      handler: guarded((request, context) => handlers.list().listCollection(model(), request, context, links)),
    },
    {
      name: 'snapshotRecord',
      route: 'snapshot/{collection}/{id}',
      methods: read,
      access: 'data',
      handler: guarded((request) => handlers.record().getRecord(model(), request)),
    },
    {
      name: 'snapshotHistory',
      route: 'snapshot/{collection}/{id}/history',
      methods: read,
      access: 'data',
      handler: guarded((request) => handlers.record().getHistory(model(), request, links)),
    },
    {
      name: 'changes',
      route: 'changes',
      methods: read,
      access: 'data',
      handler: guarded((request, context) => handlers.changes().listChanges(model(), request, context, links)),
    },
    {
      name: 'requestRun',
      route: 'runs',
      methods: ['POST'],
      access: 'admin',
      handler: guarded((request) => handlers.runs().requestRun(model(), runQueue(), request, links)),
    },
    { name: 'runs', route: 'runs', methods: read, access: 'data', handler: guarded((request) => handlers.runs().listRuns(model(), request)) },
    { name: 'run', route: 'runs/{id}', methods: read, access: 'data', handler: guarded((request) => handlers.runs().getRun(model(), request)) },
    {
      name: 'health',
      route: 'health',
      methods: read,
      access: 'health',
      handler: guarded((request, context) => handlers.health().health(model(), request, context)),
    },
  ];
}

/**
 * Each route's module loads on its first request, not with the registrations: a Functions instance that only runs
 * the timer never loads the API's modules nor what they use (the Table SDK's query helpers, the CSV writer, the
 * schemas), and an instance that serves one route loads that route's. (require caches: the cost is paid once.)
 */
const handlers = {
  snapshot: () => require('./snapshot') as typeof import('./snapshot'),
  list: () => require('./list') as typeof import('./list'),
  record: () => require('./record') as typeof import('./record'),
  changes: () => require('./changes') as typeof import('./changes'),
  health: () => require('./health') as typeof import('./health'),
  runs: () => require('./runs') as typeof import('./runs'),
};
