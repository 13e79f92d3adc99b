import type { HttpRequest } from '@azure/functions';
import { FUNCTION_KEY_PARAMETER } from './params';

/**
 * `@odata.nextLink`: the same request (the route's own path, the caller's parameters) with the next
 * `continuationToken`. It never echoes what a caller or a proxy controls beyond the parameters the token is bound to:
 * not the Host header (a link built from it would point wherever the request said), and not the `code` function key
 * (links end up in logs and reports). It starts with API_PUBLIC_BASE_URL when that is set, and is relative
 * (`/api/...`) otherwise: resolve it against the URL you called, and send the key again (`x-functions-key`).
 */
export interface LinkOptions {
  /** API_PUBLIC_BASE_URL: an https origin. */
  publicBaseUrl?: string;
}

export function nextLink(request: HttpRequest, path: string, continuationToken: string, options: LinkOptions): string {
  const params = new URLSearchParams();
  for (const [name, value] of request.query) {
    if (name !== FUNCTION_KEY_PARAMETER && name !== 'continuationToken') params.append(name, value);
  }
  params.set('continuationToken', continuationToken);
  return `${options.publicBaseUrl ?? ''}${path}?${params.toString()}`;
}
