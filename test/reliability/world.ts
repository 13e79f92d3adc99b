import { servedRecords } from '../support/harness';
import { systemClock, type Clock } from '../../src/domain/clock';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { odata, TableClient, type TransactionAction } from '@azure/data-tables';
import { loadSettings, type Settings } from '../../src/config/settings';
import { startGraphEmulator, type GraphEmulator, type GraphEmulatorOptions } from '../../tools/emulator';
import { startAzurite, type Azurite } from '../../tools/azurite/azurite';
import { fromEntity } from '../../src/store/entityMapping';
import { runPartitionKey } from '../../src/store/syncRuns';
import { CollectionStateStore, type CollectionState } from '../../src/store/syncState';
import { COLLECTIONS, type CollectionName } from '../../src/domain/collections';
import type { Logger } from '../../src/domain/logger';
import { createSyncService, type SyncService } from '../../src/sync/service';
import { startStorageProxy, type StorageProxy } from '../../tools/storage-proxy/storageProxy';
import { childEnvironment, worldSettings } from '../../tools/world';

/**
 * The reliability suite's world, reused from seed to seed: one Azurite (in memory) behind the fault-injecting storage
 * proxy (with Azure's limits on), and a Graph emulator restarted for each seed on the same port (so a process-wide service, such as the one
 * the timer functions build from the environment, keeps pointing at it). The sync talks to the proxy; the checks read
 * Azurite directly.
 */
export const TABLES = {
  riskDetections: 'RiskDetections',
  riskyUsers: 'RiskyUsers',
  riskyUserHistory: 'RiskyUserHistory',
  state: 'SyncState',
  runs: 'SyncRuns',
  riskDetectionChanges: 'RiskDetectionChanges',
  riskyUserChanges: 'RiskyUserChanges',
  quarantine: 'SyncQuarantine',
} as const;
export const ALL_TABLES = Object.values(TABLES);

