import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { TableClient } from '@azure/data-tables';
import { loadSettings, type Settings } from '../../src/config/settings';
import type { GraphEmulator, GraphEmulatorOptions } from '../../tools/emulator';
import type { Azurite, AzuriteOptions } from '../../tools/azurite/azurite';
import { childEnvironment, startWorld, worldSettings } from '../../tools/world';
import { fromEntity } from '../../src/store/entityMapping';
import { COLLECTIONS, type CollectionName } from '../../src/domain/collections';
import type { Logger } from '../../src/domain/logger';
import { createSyncService, type SyncService } from '../../src/sync/service';

/**
 * An integration test's world, all over the wire: Azurite (child process, in memory), the Graph emulator (HTTPS on
 * loopback) and its managed-identity endpoint, found by the real ManagedIdentityCredential through IDENTITY_ENDPOINT.
 */
export interface Harness {
  azurite: Azurite;
  emulator: GraphEmulator;
  /** The app settings that point the sync at this world. */
  env: Record<string, string>;
  settings(overrides?: Record<string, string>): Settings;
  /** An in-process sync service over these settings. */
  service(overrides?: Record<string, string>): SyncService;
  /** Runs the CLI as a child process; resolves with its exit code and output. */
  cli(args: string[], overrides?: Record<string, string>, options?: CliOptions): Promise<CliResult>;
  /** Starts the CLI and hands back the child (for kill -9). */
  spawnCli(args: string[], overrides?: Record<string, string>, options?: CliOptions): ChildProcess;
  /** The collection's rows read back as Graph-shaped records, sorted by id. */
  stored(collection: CollectionName): Promise<Record<string, unknown>[]>;
  /** What Graph serves now, sorted by id, in the same shape. */
  expected(collection: CollectionName): Record<string, unknown>[];
  table(name: string): TableClient;
  close(): Promise<void>;
}

export interface CliOptions {
  /** Working directory (where local.settings.json is looked for); default the repository. */
  cwd?: string;
  /**
   * `harness` (default): this world's settings in the environment. `bare`: none of them, and no setting, credential
   * variable or NODE_EXTRA_CA_CERTS inherited either: only `overrides` (for settings that come from a file).
   */
  env?: 'harness' | 'bare';
  /** The file Node runs with `args` (default bin/risk-sync.js). */
  script?: string;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const quietLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export const CLI = path.join(__dirname, '..', '..', 'bin', 'risk-sync.js');

export async function startHarness(
  options: { emulator?: GraphEmulatorOptions; env?: Record<string, string>; azurite?: AzuriteOptions } = {},
): Promise<Harness> {
  const world = await startWorld(options.emulator, options.azurite);
  const { azurite, emulator } = world;
  const env: Record<string, string> = {
    ...worldSettings(emulator, azurite.connectionString),
    GRAPH_MAX_RPS: '50',
    GRAPH_RETRY_BASE_MS: '20',
    GRAPH_REQUEST_TIMEOUT_SECONDS: '5',
    SYNC_LEASE_SECONDS: '5',
    ...options.env,
  };
  // The managed-identity credential reads its endpoint from the process environment.
  process.env.IDENTITY_ENDPOINT = emulator.identityEndpoint;
  process.env.IDENTITY_HEADER = emulator.identityHeader;
  const children = new Set<ChildProcess>();

  const childEnv = (overrides: Record<string, string> = {}, kind: CliOptions['env'] = 'harness') =>
    kind === 'bare' ? childEnvironment(overrides) : childEnvironment({ ...env, ...overrides }, world.certPath);
  const spawnCli = (args: string[], overrides?: Record<string, string>, options: CliOptions = {}) => {
    const child = spawn(process.execPath, [options.script ?? CLI, ...args], {
      env: childEnv(overrides, options.env),
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  const table = (name: string) => TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });
  const settings = (overrides: Record<string, string> = {}) => loadSettings({ ...env, ...overrides });

  return {
    azurite,
    emulator,
    env,
    settings,
    service: (overrides) => createSyncService(settings(overrides)),
    spawnCli,
    cli: (args, overrides, options) =>
      new Promise((resolve, reject) => {
        const child = spawnCli(args, overrides, options);
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('error', reject);
        child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      }),
    stored: async (collection) => {
      const rows: Record<string, unknown>[] = [];
      const client = table(settings().collections[collection].table);
      try {
        for await (const row of client.listEntities({ queryOptions: {}, disableTypeConversion: true } as never)) {
          rows.push(fromEntity(COLLECTIONS[collection], row as Record<string, unknown>));
        }
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      }
      return sortById(rows);
    },
    expected: (collection) => sortById(servedRecords(emulator, collection).map((r) => normalize(collection, r))),
    table,
    close: async () => {
      for (const child of children) child.kill('SIGKILL');
      await world.close();
    },
  };
}

/** What Graph serves of a collection now; for a child collection, the children of every parent Graph serves. */
export function servedRecords(emulator: GraphEmulator, collection: CollectionName): Record<string, unknown>[] {
  const definition = COLLECTIONS[collection]!;
  if (!definition.parent) return emulator.list(collection, { visibleOnly: true, asServed: true }) as Record<string, unknown>[];
  return emulator
    .list(definition.parent.collection, { visibleOnly: true, asServed: true })
    .flatMap((parent) => (emulator.history(String(parent.id), { asServed: true }) ?? []) as unknown as Record<string, unknown>[]);
}

function sortById(rows: Record<string, unknown>[]) {
  return rows.sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

/** Graph's shape with every known property present (null when Graph has none), as the tables give it back. */
function normalize(collection: CollectionName, record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(COLLECTIONS[collection].columns)) out[name] = null;
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out[k] = v;
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
