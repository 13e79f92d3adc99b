import type { HttpRequest } from '@azure/functions';
import { badRequest, quote } from './errors';

/** `code` carries the function key in Azure; it is accepted (and ignored) on every route. */
export const FUNCTION_KEY_PARAMETER = 'code';

/**
 * The request's query parameters, once each, all of them known: an unknown parameter or a repeated one is a 400
 * that names it and lists the accepted ones. Names are case-sensitive, as Graph's are not: `riskLevel`, not `risklevel`.
 */
export function readParams(request: HttpRequest, accepted: readonly string[], commaLists: readonly string[] = []): Map<string, string> {
  const params = new Map<string, string>();
  const acceptedList = accepted.length > 0 ? `accepted parameters: ${accepted.join(', ')}` : 'this route takes no parameters';
  for (const [name, value] of request.query) {
    if (name === FUNCTION_KEY_PARAMETER) continue;
    if (!accepted.includes(name)) {
      const hint = accepted.find((a) => a.toLowerCase() === name.toLowerCase());
      throw badRequest(
        `unknown query parameter ${quote(name)}${hint ? ` (did you mean '${hint}'? names are case-sensitive)` : ''}: ${acceptedList} (and 'code', the function key)`,
      );
    }
    if (params.has(name)) {
      const hint = commaLists.includes(name) ? ` (several values go in one parameter, separated by commas)` : '';
      throw badRequest(`query parameter '${name}' is repeated: give it once${hint}`);
    }
    params.set(name, value);
  }
  return params;
}
