import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const ODATA_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** Per-request ids, echoed in headers and error bodies as Graph does. */
export interface RequestIds {
  requestId: string;
  clientRequestId: string;
}

export function requestIds(req: IncomingMessage): RequestIds {
  const requestId = randomUUID();
  const sent = req.headers['client-request-id'];
  return { requestId, clientRequestId: typeof sent === 'string' && sent !== '' ? sent : requestId };
}

const DEFAULT_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'InvalidAuthenticationToken',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

export function defaultErrorCode(status: number): string {
  return DEFAULT_CODES[status] ?? 'UnknownError';
}

/** `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}` */
export function graphError(ids: RequestIds, code: string, message: string): object {
  return {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString().slice(0, 19),
        'request-id': ids.requestId,
        'client-request-id': ids.clientRequestId,
      },
    },
  };
}

export interface Truncation {
  fraction?: number;
  declareFullLength?: boolean;
}

/** Writes a JSON body; with `truncate`, only its first part (see the `truncate` fault). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, truncate?: Truncation): void {
  const full = Buffer.from(JSON.stringify(body), 'utf8');
  const payload = truncate ? full.subarray(0, Math.floor(full.length * (truncate.fraction ?? 0.5))) : full;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    ...headers,
    'content-length': String(truncate?.declareFullLength ? full.length : payload.length),
  });
  if (truncate?.declareFullLength) {
    res.write(payload, () => res.socket?.destroy());
  } else {
    res.end(payload);
  }
}

export async function readBody(req: IncomingMessage, limitBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new Error(`body larger than ${limitBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
