import type { Catalog } from '../domain/collection';
import { csvChunks } from '../api/csv';
import { tableFilter } from '../api/list';
import { parseDateTime } from '../api/query';
import { fromEntity } from '../store/entityMapping';
import type { ReadModel } from '../store/readModel';
import { tablePages, type Row } from '../store/tablePages';

/**
 * The stored rows of one collection as a file, for `risk-sync export`: the same rows, filter and CSV as the API's
 * `GET /api/snapshot/{collection}?format=csv` (src/api), through the read model, a Table page (up to 1,000 rows) at
 * a time and only as the writer asks for the next chunk, so the whole table is never in memory.
 *
 * - `ndjson`: one record per line, shaped like Graph's (as the API's JSON answers), UTF-8, LF.
 * - `csv`: the API's CSV (header `id` + the declared columns, CSV-injection guard), CRLF.
 */
export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportRequest {
  collection: string;
  format: ExportFormat;
  /** Normalized datetimes (exportDateTime), compared with the collection's cursor like the API's since/until. */
  since?: string;
  until?: string;
}

/** The declared collection a `--collection` value names (case-insensitively, as the API's routes), or undefined. */
export function exportCollection(catalog: Catalog, raw: string): string | undefined {
  return catalog.names.find((name) => name.toLowerCase() === raw.toLowerCase());
}

/** A `--since`/`--until` value normalized as the API normalizes it (7 digits, UTC), or undefined when it is not one. */
export function exportDateTime(raw: string): string | undefined {
  return parseDateTime('', raw);
}

/** The export's chunks of text; `onPage` hears of each Table page read (for the progress line). */
export async function* exportChunks(
  model: ReadModel,
  request: ExportRequest,
  onPage: (rows: number) => void = () => undefined,
): AsyncGenerator<string> {
  const definition = model.catalog.require(request.collection);
  const filter = tableFilter(
    { collection: request.collection, filters: {}, top: 0, since: request.since, until: request.until },
    model.tenantId,
    model.catalog,
  );
  const pages = counted(tablePages(model.table(request.collection), filter), onPage);
  if (request.format === 'csv') {
    yield* csvChunks(definition, pages);
    return;
  }
  for await (const rows of pages) yield rows.map((row) => `${JSON.stringify(fromEntity(definition, row))}\n`).join('');
}

async function* counted(pages: AsyncIterable<Row[]>, onPage: (rows: number) => void): AsyncGenerator<Row[]> {
  for await (const rows of pages) {
    onPage(rows.length);
    yield rows;
  }
}
