/**
 * The limits Azure Table Storage enforces and Azurite does not, as Azure documents them ("Understanding the Table
 * service data model", "Performing entity group transactions"), for the storage proxy's Azure-limits mode.
 * - an entity: at most 1 MiB, counted as `4 + 2 * len(PartitionKey + RowKey) + for each property (8 + 2 * len(name) +
 *   the value's size)`, where a string counts `4 + 2 * len` (UTF-16), a DateTime, Double or Int64 8, an Int32 4, a
 *   Guid 16, a Boolean 1 and a Binary its bytes + 4;
 * - a string property: at most 64 KiB in UTF-16 (32K characters);
 * - at most 252 properties besides PartitionKey, RowKey and Timestamp;
 * - an entity group transaction's body: at most 4 MiB as sent.
 */
export interface AzureLimits {
  maxEntityBytes: number;
  maxStringBytes: number;
  maxProperties: number;
  maxBatchBodyBytes: number;
  /** Only requests to these tables are checked (tests lower a limit for one table); absent: every table. */
  tables?: string[];
}

export const AZURE_LIMITS: AzureLimits = {
  maxEntityBytes: 1024 * 1024,
  maxStringBytes: 64 * 1024,
  maxProperties: 252,
  maxBatchBodyBytes: 4 * 1024 * 1024,
};

/** What the check needs of a proxied request. */
export interface LimitedRequest {
  kind: string;
  tables: string[];
  method: string;
  url: string;
  body: string;
}

export interface Refusal {
  status: 400 | 413;
  code: 'EntityTooLarge' | 'PropertyValueTooLarge' | 'TooManyProperties' | 'RequestBodyTooLarge';
  message: string;
  /** The failed operation's index in a batch (Azure prefixes its message with it). */
  operation?: number;
}

const SYSTEM = new Set(['PartitionKey', 'RowKey', 'Timestamp']);
const FIXED_SIZES: Record<string, number> = {
  'Edm.DateTime': 8,
  'Edm.Double': 8,
  'Edm.Int64': 8,
  'Edm.Int32': 4,
  'Edm.Guid': 16,
  'Edm.Boolean': 1,
};

/** Table Storage's count of an entity's size (see above); `keys` are the PartitionKey and RowKey when the body has none. */
export function entitySize(entity: Record<string, unknown>, keys: { partitionKey?: string; rowKey?: string } = {}): number {
  const pk = typeof entity.PartitionKey === 'string' ? entity.PartitionKey : (keys.partitionKey ?? '');
  const rk = typeof entity.RowKey === 'string' ? entity.RowKey : (keys.rowKey ?? '');
  let size = 4 + 2 * (pk.length + rk.length);
  for (const [name, value] of properties(entity)) size += 8 + 2 * name.length + valueSize(value, typeOf(entity, name));
  return size;
}

function properties(entity: Record<string, unknown>): [string, unknown][] {
  return Object.entries(entity).filter(([name]) => !SYSTEM.has(name) && !name.includes('@odata.') && !name.startsWith('odata.'));
}

function typeOf(entity: Record<string, unknown>, name: string): string {
  const annotated = entity[`${name}@odata.type`];
  if (typeof annotated === 'string') return annotated;
  const value = entity[name];
  if (typeof value === 'string') return 'Edm.String';
  if (typeof value === 'boolean') return 'Edm.Boolean';
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? 'Edm.Int32' : 'Edm.Double';
  return 'Edm.String';
}

function valueSize(value: unknown, type: string): number {
  if (type in FIXED_SIZES) return FIXED_SIZES[type]!;
  if (type === 'Edm.Binary') return Buffer.from(String(value), 'base64').length + 4;
  return 4 + 2 * String(value ?? '').length;
}

/** What Azure would refuse in this entity, or undefined. */
export function checkEntity(
  entity: Record<string, unknown>,
  limits: AzureLimits,
  keys: { partitionKey?: string; rowKey?: string } = {},
): Omit<Refusal, 'operation'> | undefined {
  const props = properties(entity);
  if (props.length > limits.maxProperties)
    return {
      status: 400,
      code: 'TooManyProperties',
      message: `The entity contains more properties than allowed. Each entity can include up to ${limits.maxProperties} properties to store data. Each entity also has 3 system properties.`,
    };
  for (const [name, value] of props) {
    if (typeof value === 'string' && typeOf(entity, name) === 'Edm.String' && 2 * value.length > limits.maxStringBytes)
      return {
        status: 400,
        code: 'PropertyValueTooLarge',
        message: `The property value exceeds the maximum allowed size (${limits.maxStringBytes / 1024}KB). If the property value is a string, it is UTF-16 encoded and the maximum number of characters should be ${limits.maxStringBytes / 2048}K or less.`,
      };
  }
  if (entitySize(entity, keys) > limits.maxEntityBytes)
    return {
      status: 400,
      code: 'EntityTooLarge',
      message: `The entity is larger than the maximum allowed size (${limits.maxEntityBytes / 1048576}MB).`,
    };
  return undefined;
}

