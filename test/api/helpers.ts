import type { TableClient } from '@azure/data-tables';
import { httpFunctions } from '../../src/app/functions';
import { cachingStatus } from '../../src/app/stateCache';
import { systemClock } from '../../src/domain/clock';
import type { ReadModel } from '../../src/store/readModel';
import { startLocalHost, type LocalHost } from '../../tools/host/localHost';
import type { SyncService } from '../../src/sync/service';
import { quietLogger, type Harness } from '../support/harness';

/** The API over the wire: the local host serving httpFunctions() over a given service. */
export async function startApi(
  h: Harness,
  service: () => SyncService,
  overrides: Record<string, string> = {},
  options: { cacheMs?: number } = {},
): Promise<LocalHost & { errors: string[] }> {
  const errors: string[] = [];
  // With cacheMs, one caching read model as in Azure and `risk-sync serve` (src/app/stateCache.ts).
  let cached: ReadModel | undefined;
  const readModel = () => (options.cacheMs ? (cached ??= cachingStatus(service().readModel, options.cacheMs, systemClock)) : service().readModel);
  const host = await startLocalHost({
    functions: httpFunctions(h.settings(overrides), { sync: service, readModel }),
    port: 0,
    log: { ...quietLogger, error: (...a: unknown[]) => void errors.push(a.map(String).join(' ')) },
  });
  return Object.assign(host, { errors });
}

export function apiUrl(host: LocalHost, path: string, params: Record<string, string> | [string, string][] = {}): string {
  const url = new URL(`/api/${path}`, host.url);
  for (const [k, v] of Array.isArray(params) ? params : Object.entries(params)) url.searchParams.append(k, v);
  return url.toString();
}

export interface JsonAnswer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export async function getJson<T = Record<string, unknown>>(url: string, headers: Record<string, string> = {}): Promise<JsonAnswer<T>> {
  const response = await fetch(url, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

export interface ListBody {
  value: Record<string, unknown>[];
  '@odata.nextLink'?: string;
}

/** A next link resolved as a client does: relative (no API_PUBLIC_BASE_URL) against the URL that was called. */
export function resolveLink(link: string, calledUrl: string): string {
  return new URL(link, calledUrl).toString();
}

/** Follows @odata.nextLink to the last page; returns every item and the number of pages. */
export async function listAll(url: string, maxPages = 1000): Promise<{ items: Record<string, unknown>[]; pages: number; pageSizes: number[] }> {
  const items: Record<string, unknown>[] = [];
  const pageSizes: number[] = [];
  let next: string | undefined = url;
  while (next) {
    const answer: JsonAnswer<ListBody> = await getJson<ListBody>(next);
    if (answer.status !== 200) throw new Error(`${next} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    items.push(...answer.body.value);
    pageSizes.push(answer.body.value.length);
    const link = answer.body['@odata.nextLink'];
    next = link === undefined ? undefined : resolveLink(link, next);
    if (pageSizes.length > maxPages) throw new Error('too many pages');
  }
  return { items, pages: pageSizes.length, pageSizes };
}

/** Every row of every table named, except the API's signing key row, as plain JSON (for before/after comparison). */
export async function dumpTables(h: Harness, names: string[]): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const name of names) {
    const client: TableClient = h.table(name);
    const rows: unknown[] = [];
    try {
      for await (const row of client.listEntities({ disableTypeConversion: true })) {
        if (row.partitionKey === '_api') continue;
        rows.push(row);
      }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    out[name] = rows;
  }
  return out;
}

/** A minimal RFC 4180 parser (quoted fields with doubled quotes, CR/LF inside quotes), enough to check our CSV. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export const sortIds = (items: Record<string, unknown>[]) => items.map((i) => String(i.id)).sort();
