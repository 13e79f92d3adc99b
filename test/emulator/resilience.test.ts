/** Throttling, injected faults, late visibility and shutdown. */
import { type GraphEmulator, generateRiskDetections, startGraphEmulator } from '../../tools/emulator/index.js';
import { expectGraphError, getAllPages, graphGet, ids, sleep } from './helpers.js';

const DETECTIONS = '/v1.0/identityProtection/riskDetections';
const FROM = new Date('2026-01-01T00:00:00Z');
const TO = new Date('2026-03-01T00:00:00Z');

let emulator: GraphEmulator;
let token: string;

beforeAll(async () => {
  emulator = await startGraphEmulator({ seed: 9, throttling: false });
  token = emulator.issueToken().token;
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.clear();
  emulator.faults.clear();
  emulator.setThrottling({ enabled: false, rps: 1 });
  emulator.resetStats();
  emulator.upsert('riskDetections', generateRiskDetections(30, { seed: 2, from: FROM, to: TO }));
});

const get = (pathOrUrl: string, headers: Record<string, string> = {}) => graphGet(emulator, pathOrUrl, { token, headers });

describe('throttling', () => {
  it('answers 429 TooManyRequests without Retry-After within 1 s of the last accepted request, and recovers', async () => {
    emulator.setThrottling({ enabled: true });
    expect((await get(DETECTIONS)).status).toBe(200);
    const accepted = performance.now(); // the server accepted it a little earlier
    const refused = await get(DETECTIONS);
    expect(expectGraphError(refused, 429, 'TooManyRequests')).toBeTruthy();
    expect(refused.headers.get('retry-after')).toBeNull();
    expect((await get(DETECTIONS)).status).toBe(429); // 429s do not consume the budget...
    await sleep(1000 - (performance.now() - accepted));
    expect((await get(DETECTIONS)).status).toBe(200); // ...so 1 s after the accepted one, the next is accepted
    expect((await get(DETECTIONS)).status).toBe(429);
    const stats = emulator.stats();
    expect(stats.throttled).toBe(3);
    expect(stats.accepted).toBe(2);
    expect(stats.requests.riskDetections).toEqual({ '200': 2, '429': 3 });
  });

  it('follows the configured rate (the window arithmetic is in units.test.ts; nothing here depends on speed)', async () => {
    emulator.setThrottling({ enabled: true, rps: 0.01 }); // one request per 100 s
    expect((await get(DETECTIONS)).status).toBe(200);
    expect((await get(DETECTIONS)).status).toBe(429);
    emulator.setThrottling({ rps: 50 }); // a fresh window of 20 ms
    for (let i = 0; i < 3; i++) {
      expect((await get(DETECTIONS)).status).toBe(200);
      await sleep(25);
    }
  });

  it('does not count 401s against the budget', async () => {
    emulator.setThrottling({ enabled: true });
    expect((await graphGet(emulator, DETECTIONS, { token: null })).status).toBe(401);
    expect((await get(DETECTIONS)).status).toBe(200);
  });
});

