import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueClient } from '@azure/storage-queue';
import { InvocationContext } from '@azure/functions';
import { odata } from '@azure/data-tables';
import { buildFunctions, RUN_REQUESTS, type QueueFunction } from '../../src/app/functions';
import { fixedServices } from '../../src/app/services';
import { createRunQueue, issuedAt, MESSAGE_ENCODING, newRunId, queueClients, type RunRequest } from '../../src/store/runQueue';
import type { SyncService } from '../../src/sync/service';
import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { startLocalHost, type LocalHost } from '../../tools/host/localHost';
import { messageInput } from '../../tools/host/queue';
import { quietLogger, startHarness, type Harness } from '../support/harness';
import { apiUrl, getJson } from './helpers';

/**
 * Run now, from the API: POST /api/runs -> a base64 message on RUNS_QUEUE (Azurite's queue service) -> the local
 * host's poller -> the queue function runs the engine with the ids the POST answered -> GET /api/runs/{id}, all over
 * the wire.
 */
const DAY = 86_400_000;
const TERMINAL = ['succeeded', 'partial', 'failed', 'skipped', 'unlicensed', 'forbidden', 'interrupted'];

interface Accepted {
  runs: { collection: string; runId: string; outcome: string; href: string }[];
  full: boolean;
  sweep: boolean;
  requestedAt: string;
}