const KEYS_IN_URL = /\(PartitionKey='((?:[^']|'')*)',\s*RowKey='((?:[^']|'')*)'\)/;

function keysOf(url: string): { partitionKey?: string; rowKey?: string } {
  const m = KEYS_IN_URL.exec(url);
  if (!m) return {};
  const decode = (s: string) => decodeURIComponent(s).replace(/''/g, "'");
  try {
    return { partitionKey: decode(m[1]!), rowKey: decode(m[2]!) };
  } catch {
    return {};
  }
}

/** One operation of a batch body: its request line's URL and its JSON body (absent for a delete or a read). */
interface Operation {
  url: string;
  body?: Record<string, unknown>;
}

/** The operations of an entity group transaction's multipart body, in order. */
export function batchOperations(body: string): Operation[] {
  const operations: Operation[] = [];
  for (const part of body.split(/^--changeset_[^\r\n]*$/m).slice(1)) {
    const line = /^(?:POST|PUT|MERGE|PATCH|DELETE|GET) (\S+) HTTP\/1\.1\r?$/m.exec(part);
    if (!line) continue;
    const afterHeaders = part
      .slice(line.index)
      .split(/\r?\n\r?\n/, 2)[1]
      ?.trim();
    let parsed: Record<string, unknown> | undefined;
    if (afterHeaders?.startsWith('{')) {
      try {
        parsed = JSON.parse(afterHeaders) as Record<string, unknown>;
      } catch {
        parsed = undefined;
      }
    }
    operations.push({ url: line[1]!, body: parsed });
  }
  return operations;
}

/** What Azure would refuse in this request (a single entity write or a batch), or undefined. */
export function checkAzureLimits(request: LimitedRequest, bodyBytes: number, limits: AzureLimits): Refusal | undefined {
  if (limits.tables && !request.tables.some((t) => limits.tables!.includes(t))) return undefined;
  if (request.kind === 'batch') {
    if (bodyBytes > limits.maxBatchBodyBytes)
      return { status: 413, code: 'RequestBodyTooLarge', message: 'The request body is too large and exceeds the maximum permissible limit.' };
    const operations = batchOperations(request.body);
    for (const [i, op] of operations.entries()) {
      if (!op.body) continue;
      const refusal = checkEntity(op.body, limits, keysOf(op.url));
      if (refusal) return { ...refusal, message: `${i}:${refusal.message}`, operation: i };
    }
    return undefined;
  }
  if (request.kind !== 'write' || request.method === 'DELETE' || !request.body.trimStart().startsWith('{')) return undefined;
  try {
    return checkEntity(JSON.parse(request.body) as Record<string, unknown>, limits, keysOf(request.url));
  } catch {
    return undefined;
  }
}

/** Azure's answer to a transaction whose operation `refusal.operation` it refused: 202, the changeset's failure inside. */
export function batchFailure(requestBody: string, refusal: Refusal, requestId: number): { boundary: string; text: string } {
  const id = /--batch_([0-9a-f-]+)/i.exec(requestBody)?.[1] ?? `${requestId}`;
  const boundary = `batchresponse_${id}`;
  const changeset = `changesetresponse_${id}`;
  const error = JSON.stringify({
    'odata.error': {
      code: refusal.code,
      message: { lang: 'en-US', value: `${refusal.message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}` },
    },
  });
  const text = [
    `--${boundary}`,
    `Content-Type: multipart/mixed; boundary=${changeset}`,
    '',
    `--${changeset}`,
    'Content-Type: application/http',
    'Content-Transfer-Encoding: binary',
    '',
    `HTTP/1.1 ${refusal.status} Bad Request`,
    'X-Content-Type-Options: nosniff',
    'Cache-Control: no-cache',
    'DataServiceVersion: 3.0;',
    'Content-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8',
    '',
    error,
    `--${changeset}--`,
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return { boundary, text };
}
