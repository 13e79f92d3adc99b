import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { z } from 'zod';
import { isStatus } from '../store/tables';
import { badRequest } from './errors';

/**
 * The API's `continuationToken`: opaque to callers, base64url of JSON `{v: 1, c, q, s}` where `c` is the Table SDK's
 * continuation, `q` a hash of the query it belongs to (collection + normalized Table filter) and `s` an HMAC-SHA256
 * of both under a key only the API knows. A forged, altered or foreign token is refused with a 400 before it can
 * steer a Table query.
 *
 * The key is 32 random bytes kept in the SyncState table (PartitionKey `_api`, RowKey `continuationSigningKey`),
 * created on first need and cached per process. Deleting that row invalidates every token handed out.
 */
export const KEY_PARTITION = '_api';
export const KEY_ROW = 'continuationSigningKey';
const MAX_TOKEN_LENGTH = 8192;

const TokenShape = z
  .object({ v: z.literal(1), c: z.string().min(1).max(4096), q: z.string().min(1).max(128), s: z.string().min(1).max(128) })
  .strict();

const keys = new WeakMap<TableClient, Buffer>();
const creating = new WeakMap<TableClient, Promise<Buffer>>();

/** Hash of what a token is bound to: the collection and its normalized Table filter. */
export function queryHash(collection: string, filter: string): string {
  return createHash('sha256')
    .update(JSON.stringify([collection, filter]))
    .digest('base64url');
}

function signature(key: Buffer, q: string, c: string): string {
  return createHmac('sha256', key).update(`v1\n${q}\n${c}`).digest('base64url');
}

export async function issueToken(state: TableClient, q: string, sdkContinuation: string): Promise<string> {
  const key = await signingKey(state, true);
  const token = { v: 1, c: sdkContinuation, q, s: signature(key!, q, sdkContinuation) };
  return Buffer.from(JSON.stringify(token), 'utf8').toString('base64url');
}

/** The SDK continuation carried by a token the API issued for this very query; a 400 for anything else. */
export async function readToken(state: TableClient, token: string, q: string): Promise<string> {
  const invalid = (why: string) =>
    badRequest(`continuationToken ${why}: pass the continuationToken of an @odata.nextLink unchanged, or leave it out to start from the first page`);
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid('is not a token this API issued');
  let parsed: z.infer<typeof TokenShape>;
  try {
    const result = TokenShape.safeParse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    if (!result.success) throw new Error('shape');
    parsed = result.data;
  } catch {
    throw invalid('is not a token this API issued');
  }
  const key = await signingKey(state, false);
  const expected = key ? Buffer.from(signature(key, parsed.q, parsed.c)) : undefined;
  const given = Buffer.from(parsed.s);
  if (!expected || expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw invalid('has an invalid signature (it was altered, or the signing key was replaced)');
  }
  if (parsed.q !== q) throw invalid('belongs to a different query (the collection or a filter changed)');
  return parsed.c;
}

/**
 * The signing key: cached, else read, else (when `create`) created. Two processes creating it at once: the second
 * gets 409 and reads the winner's. Without `create`, a missing key (or SyncState table) gives undefined.
 */
async function signingKey(state: TableClient, create: boolean): Promise<Buffer | undefined> {
  const cached = keys.get(state);
  if (cached) return cached;
  const pending = creating.get(state);
  if (pending) return pending;
  const existing = await readKey(state);
  if (existing || !create) return existing;
  const promise = createKey(state).finally(() => creating.delete(state));
  creating.set(state, promise);
  return promise;
}

async function readKey(state: TableClient): Promise<Buffer | undefined> {
  try {
    const row = await state.getEntity<{ key?: unknown }>(KEY_PARTITION, KEY_ROW);
    const key = typeof row.key === 'string' ? Buffer.from(row.key, 'base64') : undefined;
    if (!key || key.length !== 32) throw new Error(`the ${KEY_PARTITION}/${KEY_ROW} row of the SyncState table holds no 32-byte key`);
    keys.set(state, key);
    return key;
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}

async function createKey(state: TableClient): Promise<Buffer> {
  const key = randomBytes(32);
  try {
    await state.createEntity({
      partitionKey: KEY_PARTITION,
      rowKey: KEY_ROW,
      key: key.toString('base64'),
      createdAt: new Date(),
      purpose: 'Signs the continuationToken values of the snapshot API. Delete this row to invalidate all of them.',
    });
  } catch (error) {
    if (!isStatus(error, 409)) throw error;
    const winner = await readKey(state);
    if (!winner) throw error;
    return winner;
  }
  keys.set(state, key);
  return key;
}
