import type { TableClient } from '@azure/data-tables';
import { isStatus } from './tables';

/**
 * Reading rows a page at a time, as the API and `risk-sync export` do: raw entities (`disableTypeConversion`, so
 * typed values keep Table Storage's full precision), a table that does not exist yet (no sync so far) read as empty.
 */
export type Row = Record<string, unknown>;

export interface TablePage {
  rows: Row[];
  /** The SDK's continuation: more rows may follow (a page may be short, or even empty, and still have one). */
  continuation?: string;
}

/** Table Storage's largest page. */
export const MAX_PAGE_ROWS = 1000;
/** Table round trips one answer may take (a Table page may be empty and still carry a continuation). */
export const MAX_ROUND_TRIPS = 10;

/** One Table page of at most `max` rows. */
export async function readTablePage(client: TableClient, filter: string, max: number, continuationToken?: string): Promise<TablePage> {
  try {
    const pages = client
      .listEntities<Row>({ queryOptions: { filter }, disableTypeConversion: true })
      .byPage({ maxPageSize: max, ...(continuationToken ? { continuationToken } : {}) });
    const first = await pages.next();
    if (first.done) return { rows: [] };
    const page = first.value as Row[] & { continuationToken?: string };
    return { rows: [...page], ...(page.continuationToken ? { continuation: page.continuationToken } : {}) };
  } catch (error) {
    if (isStatus(error, 404)) return { rows: [] };
    throw error;
  }
}

/** Up to `top` rows, following continuations through empty or short pages, within MAX_ROUND_TRIPS. */
export async function readUpTo(client: TableClient, filter: string, top: number, start?: string): Promise<TablePage> {
  const rows: Row[] = [];
  let continuation = start;
  for (let trip = 0; trip < MAX_ROUND_TRIPS; trip++) {
    const page = await readTablePage(client, filter, top - rows.length, continuation);
    rows.push(...page.rows);
    continuation = page.continuation;
    if (!continuation || rows.length >= top) break;
  }
  return { rows, ...(continuation ? { continuation } : {}) };
}

/**
 * Every matching row, page after page of up to 1,000 (Table Storage's largest), read only as the caller asks for the
 * next one: the whole result is never held in memory. `first` is a page read already (to fail before a stream starts).
 */
export async function* tablePages(client: TableClient, filter: string, first?: TablePage): AsyncGenerator<Row[]> {
  let page = first ?? (await readTablePage(client, filter, MAX_PAGE_ROWS));
  for (;;) {
    if (page.rows.length > 0) yield page.rows;
    if (!page.continuation) return;
    page = await readTablePage(client, filter, MAX_PAGE_ROWS, page.continuation);
  }
}

/** The first row of a filter (the rows come in key order), or undefined. */
export async function firstRow(client: TableClient, filter: string): Promise<Row | undefined> {
  const page = await readUpTo(client, filter, 1);
  return page.rows[0];
}
