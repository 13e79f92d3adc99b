import type { TokenCredential } from '@azure/identity';
import { RestError, TableClient } from '@azure/data-tables';
import type { Settings } from '../config/settings';

/** The table clients of one deployment: one table per collection, plus SyncState and SyncRuns. */
export interface SyncTables {
  collections: Record<string, TableClient>;
  /** The change tables of the collections with tracked properties. */
  changes: Record<string, TableClient>;
  state: TableClient;
  runs: TableClient;
  quarantine: TableClient;
}

export function createTableClients(settings: Settings, credential: TokenCredential): SyncTables {
  // Plain http only to a loopback store (Azurite): settings.ts refuses it anywhere else.
  const options = { allowInsecureConnection: settings.tables.allowInsecureConnection };
  const client = (table: string): TableClient =>
    settings.tables.connectionString
      ? TableClient.fromConnectionString(settings.tables.connectionString, table, options)
      : new TableClient(settings.tables.endpoint!, table, credential, options);
  const collections: Record<string, TableClient> = {};
  const changes: Record<string, TableClient> = {};
  for (const [name, c] of Object.entries(settings.collections)) {
    collections[name] = client(c.table);
    if (c.changesTable) changes[name] = client(c.changesTable);
  }
  return { collections, changes, state: client(settings.stateTable), runs: client(settings.runsTable), quarantine: client(settings.quarantineTable) };
}

/** Creates the tables that do not exist yet (the sync owns its tables; creating an existing one is harmless). */
export async function ensureTables(tables: SyncTables): Promise<void> {
  await Promise.all(
    [...Object.values(tables.collections), ...Object.values(tables.changes), tables.state, tables.runs, tables.quarantine].map(ensureTable),
  );
}

const ensured = new WeakSet<TableClient>();
async function ensureTable(client: TableClient): Promise<void> {
  if (ensured.has(client)) return;
  try {
    await client.createTable();
  } catch (error) {
    if (!(error instanceof RestError && error.statusCode === 409)) throw error;
  }
  ensured.add(client);
}

export function isStatus(error: unknown, ...statuses: number[]): boolean {
  return error instanceof RestError && statuses.includes(error.statusCode ?? -1);
}
