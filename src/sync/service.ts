import { Cron } from 'croner';
import type { TokenCredential } from '@azure/identity';
import { systemClock, type Clock } from '../domain/clock';
import type { Logger } from '../domain/logger';
import type { RunSummary } from '../domain/runs';
import type { Settings } from '../config/settings';
import { Credentials, renewableCredential, type RenewableCredential } from '../graph/credential';
import { createGraphReader } from '../graph/graphReader';
import { describeRetry } from '../graph/retryMessage';
import { Pacers } from '../graph/pacer';
import { createReadModel, type ReadModel } from '../store/readModel';
import { CollectionStateStore } from '../store/syncState';
import { createTableClients, type SyncTables } from '../store/tables';
import { afterParent } from '../domain/runs';
import { syncCollection, type EngineContext, type RunOptions } from './engine';

/** What the timers, the CLI and the HTTP API of one process share: settings, table clients, the tenant's pacers. */
export interface SyncService {
  readonly settings: Settings;
  readonly tenantId: string;
  readonly tables: SyncTables;
  readonly readModel: ReadModel;
  /** One run of one collection. */
  run(collection: string, options: RunOptions, log: Logger): Promise<RunSummary>;
  /**
   * One run of each collection (all top-level ones when none given), concurrently: they share the tenant's request
   * budget. Each is followed by its child collections (riskyUsers, then its history).
   */
  runAll(collections: readonly string[], options: RunOptions, log: Logger): Promise<RunSummary[]>;
  /** The collections whose schedule has come round since their last run began (the one timer runs these). */
  due(now?: number): Promise<string[]>;
}

export interface ServiceOptions {
  /** The tenant synced (default: the settings' AZURE_TENANT_ID). */
  tenantId?: string;
  clock?: Clock;
  /** The process's pacers; one per process, so that everything that reads a tenant shares its budget. */
  pacers?: Pacers;
  /** The process's credentials (src/graph/credential.ts); the CLI passes the one it checked at start-up. */
  credentials?: Credentials;
  /** A credential for Graph and Table Storage instead of the one the settings choose (tests). */
  credential?: () => TokenCredential;
  tables?: SyncTables;
}

export function createSyncService(settings: Settings, options: ServiceOptions = {}): SyncService {
  const tenantId = options.tenantId ?? settings.tenantId;
  const clock = options.clock ?? systemClock;
  const pacers = options.pacers ?? new Pacers(settings.graphMaxRps);
  // One credential per process and tenant, shared by the Graph readers and (with TABLES_ENDPOINT) the Table clients.
  const given = options.credential && renewableCredential(options.credential);
  const credentials = options.credentials ?? new Credentials();
  const credentialFor = (tenant: string): RenewableCredential => given ?? credentials.for(settings, tenant);
  const tables = options.tables ?? createTableClients(settings, credentialFor(tenantId));
  const context = (log: Logger): EngineContext => ({
    settings,
    tables,
    clock,
    log,
    reader: (tenant, collection, signal) =>
      createGraphReader(settings, tenant, {
        pacer: pacers.for(tenant, collection.rateBudget),
        credential: credentialFor(tenant),
        signal,
        onRetry: (e) => log.info(describeRetry(collection.name, e)),
      }),
  });
  const run: SyncService['run'] = (collection, runOptions, log) => syncCollection(context(log), tenantId, collection, runOptions);
  const withChildren = async (collection: string, runOptions: RunOptions, log: Logger) => {
    const parent = await run(collection, runOptions, log);
    const summaries = [parent];
    for (const child of settings.catalog.childrenOf(collection)) summaries.push(await run(child.name, afterParent(parent, runOptions), log));
    return summaries;
  };
  const topLevel = () => settings.catalog.collections.filter((c) => !c.parent).map((c) => c.name);
  return {
    settings,
    tenantId,
    tables,
    readModel: createReadModel(settings, tables, tenantId, clock),
    run,
    runAll: async (collections, runOptions, log) =>
      (await Promise.all((collections.length ? collections : topLevel()).map((c) => withChildren(c, runOptions, log)))).flat(),
    due: async (now = clock.now()) => {
      const due: string[] = [];
      for (const name of topLevel()) {
        const schedule = settings.collections[name]!.schedule!;
        const state = await new CollectionStateStore(tables.state, tenantId, name, { leaseMs: settings.leaseSeconds * 1000, clock }).read();
        const last = state.lastRun?.startedAt ? Date.parse(state.lastRun.startedAt) : NaN;
        if (Number.isNaN(last) || isDue(schedule, last, now)) due.push(name);
      }
      return due;
    },
  };
}

/** Whether an NCRONTAB schedule fired after `since` and at or before `now` (UTC). */
export function isDue(schedule: string, since: number, now: number): boolean {
  const next = new Cron(schedule, { paused: true, utcOffset: 0 }).nextRun(new Date(since));
  return next !== null && next.getTime() <= now;
}
