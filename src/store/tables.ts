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

/** The SyncState row that says which tables a run found created: PartitionKey `_sync`, RowKey `tables`. */
export const TABLES_MARKER = { partitionKey: '_sync', rowKey: 'tables' } as const;

/**
 * Creates the tables that do not exist yet (the sync owns its tables; creating an existing one is harmless).
 *
 * Creating them costs a request per table on every process start (eight, answered 409 once they exist), in front
 * of the first Graph request. So once they are all created the SyncState table keeps a row naming them, and a start
 * that finds that row with the same names makes one read instead. A table deleted by hand afterwards makes a run
 * fail with TableNotFound; that run drops the row (forgetTables), and the next one creates the tables again.
 */
export function ensureTables(tables: SyncTables): Promise<void> {
  const all = allTables(tables);
  if (all.every((t) => ensured.has(t))) return Promise.resolve();
  // Callers at the same time (the runs of one `sync`, the CLI's start-up readying the store) share one check.
  let pending = inFlight.get(tables);
  if (!pending) {
    pending = createTables(tables, all).finally(() => inFlight.delete(tables));
    inFlight.set(tables, pending);
  }
  return pending;
}

async function createTables(tables: SyncTables, all: TableClient[]): Promise<void> {
  const names = tableNames(tables);
  const marker = await tables.state.getEntity<{ tables?: unknown }>(TABLES_MARKER.partitionKey, TABLES_MARKER.rowKey).catch((error: unknown) => {
    if (isStatus(error, 404)) return undefined;
    throw error;
  });
  if (marker?.tables !== names) {
    const created = await Promise.all(all.map(ensureTable));
    // A table still being deleted (409 TableBeingDeleted) is not there yet: no row, so the next start tries again.
    if (!created.every(Boolean)) return;
    await tables.state.upsertEntity({ ...TABLES_MARKER, tables: names }, 'Replace');
  }
  for (const t of all) ensured.add(t);
}

/** After a run failed on a missing table: the next start creates the tables again. */
export async function forgetTables(tables: SyncTables): Promise<void> {
  for (const t of allTables(tables)) ensured.delete(t);
  await tables.state.deleteEntity(TABLES_MARKER.partitionKey, TABLES_MARKER.rowKey).catch((error: unknown) => {
    if (!isStatus(error, 404)) throw error;
  });
}

/** A 404 TableNotFound, or an error caused by one (a lease lost because its table was deleted). */
export function isTableNotFound(error: unknown): boolean {
  if (error instanceof RestError) return error.statusCode === 404 && (error.code === 'TableNotFound' || /TableNotFound/.test(error.message));
  return error instanceof Error && error.cause !== undefined && isTableNotFound(error.cause);
}

function allTables(tables: SyncTables): TableClient[] {
  return [...Object.values(tables.collections), ...Object.values(tables.changes), tables.state, tables.runs, tables.quarantine];
}

function tableNames(tables: SyncTables): string {
  return allTables(tables)
    .map((t) => t.tableName)
    .sort()
    .join(',');
}

const ensured = new WeakSet<TableClient>();
const inFlight = new WeakMap<SyncTables, Promise<void>>();
/** True when the table exists now: created, or there already (409 TableAlreadyExists). */
async function ensureTable(client: TableClient): Promise<boolean> {
  try {
    await client.createTable();
    return true;
  } catch (error) {
    if (!(error instanceof RestError && error.statusCode === 409)) throw error;
    return error.code === undefined || error.code === 'TableAlreadyExists' || /TableAlreadyExists/.test(error.message);
  }
}

export function isStatus(error: unknown, ...statuses: number[]): boolean {
  return error instanceof RestError && statuses.includes(error.statusCode ?? -1);
}
