import type { GraphEmulator } from '../../tools/emulator/index.js';

if (!process.env.NODE_EXTRA_CA_CERTS) {
  throw new Error(
    'NODE_EXTRA_CA_CERTS is not set: run the tests with `node scripts/test.js` (or set it to .local/emulator/cert.pem) ' +
      'so that fetch trusts the emulator certificate.',
  );
}

export const PREFER_UNKNOWN = { prefer: 'include-unknown-enum-members' };

export interface GraphResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON; tests check it field by field. */
  body: any;
}

/** GET a path (or an absolute URL, verbatim) with a bearer token. */
export async function graphGet(
  emulator: GraphEmulator,
  pathOrUrl: string,
  options: { token?: string | null; headers?: Record<string, string> } = {},
): Promise<GraphResponse> {
  const url = /^https?:/.test(pathOrUrl) ? pathOrUrl : `${emulator.graphUrl}${pathOrUrl}`;
  const token = options.token === undefined ? emulator.issueToken().token : options.token;
  const response = await fetch(url, {
    headers: { ...(token !== null && { authorization: `Bearer ${token}` }), ...options.headers },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** Follows @odata.nextLink verbatim until it is absent; returns every page. */
export async function getAllPages(
  emulator: GraphEmulator,
  firstUrl: string,
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<GraphResponse[]> {
  const pages: GraphResponse[] = [];
  let url: string | undefined = firstUrl;
  while (url) {
    const page = await graphGet(emulator, url, options);
    if (page.status !== 200) throw new Error(`page ${pages.length + 1}: ${page.status} ${JSON.stringify(page.body)}`);
    pages.push(page);
    url = page.body['@odata.nextLink'];
    if (pages.length > 10_000) throw new Error('too many pages');
  }
  return pages;
}

export function ids(response: GraphResponse): string[] {
  return (response.body.value as { id: string }[]).map((r) => r.id);
}

export function filterPath(collection: string, filter: string, extra = ''): string {
  return `/v1.0/identityProtection/${collection}?$filter=${encodeURIComponent(filter)}${extra}`;
}

/** Expects a Graph-shaped error with this status and code; returns the message. */
export function expectGraphError(response: GraphResponse, status: number, code: string): string {
  expect(response.status).toBe(status);
  expect(response.body.error.code).toBe(code);
  expect(typeof response.body.error.message).toBe('string');
  const inner = response.body.error.innerError;
  expect(inner['request-id']).toBe(response.headers.get('request-id'));
  expect(inner['client-request-id']).toBe(response.headers.get('client-request-id'));
  expect(inner.date).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
  return response.body.error.message as string;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A response body as JSON, typed loosely for field-by-field checks. */
export async function json(response: Response | Promise<Response>): Promise<any> {
  return (await response).json();
}