/** The project root, from the sources (Jest) or from dist/ (the soak script). */
export const ROOT = (() => {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
export const CLI = path.join(ROOT, 'bin', 'risk-sync.js');

export interface World {
  azurite: Azurite;
  proxy: StorageProxy;
  /** A second proxy to the same Azurite, with Azure's limits and never a fault: for a rival run while `proxy` stalls. */
  clean: StorageProxy;
  emulator: GraphEmulator;
  tenantId: string;
  /** The settings that point a sync at this world (through the proxy). */
  env: Record<string, string>;
  settings(overrides?: Record<string, string>): Settings;
  /** A sync service of this world; `clean` talks through the clean proxy; `clock` is the process's clock (skew). */
  service(overrides?: Record<string, string>, options?: { clock?: Clock; clean?: boolean }): SyncService;
  /** A fresh emulator (same port) with this seed and options; tables emptied; faults and hooks cleared. */
  reset(seed: number, options?: { pageSize?: number; emulator?: GraphEmulatorOptions }): Promise<void>;
  /** Clears every fault of the emulator and the proxy, and the emulator's throttling. */
  calm(): void;
  direct(table: string): TableClient;
  stored(collection: CollectionName): Promise<Record<string, unknown>[]>;
  expected(collection: CollectionName): Record<string, unknown>[];
  state(collection: CollectionName): Promise<CollectionState>;
  runs(collection: CollectionName): Promise<Record<string, unknown>[]>;
  spawnCli(args: string[], overrides?: Record<string, string>): ChildProcess;
  /** Children still running. */
  children(): ChildProcess[];
  close(): Promise<void>;
}

export const quietLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function startWorld(options: { seed?: number } = {}): Promise<World> {
  const azurite = await startAzurite();
  // Azure's limits on: what Azure refuses and Azurite accepts is refused here too.
  const proxy = await startStorageProxy({ port: azurite.port }, { seed: options.seed ?? 1, azureLimits: true });
  const clean = await startStorageProxy({ port: azurite.port }, { azureLimits: true });
  let emulator = await startGraphEmulator({ throttling: false, seed: options.seed ?? 1, tokenLifetimeSeconds: 240 });
  const graphPort = Number(new URL(emulator.graphUrl).port);
  const tenantId = emulator.tenantId;
  const env: Record<string, string> = {
    ...worldSettings(emulator, proxy.connectionString),
    GRAPH_MAX_RPS: '100',
    GRAPH_RETRY_BASE_MS: '20',
    GRAPH_REQUEST_TIMEOUT_SECONDS: '2',
    SYNC_LEASE_SECONDS: '3',
  };
  process.env.IDENTITY_ENDPOINT = emulator.identityEndpoint;
  process.env.IDENTITY_HEADER = emulator.identityHeader;
  const children = new Set<ChildProcess>();
  const direct = (name: string) => TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });
  const settings = (overrides: Record<string, string> = {}) => loadSettings({ ...env, ...overrides });

  // The emulator's certificate is trusted from start-up (scripts/test.js and the soak set NODE_EXTRA_CA_CERTS).
  const childEnv = (overrides: Record<string, string> = {}) => childEnvironment({ ...env, ...overrides }, process.env.NODE_EXTRA_CA_CERTS);

  const world: World = {
    azurite,
    proxy,
    clean,
    get emulator() {
      return emulator;
    },
    tenantId,
    env,
    settings,
    service: (overrides = {}, opts = {}) =>
      createSyncService(settings({ ...overrides, ...(opts.clean ? { TABLES_CONNECTION_STRING: clean.connectionString } : {}) }), {
        clock: opts.clock,
      }),
    async reset(seed, opts = {}) {
      proxy.clearFaults();
      proxy.clearHooks();
      await emulator.close();
      emulator = await startGraphEmulator({ throttling: false, tokenLifetimeSeconds: 240, ...opts.emulator, seed, port: graphPort });
      if (opts.pageSize) limitPageSize(emulator, opts.pageSize);
      await clearTables(direct);
    },
    calm() {
      emulator.faults.clear();
      emulator.setThrottling({ enabled: false });
      proxy.clearFaults();
    },
    direct,
    async stored(collection) {
      const rows: Record<string, unknown>[] = [];
      try {
        for await (const row of direct(TABLES[collection as keyof typeof TABLES]).listEntities({ disableTypeConversion: true } as never)) {
          rows.push(fromEntity(COLLECTIONS[collection], row as Record<string, unknown>));
        }
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      }
      return sortById(rows);
    },
    expected: (collection) => sortById(servedRecords(emulator, collection).map((r) => normalize(collection, r))),
    state: (collection) => new CollectionStateStore(direct(TABLES.state), tenantId, collection, { leaseMs: 3000, clock: systemClock }).read(),
    async runs(collection) {
      const rows: Record<string, unknown>[] = [];
      try {
        for await (const row of direct(TABLES.runs).listEntities<Record<string, unknown>>({
          queryOptions: { filter: odata`PartitionKey eq ${runPartitionKey(tenantId, collection)}` },
        })) {
          rows.push(row);
        }
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      }
      return rows;
    },
    spawnCli(args, overrides) {
      const child = spawn(process.execPath, [CLI, ...args], { env: childEnv(overrides), stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    children: () => [...children],
    async close() {
      for (const child of children) child.kill('SIGKILL');
      await Promise.all(
        [...children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('exit', r)))),
      );
      await Promise.all([proxy.close(), clean.close()]);
      await Promise.all([azurite.stop(), emulator.close()]);
    },
  };
  return world;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output; resolves when it has exited. */
export function completion(child: ChildProcess): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Graph may serve fewer records than `$top` asks for; the sync asks for 500. To have many pages from a few hundred
 * records, the emulator's list handler is wrapped (its `api` is private: see the report's emulator needs) so that a
 * first request's `$top` is capped; its next links carry the cap.
 */
export function limitPageSize(emulator: GraphEmulator, size: number): void {
  const api = (emulator as unknown as { api: { get: (route: unknown, params: URLSearchParams, unknownEnums: boolean) => unknown } }).api;
  const original = api.get.bind(api);
  api.get = (route, params, unknownEnums) => {
    const top = params.get('$top');
    if (top !== null && !params.has('$skiptoken') && Number(top) > size) {
      const capped = new URLSearchParams(params);
      capped.set('$top', String(size));
      return original(route, capped, unknownEnums);
    }
    return original(route, params, unknownEnums);
  };
}

/** Deletes every row of the suite's tables (the API's signing key excepted), in entity group transactions. */
export async function clearTables(direct: (name: string) => TableClient): Promise<void> {
  await Promise.all(
    ALL_TABLES.map(async (name) => {
      const client = direct(name);
      const byPartition = new Map<string, string[]>();
      try {
        for await (const row of client.listEntities({ queryOptions: { select: ['PartitionKey', 'RowKey'] } })) {
          // The API's signing key and the sync's table marker (the tables stay; only their rows go).
          if (row.partitionKey === '_api' || row.partitionKey === '_sync') continue;
          const list = byPartition.get(row.partitionKey!) ?? [];
          list.push(row.rowKey!);
          byPartition.set(row.partitionKey!, list);
        }
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return;
        throw error;
      }
      for (const [pk, keys] of byPartition) {
        for (let i = 0; i < keys.length; i += 100) {
          const actions: TransactionAction[] = keys.slice(i, i + 100).map((rk) => ['delete', { partitionKey: pk, rowKey: rk }]);
          await client.submitTransaction(actions);
        }
      }
    }),
  );
}

export function sortById(rows: Record<string, unknown>[]) {
  return rows.sort((a, b) => (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0));
}

/** Graph's shape with every known property present (null when Graph has none), as the tables give it back. */
export function normalize(collection: CollectionName, record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(COLLECTIONS[collection].columns)) out[name] = null;
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out[k] = v;
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
