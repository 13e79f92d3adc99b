import type { HttpHandler, HttpMethod, InvocationContext, Timer } from '@azure/functions';
import type { Settings } from '../config/settings';
import { COLLECTION_NAMES, type CollectionName } from '../domain/collections';
import type { Logger } from '../sync/engine';
import { sharedSyncService, type SyncService } from '../sync/service';
import { httpFunctions } from '../api/routes';

/**
 * Every function of the app, as plain data over plain handlers. `functions/index.ts` registers them with the Azure
 * Functions runtime; the local host (`risk-sync serve`, `npm start`) serves the very same list.
 */
export interface TimerFunction {
  kind: 'timer';
  name: string;
  schedule: string;
  handler: (timer: Timer, context: TimerContext) => Promise<void>;
}

/** The local host adds `signal`: aborted when the host stops (Ctrl+C), the run then checkpoints and ends. */
export type TimerContext = InvocationContext & { signal?: AbortSignal };

export interface HttpFunction {
  kind: 'http';
  name: string;
  route: string;
  methods: HttpMethod[];
  authLevel: 'anonymous' | 'function' | 'admin';
  handler: HttpHandler;
}

export type FunctionDefinition = TimerFunction | HttpFunction;

export function contextLogger(context: InvocationContext): Logger {
  return { info: (...a) => context.info(...a), warn: (...a) => context.warn(...a), error: (...a) => context.error(...a) };
}

export function timerFunctionName(collection: CollectionName): string {
  return `sync${collection[0]!.toUpperCase()}${collection.slice(1)}`;
}

function timerFunction(settings: Settings, collection: CollectionName, service: () => SyncService): TimerFunction {
  return {
    kind: 'timer',
    name: timerFunctionName(collection),
    schedule: settings.collections[collection].schedule,
    handler: async (timer, context) => {
      const sync = service();
      const summary = await sync.run(
        collection,
        { trigger: timer.isPastDue ? 'timer-past-due' : 'timer', timeBudgetMs: sync.settings.timeBudgetSeconds * 1000, signal: context.signal },
        contextLogger(context),
      );
      if (summary.outcome === 'failed') throw new Error(`${collection} sync failed: ${summary.error}`);
    },
  };
}

/** `service` gives the handlers their settings and table clients: in Azure the process's, built from app settings. */
export function buildFunctions(settings: Settings, service: () => SyncService = sharedSyncService): FunctionDefinition[] {
  return [...COLLECTION_NAMES.map((c) => timerFunction(settings, c, service)), ...httpFunctions(settings, service)];
}
