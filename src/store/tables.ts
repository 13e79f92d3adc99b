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
 *
 * Table Storage keeps a deleted table's name for 40 seconds or more, answering 409 TableBeingDeleted meanwhile, to a
 * create too: then this throws TableBeingDeletedError, before the run has taken its lease or written anything.
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
    const created = await Promise.allSettled(all.map(ensureTable));
    const deleting = all.filter((_, i) => created[i]!.status === 'rejected' && isTableBeingDeleted((created[i] as PromiseRejectedResult).reason));
    if (deleting.length > 0) throw new TableBeingDeletedError(deleting.map((t) => t.tableName));
    const failed = created.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) throw failed.reason;
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

/**
 * A table of the sync was deleted (by hand, or by a reset) and is still being removed: Table Storage refuses its name
 * for 40 seconds or more.
 */
export class TableBeingDeletedError extends Error {
  override readonly name = 'TableBeingDeletedError';
  constructor(
    readonly tables: string[],
    options?: { cause?: unknown },
  ) {
    const subject =
      tables.length === 0 ? 'a table of the sync is' : tables.length === 1 ? `the table ${tables[0]} is` : `the tables ${tables.join(', ')} are`;
    super(`${subject} being deleted (Table Storage takes 40 seconds or more): a run after that creates it again`, options);
  }
}

/** A 404 TableNotFound, or an error caused by one (a lease lost because its table was deleted). */
export function isTableNotFound(error: unknown): boolean {
  if (error instanceof RestError) return error.statusCode === 404 && hasCode(error, 'TableNotFound');
  return error instanceof Error && error.cause !== undefined && isTableNotFound(error.cause);
}

/** A 409 TableBeingDeleted (what Table Storage answers for a table deleted less than a minute ago), or caused by one. */
export function isTableBeingDeleted(error: unknown): boolean {
  if (error instanceof TableBeingDeletedError) return true;
  if (error instanceof RestError) return error.statusCode === 409 && hasCode(error, 'TableBeingDeleted');
  return error instanceof Error && error.cause !== undefined && isTableBeingDeleted(error.cause);
}

/** The table is not there (any more): not found, or still being deleted. */
export function isTableGone(error: unknown): boolean {
  return isTableNotFound(error) || isTableBeingDeleted(error);
}

/** The table a single-table request named (`.../SyncState(PartitionKey=...)`, `.../RiskDetections()?$filter=...`), if any. */
export function tableOfRequest(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const path = url.replace(/^[a-z]+:\/\/[^/]+/i, '').split('?')[0]!;
  const name = /\/([A-Za-z][A-Za-z0-9]{2,62})(?:\(|$)/.exec(path)?.[1];
  return name === 'Tables' ? undefined : name;
}

function hasCode(error: RestError, code: string): boolean {
  return error.code === code || error.response?.headers.get('x-ms-error-code') === code || error.message.includes(code);
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
/** Resolves when the table exists now: created, or there already (409 TableAlreadyExists). */
async function ensureTable(client: TableClient): Promise<void> {
  try {
    await client.createTable();
  } catch (error) {
    if (!(error instanceof RestError && error.statusCode === 409) || isTableBeingDeleted(error)) throw error;
  }
}

export function isStatus(error: unknown, ...statuses: number[]): boolean {
  return error instanceof RestError && statuses.includes(error.statusCode ?? -1);
}
