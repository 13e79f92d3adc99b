import type { HttpHandler, HttpMethod, InvocationContext, Timer } from '@azure/functions';
import type { Settings } from '../config/settings';
import type { Logger } from '../domain/logger';
import { afterParent, COMPLETED_OUTCOMES, type RunSummary } from '../domain/runs';
import type { ReadModel } from '../store/readModel';
import type { RunQueue, RunRequest } from '../store/runQueue';
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

/** A Storage queue trigger: `queueSetting` names the app setting that holds the queue's name (`%RUNS_QUEUE%` in Azure). */
export interface QueueFunction {
  kind: 'queue';
  name: string;
  queueSetting: string;
  /** The queue's name as this process's settings give it (what the local host polls). */
  queueName: string;
  /** The app-setting prefix of the identity-based connection (`RunsQueue__queueServiceUri`, ...), set by infra/. */
  connection: string;
  /** `message`: the decoded message, as the Functions worker hands it over (a JSON message already parsed). */
  handler: (message: unknown, context: InvocationContext, signal?: AbortSignal) => Promise<void>;
}

export type FunctionDefinition = TimerFunction | HttpFunction | QueueFunction;

/** What the handlers need, built by the composition root on first use (nothing heavy loads with the registrations). */
export interface AppServices {
  sync(): SyncService;
  readModel(): ReadModel;
  /** The queue POST /api/runs sends to; undefined when no queue service is configured (the POST then answers 503). */
  runQueue?(): RunQueue | undefined;
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
  const links = { publicBaseUrl: settings.apiPublicBaseUrl };
  const authLevel = { health: settings.healthAuthLevel, data: settings.httpAuthLevel, admin: 'admin' } as const;
  return apiRoutes(
    () => services.readModel(),
    links,
    () => services.runQueue?.(),
  ).map((route): HttpFunction => ({
    kind: 'http',
    name: route.name,
    route: route.route,
    methods: route.methods,
    authLevel: authLevel[route.access],
    handler: route.handler,
  }));
}

/** The name of the queue function that makes the runs POST /api/runs asked for. */
export const RUN_REQUESTS = 'runRequests';

/**
 * The queue function of POST /api/runs: makes the requested runs with the ids the POST answered (trigger `api`).
 * Collections of different families run concurrently (they share the pacer, as the timer's do); a parent before its
 * children. A run id that has a SyncRuns row already was tried by an earlier delivery of this message (the instance
 * died, the message came back): it is not run again, so an id names one run. A failed run is in SyncRuns and the log;
 * the message is not retried for it (a retry could only repeat the ids). A malformed message throws: after the
 * trigger's retries it rests in the poison queue.
 */
function runRequests(settings: Settings, services: AppServices): QueueFunction {
  return {
    kind: 'queue',
    name: RUN_REQUESTS,
    queueSetting: 'RUNS_QUEUE',
    queueName: settings.runsQueue,
    connection: 'RunsQueue',
    handler: async (message, context, signal) => {
      // Loaded with the first message, not with the registrations (the queue and Table SDKs, the message schema).
      const { issuedAt, parseRunRequest } = require('../store/runQueue') as typeof import('../store/runQueue');
      const { findRun } = require('../store/syncRuns') as typeof import('../store/syncRuns');
      const request = parseRunRequest(message);
      const sync = services.sync();
      const log = contextLogger(context);
      const unknown = request.runs.filter((r) => !settings.catalog.get(r.collection));
      if (unknown.length > 0) {
        throw new Error(`the run request names collections this deployment does not sync: ${unknown.map((r) => r.collection).join(', ')}`);
      }
      await Promise.all(
        families(settings, request).map(async (family) => {
          const done = new Map<string, RunSummary>();
          for (const { collection, runId } of family) {
            if (await findRun(sync.tables.runs, sync.tenantId, [collection], runId, issuedAt(runId))) {
              log.warn(`${collection}: run ${runId} was started by an earlier delivery of its request: not run again`);
              continue;
            }
            const options = {
              trigger: 'api',
              full: request.full,
              sweep: request.sweep,
              runId,
              timeBudgetMs: settings.timeBudgetSeconds * 1000,
              signal,
            };
            const parent = done.get(settings.catalog.get(collection)?.parent?.collection ?? '');
            const summary = await sync.run(collection, parent ? afterParent(parent, options) : options, log);
            done.set(collection, summary);
            if (summary.outcome === 'failed') log.error(`${collection} run ${runId} (requested by POST /api/runs) failed: ${summary.error}`);
          }
        }),
      );
    },
  };
}

/** The request's runs grouped by top-level collection, each group in the request's order (a parent first). */
function families(settings: Settings, request: RunRequest): RunRequest['runs'][] {
  const rootOf = (name: string): string => {
    const parent = settings.catalog.get(name)?.parent?.collection;
    return parent ? rootOf(parent) : name;
  };
  const groups = new Map<string, RunRequest['runs']>();
  for (const run of request.runs) {
    const root = rootOf(run.collection);
    groups.set(root, [...(groups.get(root) ?? []), run]);
  }
  return [...groups.values()];
}

export function buildFunctions(settings: Settings, services: AppServices): FunctionDefinition[] {
  return [syncTimer(settings, services), runRequests(settings, services), ...httpFunctions(settings, services)];
}
