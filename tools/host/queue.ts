import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InvocationContext } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import type { QueueFunction } from '../../src/app/functions';
import type { Logger } from '../../src/domain/logger';

/**
 * The local host's stand-in for the Functions queue trigger: polls a Storage queue (Azurite's locally) and hands each
 * message to the queue function's handler as the Functions host does: decoded as host.json's
 * `extensions.queues.messageEncoding` says (base64 by default), parsed when it is JSON, deleted once the handler
 * returns; a handler that throws gets the message again, up to `maxDequeueCount` deliveries (5, the Functions
 * default), after which it goes to `<queue>-poison`.
 */
export type MessageEncoding = 'base64' | 'none';

export interface QueuePollerOptions {
  fn: QueueFunction;
  /** A client of the named queue (the function's queue, and its poison queue `<name>-poison`). */
  queue: (name: string) => QueueClient;
  /** Create the queue (and the poison queue) if missing: with a connection string (Azurite), never with an identity. */
  create: boolean;
  messageEncoding?: MessageEncoding;
  context: () => InvocationContext;
  log: Logger;
  /** Aborted when the host closes: the handler's runs checkpoint and stop. */
  signal: AbortSignal;
  maxDequeueCount?: number;
  /** How long a message taken stays invisible to other readers while it is handled (the Functions function timeout). */
  visibilityTimeoutSeconds?: number;
  /** Polling interval bounds: the shortest after a message, doubling while the queue is empty up to the longest. */
  minPollMs?: number;
  maxPollMs?: number;
}

export interface QueuePoller {
  /** Resolves once the loop has stopped (after the message being handled, if any). */
  stopped: Promise<void>;
}

/** host.json's queue message encoding (the nearest host.json above this module), `base64` when it says none. */
export function hostMessageEncoding(from: string = __dirname): MessageEncoding {
  for (let dir = from, i = 0; i < 6; i++, dir = path.dirname(dir)) {
    const file = path.join(dir, 'host.json');
    if (!existsSync(file)) continue;
    const host = JSON.parse(readFileSync(file, 'utf8')) as { extensions?: { queues?: { messageEncoding?: string } } };
    const encoding = host.extensions?.queues?.messageEncoding ?? 'base64';
    if (encoding !== 'base64' && encoding !== 'none')
      throw new Error(`${file}: extensions.queues.messageEncoding must be base64 or none, got ${encoding}`);
    return encoding;
  }
  return 'base64';
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The handler's input from a message's text, as the Functions host makes it; throws for text that is not base64 when base64 is expected. */
export function messageInput(text: string, encoding: MessageEncoding): unknown {
  let decoded = text;
  if (encoding === 'base64') {
    if (text.length % 4 !== 0 || !BASE64.test(text)) throw new Error('the message is not base64 (host.json expects base64-encoded messages)');
    decoded = Buffer.from(text, 'base64').toString('utf8');
  }
  try {
    return JSON.parse(decoded) as unknown;
  } catch {
    return decoded;
  }
}

export function startQueuePoller(options: QueuePollerOptions): QueuePoller {
  const { fn, log, signal } = options;
  const client = options.queue(fn.queueName);
  const encoding = options.messageEncoding ?? hostMessageEncoding();
  const maxDequeueCount = options.maxDequeueCount ?? 5;
  const visibilityTimeout = options.visibilityTimeoutSeconds ?? 600;
  const minPollMs = options.minPollMs ?? 100;
  const maxPollMs = options.maxPollMs ?? 2000;
  /** Polling failed last time: said once, until the queue answers again. */
  let failing = false;

  async function handle(message: { messageId: string; popReceipt: string; messageText: string; dequeueCount: number }): Promise<void> {
    try {
      await fn.handler(messageInput(message.messageText, encoding), options.context(), signal);
      await client.deleteMessage(message.messageId, message.popReceipt);
    } catch (error) {
      const reason = (error as Error).message;
      if (message.dequeueCount >= maxDequeueCount) {
        log.error(`${fn.name}: message ${message.messageId} failed ${message.dequeueCount} times (${reason}): moved to ${fn.queueName}-poison`);
        const target = options.queue(`${fn.queueName}-poison`);
        if (options.create) await target.createIfNotExists();
        await target.sendMessage(message.messageText);
        await client.deleteMessage(message.messageId, message.popReceipt);
      } else {
        log.error(`${fn.name}: message ${message.messageId} failed (delivery ${message.dequeueCount} of ${maxDequeueCount}): ${reason}`);
        await client.updateMessage(message.messageId, message.popReceipt, undefined, 0);
      }
    }
  }

  async function loop(): Promise<void> {
    let wait = minPollMs;
    let created = false;
    while (!signal.aborted) {
      try {
        if (options.create && !created) {
          await client.createIfNotExists();
          created = true;
        }
        const { receivedMessageItems } = await client.receiveMessages({ numberOfMessages: 1, visibilityTimeout });
        if (failing) log.info(`${fn.name}: the queue answers again`);
        failing = false;
        const message = receivedMessageItems[0];
        if (message) {
          await handle(message);
          wait = minPollMs;
          continue;
        }
        wait = Math.min(wait * 2, maxPollMs);
      } catch (error) {
        if (signal.aborted) break;
        if (!failing) log.warn(`${fn.name}: polling ${fn.queueName} failed (${(error as Error).message.split('\n', 1)[0]}); trying again`);
        failing = true;
        wait = maxPollMs;
      }
      await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
  }

  return { stopped: loop() };
}
