import type { CollectionDefinition } from '../domain/collection';
import { maxDateTime, minDateTime } from '../domain/datetime';
import { toEntity, type MappedRecord } from '../store/entityMapping';

/** One page of Graph records as rows, and what the run reports about it. Pure: no I/O. */
export interface MappedPage {
  rows: MappedRecord[];
  /** Records that can not be rows at all (no id, not an object), with the reason. */
  unmappable: { record: unknown; reason: string }[];
  /** The highest and lowest cursors on the page (records without a cursor do not count). */
  maxCursor?: string;
  minCursor?: string;
  /** Records stored in an adjusted form, with how. */
  adjusted: { rowKey: string; adjustments: string[] }[];
  /** Premium detections as Entra ID P1 serves them: `riskEventType` generic with `riskLevel` hidden. */
  p1Shaped: number;
}

export function mapPage(collection: CollectionDefinition, records: readonly unknown[], tenantId: string, syncedAt: string): MappedPage {
  const page: MappedPage = { rows: [], unmappable: [], adjusted: [], p1Shaped: 0 };
  for (const record of records) {
    if (!record || typeof record !== 'object' || Array.isArray(record)) {
      page.unmappable.push({ record, reason: `a ${collection.name} record is not a JSON object` });
      continue;
    }
    let row: MappedRecord;
    try {
      row = toEntity(collection, record as Record<string, unknown>, tenantId, syncedAt);
    } catch (error) {
      page.unmappable.push({ record, reason: (error as Error).message });
      continue;
    }
    page.rows.push(row);
    page.maxCursor = maxDateTime(page.maxCursor, row.cursor);
    page.minCursor = minDateTime(page.minCursor, row.cursor);
    if (row.adjustments.length > 0) page.adjusted.push({ rowKey: String(row.entity.rowKey), adjustments: row.adjustments });
    const r = record as Record<string, unknown>;
    if (r.riskEventType === 'generic' && r.riskLevel === 'hidden') page.p1Shaped++;
  }
  return page;
}