describe('faults', () => {
  it('status: 503 with Retry-After, count-limited, Graph-shaped', async () => {
    emulator.faults.add({ kind: 'status', status: 503, retryAfterSeconds: 7, count: 2 });
    for (let i = 0; i < 2; i++) {
      const response = await get(DETECTIONS);
      expectGraphError(response, 503, 'ServiceUnavailable');
      expect(response.headers.get('retry-after')).toBe('7');
    }
    expect((await get(DETECTIONS)).status).toBe(200);
    expect(emulator.stats().faults.graph).toEqual({ status: 2 });
  });

  it('status: 504, 500 and 429 (without Retry-After), with a custom code', async () => {
    emulator.faults.add({ kind: 'status', status: 504, count: 1 });
    emulator.faults.add({ kind: 'status', status: 500, count: 1, code: 'generalException' });
    emulator.faults.add({ kind: 'status', status: 429, count: 1 });
    expectGraphError(await get(DETECTIONS), 504, 'GatewayTimeout');
    expectGraphError(await get(DETECTIONS), 500, 'generalException');
    const throttled = await get(DETECTIONS);
    expectGraphError(throttled, 429, 'TooManyRequests');
    expect(throttled.headers.get('retry-after')).toBeNull();
  });

  it('reset: the socket is destroyed without an answer', async () => {
    emulator.faults.add({ kind: 'reset', count: 1 });
    await expect(get(DETECTIONS)).rejects.toThrow(/fetch failed/);
    expect((await get(DETECTIONS)).status).toBe(200);
    expect(emulator.stats().requests.riskDetections).toEqual({ reset: 1, '200': 1 });
  });

  it('slow: the answer comes after the delay', async () => {
    emulator.faults.add({ kind: 'slow', delayMs: 300, count: 1 });
    const started = performance.now();
    expect((await get(DETECTIONS)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('truncate: 200 with a cut JSON body, or a body cut short of its Content-Length', async () => {
    emulator.faults.add({ kind: 'truncate', count: 1 });
    const cut = await fetch(`${emulator.graphUrl}${DETECTIONS}`, { headers: { authorization: `Bearer ${token}` } });
    expect(cut.status).toBe(200);
    const text = await cut.text();
    expect(text.startsWith('{"@odata.context"')).toBe(true);
    expect(() => JSON.parse(text)).toThrow(SyntaxError);

    emulator.faults.add({ kind: 'truncate', declareFullLength: true, fraction: 0.3, count: 1 });
    const short = await fetch(`${emulator.graphUrl}${DETECTIONS}`, { headers: { authorization: `Bearer ${token}` } });
    expect(short.status).toBe(200);
    await expect(short.text()).rejects.toThrow();
    expect(emulator.stats().faults.graph).toEqual({ truncate: 2 });
  });

  it('can target next links only, and a failed next link can be retried', async () => {
    emulator.faults.add({ kind: 'status', status: 503, nextLinkOnly: true, count: 1 });
    const first = await get(`${DETECTIONS}?$top=10`);
    expect(first.status).toBe(200);
    const link = first.body['@odata.nextLink'];
    expectGraphError(await get(link), 503, 'ServiceUnavailable');
    const pages = await getAllPages(emulator, link, { token });
    expect(new Set([...ids(first), ...pages.flatMap(ids)]).size).toBe(30);
  });

  it('can target one collection', async () => {
    emulator.faults.add({ kind: 'status', status: 500, collection: 'riskyUsers' });
    expect((await get(DETECTIONS)).status).toBe(200);
    expect((await get('/v1.0/identityProtection/riskyUsers')).status).toBe(500);
  });

  it('probability: reproducible from the seed', async () => {
    const pattern = async (): Promise<number[]> => {
      const other = await startGraphEmulator({ seed: 'faults', throttling: false });
      try {
        other.faults.add({ kind: 'status', status: 503, probability: 0.5 });
        const statuses: number[] = [];
        for (let i = 0; i < 20; i++) statuses.push((await graphGet(other, DETECTIONS)).status);
        return statuses;
      } finally {
        await other.close();
      }
    };
    const first = await pattern();
    expect(await pattern()).toEqual(first);
    expect(first).toContain(503);
    expect(first).toContain(200);
  });

  it('can expire after a duration', async () => {
    emulator.faults.add({ kind: 'status', status: 503, durationMs: 100 });
    expect((await get(DETECTIONS)).status).toBe(503);
    await sleep(120);
    expect((await get(DETECTIONS)).status).toBe(200);
  });

  it('do not consume the throttle budget', async () => {
    emulator.setThrottling({ enabled: true });
    emulator.faults.add({ kind: 'status', status: 503, count: 1 });
    emulator.faults.add({ kind: 'truncate', count: 1 });
    expect((await get(DETECTIONS)).status).toBe(503);
    expect((await fetch(`${emulator.graphUrl}${DETECTIONS}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await get(DETECTIONS)).status).toBe(200); // the first request to reach the throttle
    expect((await get(DETECTIONS)).status).toBe(429);
  });
});

describe('late visibility', () => {
  it('serves a record only after its delay, although its timestamps are older', async () => {
    emulator.clear();
    emulator.upsert('riskDetections', { id: 'now', lastUpdatedDateTime: '2026-02-01T00:00:00Z' });
    emulator.upsert('riskDetections', { id: 'late', lastUpdatedDateTime: '2026-01-01T00:00:00Z' }, { visibleAfterMs: 2000 });
    const filter = `${DETECTIONS}?$filter=${encodeURIComponent('lastUpdatedDateTime ge 2025-12-01T00:00:00Z')}`;
    expect(ids(await get(filter))).toEqual(['now']);
    expect((await get(`${DETECTIONS}/late`)).status).toBe(404);
    expect(
      emulator
        .list('riskDetections')
        .map((r) => r.id)
        .sort(),
    ).toEqual(['late', 'now']);
    expect(emulator.list('riskDetections', { visibleOnly: true }).map((r) => r.id)).toEqual(['now']);
    await sleep(2020);
    expect(ids(await get(filter)).sort()).toEqual(['late', 'now']);
  });

  it('keeps serving the previous version until a late update surfaces', async () => {
    emulator.clear();
    emulator.upsert('riskDetections', { id: 'd', riskLevel: 'low', lastUpdatedDateTime: '2026-01-01T00:00:00Z' });
    emulator.upsert('riskDetections', { id: 'd', riskLevel: 'high', lastUpdatedDateTime: '2026-01-02T00:00:00Z' }, { visibleAfterMs: 1500 });
    expect((await get(`${DETECTIONS}/d`)).body.riskLevel).toBe('low');
    expect(emulator.get('riskDetections', 'd')!.riskLevel).toBe('high');
    expect(emulator.get('riskDetections', 'd', { visibleOnly: true })!.riskLevel).toBe('low');
    await sleep(1520);
    expect((await get(`${DETECTIONS}/d`)).body.riskLevel).toBe('high');
  });
});

describe('close()', () => {
  it('closes both listeners even with a request pending', async () => {
    const other = await startGraphEmulator({ throttling: false });
    other.faults.add({ kind: 'slow', delayMs: 10_000 });
    const pending = graphGet(other, DETECTIONS).then(
      () => 'answered',
      () => 'failed',
    );
    await sleep(50);
    const started = performance.now();
    await other.close();
    // The pending request would hold close() for 10 s; well under that, with room for a loaded machine.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await pending).toBe('failed');
    await expect(fetch(`${other.graphUrl}${DETECTIONS}`)).rejects.toThrow();
    await expect(fetch(other.identityEndpoint)).rejects.toThrow();
    await other.close(); // idempotent
  });
});
