import { randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { QueueClient } from '@azure/storage-queue';
import { z } from 'zod';
import type { Settings } from '../config/settings';

/**
 * The run requests of POST /api/runs: one message per request on the Storage queue RUNS_QUEUE, read by the queue
 * function (src/app/functions.ts) in Azure and by the local host's poller (tools/host/queue.ts) on a workstation.
 *
 * Encoding: the Functions queue trigger decodes base64 by default, and host.json says so explicitly
 * (`extensions.queues.messageEncoding: "base64"`, checked by a test against MESSAGE_ENCODING): a message is the
 * base64 of its UTF-8 JSON. A plain-text message would fail to decode and end in the poison queue.
 */
export const MESSAGE_ENCODING = 'base64';

export interface RunRequest {
  /** The runs to make, in order per collection family (a parent before its children), each with the id POST answered. */
  runs: { collection: string; runId: string }[];
  full: boolean;
  sweep: boolean;
  requestedAt: string;
}

const runRequestSchema = z.strictObject({
  runs: z.array(z.strictObject({ collection: z.string().min(1), runId: z.uuid() })).min(1),
  full: z.boolean(),
  sweep: z.boolean(),
  requestedAt: z.iso.datetime(),
});

export function encodeRunRequest(request: RunRequest): string {
  return Buffer.from(JSON.stringify(request), 'utf8').toString('base64');
}

/** The inverse of encodeRunRequest, for a poller that reads the queue itself (the Functions host decodes for us). */
export function decodeMessageText(text: string): string {
  return Buffer.from(text, 'base64').toString('utf8');
}

/**
 * A queue trigger's input as a run request: the Node worker hands a JSON message over already parsed (an object),
 * other hosts a string. Anything else is an error that names what is wrong (the message then ends in the poison queue).
 */
export function parseRunRequest(input: unknown): RunRequest {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new Error('the run request is not JSON (was it sent base64-encoded, as POST /api/runs does?)');
    }
  }
  const parsed = runRequestSchema.safeParse(value);
  if (!parsed.success) {
    throw new Error(`the run request is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/**
 * A run id that carries the time it was issued (a UUID version 7: 48 bits of Unix milliseconds, then random bits),
 * so that GET /api/runs/{id} reads only the SyncRuns rows started since, and can tell a queued run from an unknown id.
 */
export function newRunId(now: number): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** When a run id of newRunId was issued (ms), or undefined for any other id (a v4 UUID of a timer or CLI run). */
export function issuedAt(runId: string): number | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(runId)) return undefined;
  return parseInt(runId.slice(0, 8) + runId.slice(9, 13), 16);
}

/** Sends run requests; `undefined` from createRunQueue when the deployment has no queue service configured. */
export interface RunQueue {
  readonly name: string;
  send(request: RunRequest): Promise<void>;
}

/** Why there is no run queue: what POST /api/runs answers (503) in that case. */
export const NO_QUEUE =
  'run requests need the Storage queue service: set QUEUE_ENDPOINT (https://<account>.queue.core.windows.net, reached with the app identity) or give TABLES_CONNECTION_STRING a QueueEndpoint';

/**
 * The deployment's queue clients: QUEUE_ENDPOINT with the app's credential (Azure: the managed identity, which has
 * Message Sender on RUNS_QUEUE only, so no queue is ever created here: the template creates them), else the tables'
 * connection string when it names a queue service (Azurite: QueueEndpoint=...; `create`: a queue is created on first use).
 */
export interface QueueClients {
  of(name: string): QueueClient;
  create: boolean;
}

export function queueClients(settings: Settings, credential: () => TokenCredential): QueueClients | undefined {
  const endpoint = settings.queueEndpoint;
  if (endpoint) return { of: (name) => new QueueClient(`${endpoint}/${name}`, credential()), create: false };
  const connectionString = settings.tables.connectionString;
  if (!connectionString || !hasQueueService(connectionString)) return undefined;
  return { of: (name) => new QueueClient(connectionString, name), create: true };
}

/** A connection string reaches a queue service: an explicit QueueEndpoint, the development storage, or an account without explicit endpoints. */
export function hasQueueService(connectionString: string): boolean {
  const keys = connectionString
    .split(';')
    .map((pair) => pair.split('=', 1)[0]!.trim().toLowerCase())
    .filter(Boolean);
  if (keys.includes('queueendpoint') || /(^|;)\s*UseDevelopmentStorage\s*=\s*true/i.test(connectionString)) return true;
  return keys.includes('accountname') && !keys.some((k) => k.endsWith('endpoint'));
}

export function createRunQueue(settings: Settings, credential: () => TokenCredential): RunQueue | undefined {
  const clients = queueClients(settings, credential);
  if (!clients) return undefined;
  const queue = { client: clients.of(settings.runsQueue), create: clients.create };
  let created: Promise<unknown> | undefined;
  return {
    name: settings.runsQueue,
    async send(request) {
      if (queue.create) {
        created ??= queue.client.createIfNotExists().catch((error: unknown) => {
          created = undefined;
          throw error;
        });
        await created;
      }
      await queue.client.sendMessage(encodeRunRequest(request));
    },
  };
}
