import { createHash } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { rowKeyOf } from './entityMapping';
import { isStatus } from './tables';

/**
 * The quarantine table (SyncQuarantine): records that could not be stored, so they do not vanish while the watermark
 * moves past them. PartitionKey `<tenantId>_<collection>`, RowKey the record's RowKey (or `~nokey_<fingerprint>` for a
 * record without an id). Each row keeps the raw JSON (up to MAX_RAW characters, in parts), the reason, the run that
 * put it there, when it was first and last seen. Every run tries the rows of its collection again; a row goes once
 * its record is stored (again from quarantine, or because Graph served it again and it could be stored then).
 */
const PART = 30_000;
/**
 * The raw JSON kept: 300,000 characters, so the row stays under 1 MiB both as Azure counts it (2 bytes a character)
 * and as UTF-8 JSON (up to 3 bytes a character, what Azurite counts for an update). 30 parts (1.8 MB in Azure's count)
 * made Azure refuse the quarantine row of any record over about 520,000 characters.
 */
const MAX_RAW = 10 * PART;

export interface QuarantineEntry {
  rowKey: string;
  raw: unknown;
  reason: string;
}

export function quarantineKey(record: unknown): string {
  const id = record && typeof record === 'object' ? (record as Record<string, unknown>).id : undefined;
  if (typeof id === 'string' && id !== '') return rowKeyOf(id).slice(0, 900);
  return `~nokey_${createHash('sha256')
    .update(JSON.stringify(record) ?? String(record))
    .digest('hex')
    .slice(0, 32)}`;
}

export class Quarantine {
  constructor(
    private readonly table: TableClient,
    private readonly tenantId: string,
    private readonly collection: string,
  ) {}

  private get partition(): string {
    return `${this.tenantId}_${this.collection}`;
  }

  /** Puts a record in quarantine, or updates the row it has there (reason, last seen, attempts). */
  async put(record: unknown, reason: string, runId: string, at: string): Promise<void> {
    const rowKey = quarantineKey(record);
    const raw = JSON.stringify(record) ?? String(record);
    const kept = raw.length > MAX_RAW ? raw.slice(0, MAX_RAW) : raw;
    const entity: Record<string, unknown> = {
      partitionKey: this.partition,
      rowKey,
      tenantId: this.tenantId,
      collection: this.collection,
      reason: reason.slice(0, 4000),
      runId,
      lastSeenAt: new Date(at),
      rawLength: raw.length,
      rawTruncated: raw.length > MAX_RAW,
    };
    for (let i = 0; i * PART < kept.length; i++) entity[i === 0 ? 'rawJson' : `rawJson_part${i + 1}`] = kept.slice(i * PART, (i + 1) * PART);
    let existing: Record<string, unknown> | undefined;
    try {
      existing = await this.table.getEntity(this.partition, rowKey);
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
    entity.firstSeenAt = existing?.firstSeenAt ?? new Date(at);
    entity.attempts = Number(existing?.attempts ?? 0) + 1;
    await this.table.upsertEntity(entity as { partitionKey: string; rowKey: string }, 'Replace');
  }

  /** The quarantined records of the collection, to be tried again. */
  async list(): Promise<QuarantineEntry[]> {
    const entries: QuarantineEntry[] = [];
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${this.partition}` },
      })) {
        let raw = String(row.rawJson ?? '');
        for (let i = 2; typeof row[`rawJson_part${i}`] === 'string'; i++) raw += row[`rawJson_part${i}`] as string;
        let parsed: unknown;
        try {
          parsed = row.rawTruncated ? undefined : JSON.parse(raw);
        } catch {
          parsed = undefined;
        }
        entries.push({ rowKey: String(row.rowKey), raw: parsed, reason: String(row.reason ?? '') });
      }
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
    return entries;
  }

  async remove(rowKey: string): Promise<void> {
    try {
      await this.table.deleteEntity(this.partition, rowKey);
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }

  async count(): Promise<number> {
    let n = 0;
    try {
      const pages = this.table
        .listEntities({ queryOptions: { filter: odata`PartitionKey eq ${this.partition}`, select: ['RowKey'] } })
        .byPage({ maxPageSize: 1000 });
      for await (const page of pages) n += page.length;
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
    return n;
  }
}
