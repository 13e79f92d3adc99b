import { createHash } from 'node:crypto';
import type { TableClient, TableEntity } from '@azure/data-tables';
import type { CollectionDefinition } from '../domain/collection';
import type { MappedRecord } from './entityMapping';
import { idOfRowKey } from './entityMapping';

/**
 * The change tables (RiskDetectionChanges, RiskyUserChanges): one row per version of a record that the sync observed
 * whose tracked properties differ from the stored version, and a `created` row for a record's first version.
 *
 * - PartitionKey `<tenantId>_<yyyy-MM>` of the version's cursor (when Graph says the change happened): BI reads a month
 *   or a quarter as a range of partitions, and the changes feed reads `since`/`until` as a RowKey range in them.
 * - RowKey `<cursor>_<record RowKey>_<fingerprint>`: in time order within a month, and the same for the same version of
 *   the same record, whoever writes it and however often. That is what makes a change row exactly-once: it is written
 *   (upserted) BEFORE the data row it describes, so a kill between the two is repaired by the next read of that version
 *   (the data row is still the old one: the same change row is written again, then the data row), and a re-read of a
 *   stored version writes nothing (the data row's fingerprint matches).
 */
export type ChangeKind = 'created' | 'changed';

export interface ChangeRow extends TableEntity {
  tenantId: string;
  recordId: string;
  change: ChangeKind;
  cursor?: { value: string; type: 'DateTime' };
  seenAt: { value: string; type: 'DateTime' };
  runId: string;
  [column: string]: unknown;
}

/** The columns of the record a change row repeats (when the record has them), so a change names its user. */
export const CHANGE_USER_COLUMNS = ['userId', 'userPrincipalName', 'userDisplayName'] as const;

/** `riskState` -> `previousRiskState`. */
export function previousColumn(property: string): string {
  return `previous${property[0]!.toUpperCase()}${property.slice(1)}`;
}

const MAX_KEY = 900;

export function changeRowKey(record: MappedRecord): string {
  const cursor = record.cursor ?? '0000-00-00T00:00:00.0000000Z';
  let id = String(record.entity.rowKey);
  if (id.length > MAX_KEY - 60) id = `~h${createHash('sha256').update(id).digest('hex')}`;
  return `${cursor}_${id}_${record.hash.slice(0, 8)}`;
}

export function changePartitionKey(tenantId: string, cursor: string | undefined, seenAt: string): string {
  return `${tenantId}_${(cursor ?? seenAt).slice(0, 7)}`;
}

/**
 * The change row of a version: `previous` holds the stored version's tracked values (absent: the record is new).
 * Undefined when the tracked properties did not change (an update of other properties is not a change here).
 */
export function changeRowOf(
  collection: CollectionDefinition,
  tenantId: string,
  record: MappedRecord,
  previous: Record<string, string | null> | undefined,
  seenAt: string,
  runId: string,
): ChangeRow | undefined {
  if (previous && collection.tracked.every((p) => (previous[p] ?? null) === (record.tracked[p] ?? null))) return undefined;
  const entity = record.entity as Record<string, unknown>;
  const row: ChangeRow = {
    partitionKey: changePartitionKey(tenantId, record.cursor, seenAt),
    rowKey: changeRowKey(record),
    tenantId,
    recordId: idOfRowKey(String(record.entity.rowKey)),
    change: previous ? 'changed' : 'created',
    seenAt: { value: seenAt, type: 'DateTime' },
    runId,
  };
  if (record.cursor && record.cursor >= '1601') row.cursor = { value: record.cursor, type: 'DateTime' };
  for (const column of CHANGE_USER_COLUMNS) if (typeof entity[column] === 'string') row[column] = entity[column];
  for (const property of collection.tracked) {
    const value = record.tracked[property];
    if (value !== null && value !== undefined) row[property] = value;
    const before = previous?.[property];
    if (before !== null && before !== undefined) row[previousColumn(property)] = before;
  }
  return row;
}

/** Writes change rows (upserts: the same version gives the same row), in transactions of one partition. */
export async function writeChanges(table: TableClient, rows: readonly ChangeRow[]): Promise<void> {
  const byPartition = new Map<string, ChangeRow[]>();
  for (const row of rows) {
    const list = byPartition.get(row.partitionKey);
    if (list) list.push(row);
    else byPartition.set(row.partitionKey, [row]);
  }
  await Promise.all(
    [...byPartition.values()].map(async (list) => {
      for (let i = 0; i < list.length; i += 100) {
        const batch = list.slice(i, i + 100);
        await table.submitTransaction(batch.map((row) => ['upsert', row, 'Replace'] as const));
      }
    }),
  );
}