describe('POST /api/runs, the run queue and GET /api/runs', () => {
  let h: Harness;
  let service: SyncService;
  /** Serves the API without polling the queue: requests wait there. */
  let front: LocalHost;
  /** Polls the queue (in this process). */
  let worker: LocalHost;
  const hosts: LocalHost[] = [];
  const errors: string[] = [];
  const now = Date.now();
  const users = generateRiskyUsers(12, { seed: 31, from: new Date(now - 10 * DAY), to: new Date(now - 3_600_000) });
  const detections = generateRiskDetections(60, { seed: 31, users, from: new Date(now - 10 * DAY), to: new Date(now - 3_600_000) });
  const log = { ...quietLogger, error: (...a: unknown[]) => void errors.push(a.map(String).join(' ')) };

  const queue = () => new QueueClient(h.azurite.connectionString, h.settings().runsQueue);
  const start = async (poll: boolean, runQueue = true): Promise<LocalHost> => {
    const settings = h.settings();
    const functions = buildFunctions(settings, fixedServices(service, { runQueue: runQueue ? createRunQueue(settings, () => never()) : undefined }));
    const host = await startLocalHost({ functions, port: 0, queues: poll ? queueClients(settings, () => never()) : undefined, log });
    hosts.push(host);
    return host;
  };
  const post = async (host: LocalHost, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
    const response = await fetch(apiUrl(host, 'runs'), { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  };
  /** GET /api/runs/{id} until the run has ended. */
  const ended = async (host: LocalHost, runId: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const answer = await getJson(apiUrl(host, `runs/${runId}`));
      expect(answer.status).toBe(200);
      if (TERMINAL.includes(answer.body.outcome as string)) return answer.body;
      await sleep(100);
    }
  };

  beforeAll(async () => {
    h = await startHarness({ azurite: { queue: true } });
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
    service = h.service();
    front = await start(false);
  });
  afterAll(async () => {
    for (const host of hosts) await host.close();
    await h?.close();
  });

  it('host.json decodes base64 messages, which is what the POST sends', () => {
    const host = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'host.json'), 'utf8')) as {
      extensions: { queues: { messageEncoding?: string } };
    };
    expect(host.extensions.queues.messageEncoding).toBe(MESSAGE_ENCODING);
    expect(MESSAGE_ENCODING).toBe('base64');
  });

  it('POST answers 202 with a run id per collection (children after their parent); the request waits base64-encoded; GET says queued', async () => {
    const answer = await post(front, {});
    expect(answer.status).toBe(202);
    const body = answer.body as unknown as Accepted;
    expect(body.runs.map((r) => r.collection)).toEqual(['riskDetections', 'riskyUsers', 'riskyUserHistory']);
    expect(new Set(body.runs.map((r) => r.runId)).size).toBe(3);
    for (const run of body.runs) {
      expect(run.outcome).toBe('queued');
      expect(run.href).toBe(`/api/runs/${run.runId}`);
      expect(Math.abs(issuedAt(run.runId)! - Date.parse(body.requestedAt))).toBeLessThanOrEqual(1);
    }
    expect(answer.headers.get('location')).toBe(body.runs[0]!.href);
    expect(body).toMatchObject({ full: false, sweep: false });

    const peeked = await queue().peekMessages({ numberOfMessages: 32 });
    expect(peeked.peekedMessageItems).toHaveLength(1);
    const text = peeked.peekedMessageItems[0]!.messageText;
    expect(text).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const message = JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as RunRequest;
    expect(message).toEqual({
      runs: body.runs.map(({ collection, runId }) => ({ collection, runId })),
      full: false,
      sweep: false,
      requestedAt: body.requestedAt,
    });

    const status = await getJson(apiUrl(front, `runs/${body.runs[1]!.runId}`));
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ runId: body.runs[1]!.runId, outcome: 'queued', requestedAt: body.requestedAt });
  });

  it("the local host's poller takes the request: the runs have the POST's ids and trigger api, and GET shows them", async () => {
    const waiting = (await queue().peekMessages()).peekedMessageItems[0]!;
    const request = messageInput(waiting.messageText, 'base64') as RunRequest;
    worker = await start(true);
    expect(worker.polls(RUN_REQUESTS)).toBe(true);
    for (const { collection, runId } of request.runs) {
      const run = await ended(front, runId);
      expect(run).toMatchObject({ runId, collection, trigger: 'api', outcome: 'succeeded', full: false, sweep: false });
      expect(run.startedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
      expect(typeof run.read).toBe('number');
      expect(typeof run.full).toBe('boolean');
      expect(run).not.toHaveProperty('partitionKey');
    }
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));
    // The parent ran before its child.
    const users = await ended(front, request.runs[1]!.runId);
    const history = await ended(front, request.runs[2]!.runId);
    expect(Date.parse(history.startedAt as string)).toBeGreaterThanOrEqual(Date.parse(users.finishedAt as string));
    // The message is gone once handled.
    for (;;) {
      const left = await queue().peekMessages();
      if (left.peekedMessageItems.length === 0) break;
      await sleep(100);
    }

    const list = await getJson<{ value: Record<string, unknown>[] }>(apiUrl(front, 'runs', { last: '2' }));
    expect(list.status).toBe(200);
    expect(list.body.value).toHaveLength(2);
    const starts = list.body.value.map((r) => Date.parse(r.startedAt as string));
    expect(starts[0]).toBeGreaterThanOrEqual(starts[1]!);
    const one = await getJson<{ value: Record<string, unknown>[] }>(apiUrl(front, 'runs', { collection: 'riskdetections' }));
    expect(one.body.value.map((r) => r.runId)).toEqual([request.runs[0]!.runId]);
    expect(errors).toEqual([]);
  });

  it('one collection with full: one run (and its children), a full pass', async () => {
    const answer = await post(front, { collection: 'riskDetections', full: true });
    expect(answer.status).toBe(202);
    const body = answer.body as unknown as Accepted;
    expect(body.runs.map((r) => r.collection)).toEqual(['riskDetections']);
    expect(await ended(front, body.runs[0]!.runId)).toMatchObject({ collection: 'riskDetections', trigger: 'api', full: true, outcome: 'succeeded' });
    const withChildren = await post(front, { collection: 'riskyUsers', sweep: true });
    expect((withChildren.body as unknown as Accepted).runs.map((r) => r.collection)).toEqual(['riskyUsers', 'riskyUserHistory']);
    for (const run of (withChildren.body as unknown as Accepted).runs) expect(await ended(front, run.runId)).toMatchObject({ sweep: true });
  });

  it('a message delivered again does not run its ids a second time', async () => {
    const fn = buildFunctions(h.settings(), fixedServices(service)).find((f): f is QueueFunction => f.kind === 'queue')!;
    const runId = newRunId(Date.now());
    const message: RunRequest = { runs: [{ collection: 'riskDetections', runId }], full: false, sweep: false, requestedAt: new Date().toISOString() };
    const warnings: string[] = [];
    const context = new InvocationContext({
      functionName: fn.name,
      logHandler: (level, ...args) => void (level === 'warning' && warnings.push(args.map(String).join(' '))),
    });
    await fn.handler(message, context);
    await fn.handler(JSON.stringify(message), context); // a string, as a host that does not parse JSON hands it over
    const rows = [];
    for await (const row of h.table(h.settings().runsTable).listEntities({ queryOptions: { filter: odata`runId eq ${runId}` } })) rows.push(row);
    expect(rows).toHaveLength(1);
    expect(warnings.join('\n')).toContain(`run ${runId} was started by an earlier delivery of its request: not run again`);
  });

  it('a message that is not base64 JSON ends in the poison queue after five deliveries, and nothing runs', async () => {
    const before = (await getJson<{ value: unknown[] }>(apiUrl(front, 'runs', { last: '100' }))).body.value.length;
    errors.length = 0;
    await queue().sendMessage('{"runs": "not base64"}');
    const poison = new QueueClient(h.azurite.connectionString, `${h.settings().runsQueue}-poison`);
    for (;;) {
      if ((await poison.createIfNotExists(), (await poison.peekMessages()).peekedMessageItems.length) > 0) break;
      await sleep(100);
    }
    expect((await poison.peekMessages()).peekedMessageItems[0]!.messageText).toBe('{"runs": "not base64"}');
    expect(errors.some((e) => e.includes('the message is not base64'))).toBe(true);
    expect(errors.at(-1)).toContain('failed 5 times');
    expect((await getJson<{ value: unknown[] }>(apiUrl(front, 'runs', { last: '100' }))).body.value.length).toBe(before);
    errors.length = 0;
  });

  it('bad requests are 400s that name the problem', async () => {
    const bad = async (body: unknown, expected: string, headers?: Record<string, string>) => {
      const answer = await post(front, body, headers);
      expect(answer.status).toBe(400);
      expect((answer.body.error as { message: string }).message).toContain(expected);
    };
    await bad({ collection: 'riskEvents' }, "unknown collection 'riskEvents': accepted collections are riskDetections, riskyUsers, riskyUserHistory");
    await bad({ collection: 'riskDetections', fast: true }, "unknown field 'fast' in the body: accepted fields are collection, full, sweep");
    await bad({ full: 'yes' }, "'full' must be true or false");
    await bad({ full: true, sweep: true }, "give 'full' or 'sweep', not both");
    await bad('collection=riskDetections', 'the body must be a JSON object', { 'content-type': 'application/x-www-form-urlencoded' });
    await bad('[1]', 'the body must be a JSON object');

    const notId = await getJson(apiUrl(front, 'runs/latest'));
    expect(notId.status).toBe(400);
    expect(JSON.stringify(notId.body)).toContain("'latest' is not a run id: run ids are UUIDs");
    const unknown = await getJson(apiUrl(front, 'runs/2f0a3c55-6b1e-4c1f-9a57-0d3a0e6b8e21'));
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).toContain("no run with id '2f0a3c55-6b1e-4c1f-9a57-0d3a0e6b8e21'");
    const old = newRunId(Date.now() - 8 * DAY);
    expect((await getJson(apiUrl(front, `runs/${old}`))).status).toBe(404);
    for (const last of ['0', '101', 'ten', '1.5']) {
      const answer = await getJson(apiUrl(front, 'runs', { last }));
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.body)).toContain("'last' must be a whole number from 1 to 100");
    }
    const collection = await getJson(apiUrl(front, 'runs', { collection: 'x' }));
    expect(JSON.stringify(collection.body)).toContain("unknown collection 'x': accepted collections are");
  });

  it('without a queue service the POST is a 503 that says what to set', async () => {
    const host = await start(false, false);
    // An empty body is every collection: accepted, then refused for want of a queue.
    const response = await fetch(apiUrl(host, 'runs'), { method: 'POST' });
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('ServiceUnavailable');
    expect(body.error.message).toContain('set QUEUE_ENDPOINT');
    expect((await post(host, { collection: 'nope' })).status).toBe(400);
  });

  it('`risk-sync serve` (the built CLI) sends to and polls the same queue: POST -> run -> GET', async () => {
    await worker.close(); // the only poller now is the child's
    const child = h.spawnCli(['serve', '--port', '0']);
    let stderr = '';
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const listening = /local Functions host on (http:\/\/\S+)/.exec(stderr);
        if (listening && /^ {2}health: /m.test(stderr)) resolve(listening[1]!);
      });
      void exit.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    expect(stderr).toMatch(/^ {2}runRequests: queue 'sync-run-requests'$/m);
    expect(stderr).toMatch(/^ {2}requestRun: \[POST\] http:\/\/127\.0\.0\.1:\d+\/api\/runs$/m);
    const served = { url } as LocalHost;
    const answer = await post(served, { collection: 'riskDetections' });
    expect(answer.status).toBe(202);
    const [run] = (answer.body as unknown as Accepted).runs;
    expect(await ended(served, run!.runId)).toMatchObject({ runId: run!.runId, trigger: 'api', outcome: 'succeeded' });
    child.kill('SIGINT');
    expect(await exit).toBe(0);
  });
});

function never(): never {
  throw new Error('the connection string is used, never a credential');
}
