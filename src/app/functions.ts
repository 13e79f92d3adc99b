import type { HttpHandler, HttpMethod, InvocationContext, Timer } from '@azure/functions';
import type { Settings } from '../config/settings';
import type { Logger } from '../domain/logger';
import { COMPLETED_OUTCOMES } from '../domain/runs';
import type { ReadModel } from '../store/readModel';
import type { SyncService } from '../sync/service';
import { apiRoutes } from '../api/routes';

/**
 * Every function of the app, as plain data over plain handlers. `functions/index.ts` registers them with the Azure
 * Functions runtime; the local host (`risk-sync serve`, `npm start`) serves the very same list.
 */
export interface TimerFunction {
  kind: 'timer';
  name: string;
  schedule: string;
  /** `signal` is set by the local host (Ctrl+C); the Functions runtime passes none. */
  handler: (timer: Timer, context: InvocationContext, signal?: AbortSignal) => Promise<void>;
}

export interface HttpFunction {
  kind: 'http';
  name: string;
  route: string;
  methods: HttpMethod[];
  authLevel: 'anonymous' | 'function' | 'admin';
  handler: HttpHandler;
}

export type FunctionDefinition = TimerFunction | HttpFunction;

/** What the handlers need, built by the composition root on first use (nothing heavy loads with the registrations). */
export interface AppServices {
  sync(): SyncService;
  readModel(): ReadModel;
}

export function contextLogger(context: InvocationContext): Logger {
  return { info: (...a) => context.info(...a), warn: (...a) => context.warn(...a), error: (...a) => context.error(...a) };
}

/** The name of the one timer function. */
export const SYNC_TIMER = 'sync';

/**
 * ONE timer for every collection: each tick runs the collections whose own schedule has come round, in one process
 * under one pacer. (On Flex Consumption every non-HTTP function scales on its own instances: two timer functions would
 * not share the pacer, and together could exceed the tenant's 1 request/s.)
 */
function syncTimer(settings: Settings, services: AppServices): TimerFunction {
  return {
    kind: 'timer',
    name: SYNC_TIMER,
    schedule: settings.timerSchedule,
    handler: async (timer, context, signal) => {
      const sync = services.sync();
      const log = contextLogger(context);
      // The local host's first sync at start (`--sync-now`) runs every collection; a tick, the ones that are due.
      const everything = (timer as Timer & { runAll?: boolean }).runAll === true;
      const due = everything ? [] : await sync.due(); // runAll([]) runs every collection
      if (!everything && due.length === 0) return;
      const summaries = await sync.runAll(
        due,
        { trigger: timer.isPastDue ? 'timer-past-due' : 'timer', timeBudgetMs: settings.timeBudgetSeconds * 1000, signal },
        log,
      );
      // A skip (another run holds the lease), a partial run and a collection the tenant lacks the licence for are fine.
      const failed = summaries.filter((s) => s.outcome === 'failed' && !COMPLETED_OUTCOMES.includes(s.outcome));
      if (failed.length > 0) throw new Error(failed.map((s) => `${s.collection} sync failed: ${s.error}`).join('; '));
    },
  };
}

/** The API's routes as HTTP functions, with their auth levels. */
export function httpFunctions(settings: Settings, services: AppServices): HttpFunction[] {
  return apiRoutes(() => services.readModel(), { publicBaseUrl: settings.apiPublicBaseUrl }).map((route): HttpFunction => ({
    kind: 'http',
    name: route.name,
    route: route.route,
    methods: route.methods,
    authLevel: route.access === 'health' ? settings.healthAuthLevel : settings.httpAuthLevel,
    handler: route.handler,
  }));
}

export function buildFunctions(settings: Settings, services: AppServices): FunctionDefinition[] {
  return [syncTimer(settings, services), ...httpFunctions(settings, services)];
}
