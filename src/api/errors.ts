import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

/**
 * Errors and JSON answers of the snapshot API. Every error body is `{"error": {"code", "message"}}`; a message names
 * the parameter at fault and what is accepted. Anything that is not an ApiError is an internal error: the caller
 * gets a generic 500, the details go to the function log only (never connection strings or stacks in a response).
 */
export type ErrorCode = 'BadRequest' | 'NotFound' | 'MethodNotAllowed' | 'ServiceUnavailable' | 'InternalError';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);
export const notFound = (message: string) => new ApiError(404, 'NotFound', message);

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, body: JSON.stringify(body), headers: { 'content-type': JSON_CONTENT_TYPE, ...headers } };
}

export function errorResponse(status: number, code: ErrorCode, message: string): HttpResponseInit {
  return jsonResponse(status, { error: { code, message } }, { 'cache-control': 'no-store' });
}

/** A short, printable rendering of a caller's value for an error message. */
export function quote(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return `'${cut.replace(/[\u0000-\u001f\u007f]/g, '?')}'`;
}

export type ApiHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** Wraps a handler: ApiError -> its status and error body; anything else -> logged, generic 500. */
export function guarded(handler: ApiHandler): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (error) {
      if (error instanceof ApiError) return errorResponse(error.status, error.code, error.message);
      context.error(`${request.method} ${new URL(request.url).pathname} failed: ${describeError(error)}`);
      return errorResponse(500, 'InternalError', 'the request could not be served; the details are in the function log');
    }
  };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
