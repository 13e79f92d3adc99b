import { ReadableStream } from 'node:stream/web';
import Negotiator from 'negotiator';
import type { CollectionDefinition } from '../domain/collections';
import { fromEntity } from '../store/entityMapping';
import type { Row } from '../store/tablePages';

/**
 * CSV of a collection: RFC 4180 (comma, CRLF, fields with a comma, quote, CR or LF quoted, quotes doubled), UTF-8
 * without BOM. The header is `id` + the collection's declared columns, `location` flattened into locationCity,
 * locationState, locationCountryOrRegion, locationLatitude, locationLongitude (properties Graph adds later are not
 * in the CSV; the JSON answer has them). Empty cell = null.
 *
 * CSV injection: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a CR gets a leading `'`, so a spreadsheet
 * shows it as text instead of running it as a formula. Numbers (latitude, longitude) and booleans are written as
 * they are.
 */

type Cell = (record: Record<string, unknown>) => unknown;

export function csvColumns(collection: CollectionDefinition): { name: string; cell: Cell }[] {
  const columns: { name: string; cell: Cell }[] = [{ name: 'id', cell: (r) => r.id }];
  for (const [name, type] of Object.entries(collection.columns)) {
    if (type !== 'location') {
      columns.push({ name, cell: (r) => r[name] });
      continue;
    }
    const location = (r: Record<string, unknown>) => (r[name] && typeof r[name] === 'object' ? (r[name] as Record<string, unknown>) : {});
    const geo = (r: Record<string, unknown>) => {
      const g = location(r).geoCoordinates;
      return g && typeof g === 'object' ? (g as Record<string, unknown>) : {};
    };
    columns.push(
      { name: 'locationCity', cell: (r) => location(r).city },
      { name: 'locationState', cell: (r) => location(r).state },
      { name: 'locationCountryOrRegion', cell: (r) => location(r).countryOrRegion },
      { name: 'locationLatitude', cell: (r) => geo(r).latitude },
      { name: 'locationLongitude', cell: (r) => geo(r).longitude },
    );
  }
  return columns;
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** The text of one cell, with the CSV-injection guard on text values. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return FORMULA_START.test(value) ? `'${value}` : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const json = JSON.stringify(value);
  return FORMULA_START.test(json) ? `'${json}` : json;
}

const OPTIONS = { record_delimiter: 'windows', quoted_match: /[\r\n]/ } as const;

export function csvLines(rows: string[][]): string {
  if (rows.length === 0) return '';
  // The CSV writer loads with the first CSV answer: JSON requests and the timer never need it.
  const { stringify } = require('csv-stringify/sync') as typeof import('csv-stringify/sync');
  return stringify(rows, OPTIONS);
}

/**
 * A collection's CSV, one chunk per Table page (stored rows as the table gives them): the header line, then each
 * page's rows. Pulled page by page, so the whole table is never in memory. The API's CSV answers and
 * `risk-sync export --format csv` both write this.
 */
export async function* csvChunks(definition: CollectionDefinition, pages: AsyncIterable<Row[]>): AsyncGenerator<string> {
  const columns = csvColumns(definition);
  yield csvLines([columns.map((c) => c.name)]);
  for await (const rows of pages) {
    yield csvLines(
      rows.map((row) => {
        const record = fromEntity(definition, row);
        return columns.map((c) => cellText(c.cell(record)));
      }),
    );
  }
}

/** A byte stream that pulls the chunks only as the reader asks for them (no read-ahead, so no buffering of pages). */
export function byteStream(chunks: AsyncGenerator<string>, onError: (error: unknown) => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            const next = await chunks.next();
            if (next.done) {
              controller.close();
              return;
            }
            if (next.value.length > 0) {
              controller.enqueue(encoder.encode(next.value));
              return;
            }
          }
        } catch (error) {
          onError(error);
          controller.error(error);
        }
      },
      async cancel() {
        await chunks.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/** What the list routes can answer, in the order that wins a tie (any type, no Accept, a browser's Accept: JSON). */
const MEDIA_TYPES = ['application/json', 'text/csv'] as const;

/**
 * Which representation the caller wants: `format` decides when given; else `Accept`, negotiated as RFC 9110 says
 * (quality, then specificity, then the caller's order): CSV when it prefers text/csv (or text/*) over application/json,
 * JSON otherwise (no Accept, any type, a browser's Accept, or nothing acceptable).
 */
export function wantsCsv(format: 'json' | 'csv' | undefined, accept: string | null): boolean {
  if (format) return format === 'csv';
  if (!accept) return false;
  return new Negotiator({ headers: { accept } }).mediaType(MEDIA_TYPES) === 'text/csv';
}
