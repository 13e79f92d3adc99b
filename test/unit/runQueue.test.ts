import { loadSettings } from '../../src/config/settings';
import {
  decodeMessageText,
  encodeRunRequest,
  hasQueueService,
  issuedAt,
  newRunId,
  parseRunRequest,
  queueClients,
  type RunRequest,
} from '../../src/store/runQueue';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hostMessageEncoding, messageInput } from '../../tools/host/queue';

const request: RunRequest = {
  runs: [{ collection: 'riskDetections', runId: newRunId(Date.parse('2026-01-02T03:04:05.678Z')) }],
  full: true,
  sweep: false,
  requestedAt: '2026-01-02T03:04:05.678Z',
};

describe('run requests on the queue', () => {
  it('run ids are UUIDs version 7 that carry their issue time; other ids carry none', () => {
    const at = Date.parse('2026-01-02T03:04:05.678Z');
    const ids = new Set(Array.from({ length: 50 }, () => newRunId(at)));
    expect(ids.size).toBe(50);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(issuedAt(id)).toBe(at);
    }
    expect(issuedAt('2f0a3c55-6b1e-4c1f-9a57-0d3a0e6b8e21')).toBeUndefined();
    expect(issuedAt('not an id')).toBeUndefined();
  });

  it('a message is the base64 of its JSON, and reads back as the request', () => {
    const text = encodeRunRequest(request);
    expect(text).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(parseRunRequest(JSON.parse(decodeMessageText(text)))).toEqual(request);
    expect(parseRunRequest(messageInput(text, 'base64'))).toEqual(request);
    expect(parseRunRequest(decodeMessageText(text))).toEqual(request);
  });

  it('a malformed request is an error naming the field', () => {
    expect(() => parseRunRequest('{"runs": ')).toThrow('the run request is not JSON');
    expect(() => parseRunRequest({ ...request, runs: [] })).toThrow(/the run request is malformed: runs: /);
    expect(() => parseRunRequest({ ...request, runs: [{ collection: 'riskDetections', runId: 'x' }] })).toThrow(/runs\.0\.runId/);
    expect(() => parseRunRequest({ ...request, extra: 1 })).toThrow(/extra/);
  });

  it("the local host decodes as host.json says: base64 text is refused when it is not base64; 'none' hands the text on", () => {
    expect(() => messageInput('{"runs": []}', 'base64')).toThrow('the message is not base64');
    expect(messageInput('{"a": 1}', 'none')).toEqual({ a: 1 });
    expect(messageInput('plain', 'none')).toBe('plain');
  });

  it("the local host reads the encoding from the nearest host.json: the repository's says base64", () => {
    expect(hostMessageEncoding(__dirname)).toBe('base64');
    const dir = mkdtempSync(path.join(tmpdir(), 'host-json-'));
    try {
      mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
      writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ extensions: { queues: { messageEncoding: 'none' } } }));
      expect(hostMessageEncoding(path.join(dir, 'a', 'b'))).toBe('none');
      writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
      expect(hostMessageEncoding(dir)).toBe('base64');
      writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ extensions: { queues: { messageEncoding: 'utf8' } } }));
      expect(() => hostMessageEncoding(dir)).toThrow('extensions.queues.messageEncoding must be base64 or none, got utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the queue service: QUEUE_ENDPOINT, else a connection string that names one', () => {
    expect(
      hasQueueService(
        'DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;TableEndpoint=http://127.0.0.1:1/a;QueueEndpoint=http://127.0.0.1:2/a;',
      ),
    ).toBe(true);
    expect(hasQueueService('DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;TableEndpoint=http://127.0.0.1:1/a;')).toBe(false);
    expect(hasQueueService('UseDevelopmentStorage=true')).toBe(true);
    expect(hasQueueService('DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net')).toBe(true);
    const tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    const withEndpoint = loadSettings({
      AZURE_TENANT_ID: tenant,
      TABLES_ENDPOINT: 'https://a.table.core.windows.net',
      QUEUE_ENDPOINT: 'https://a.queue.core.windows.net/',
    });
    const clients = queueClients(withEndpoint, () => ({ getToken: async () => null }))!;
    expect(clients.create).toBe(false);
    expect(clients.of(withEndpoint.runsQueue).url).toBe('https://a.queue.core.windows.net/sync-run-requests');
    expect(
      queueClients(loadSettings({ AZURE_TENANT_ID: tenant, TABLES_ENDPOINT: 'https://a.table.core.windows.net' }), () => ({
        getToken: async () => null,
      })),
    ).toBeUndefined();
  });
});
