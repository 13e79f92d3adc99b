import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fixedRateLoad, percentiles } from '../../bench/fixedRateLoad';

/** A server that notes when each request arrived and answers `status` after `delayMs(index)` (0: at once). */
async function server(delayMs: (index: number) => number = () => 0, status = 200) {
  const arrivals: number[] = [];
  const held = new Set<NodeJS.Timeout>();
  const s = http.createServer((request, response) => {
    const index = arrivals.push(performance.now()) - 1;
    const answer = () => {
      response.statusCode = status;
      response.end('ok');
    };
    const delay = delayMs(index);
    if (delay <= 0) return answer();
    const timer = setTimeout(() => {
      held.delete(timer);
      answer();
    }, delay);
    held.add(timer);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/`;
  const close = () => {
    for (const timer of held) clearTimeout(timer);
    s.closeAllConnections();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return { url, arrivals, close };
}

describe('fixedRateLoad', () => {
  it('sends rate x seconds requests, each not before its turn (spread over the second, not one burst)', async () => {
    const target = await server();
    try {
      const before = performance.now();
      const result = await fixedRateLoad({ url: target.url, rate: 20, seconds: 1 });
      expect(result).toMatchObject({ requests: 20, errors: 0, timeouts: 0, non2xx: 0, statuses: { '200': 20 } });
      expect(target.arrivals).toHaveLength(20);
      // Request i is due 50 ms after request i - 1: it can not arrive sooner after the start.
      target.arrivals.forEach((at, i) => expect(at - before).toBeGreaterThanOrEqual(i * 50 - 1));
    } finally {
      await target.close();
    }
  });

  it('counts latency from when a request was due: a stalled answer is charged to the requests that waited behind it', async () => {
    // One connection; the first answer takes 300 ms. The requests due at 50, 100 and 150 ms can not go before it, so
    // the third highest latency is at least 150 ms. Timed from when they went out, they would take about 1 ms.
    const target = await server((index) => (index === 0 ? 300 : 0));
    try {
      const result = await fixedRateLoad({ url: target.url, rate: 20, seconds: 1, connections: 1 });
      expect(result.requests).toBe(20);
      expect(result.errors).toBe(0);
      expect(result.latencyMs.max).toBeGreaterThanOrEqual(299);
      expect(result.latencyMs.p90).toBeGreaterThanOrEqual(149);
    } finally {
      await target.close();
    }
  });

  it('counts dropped connections as errors, answers that do not come in time as timeouts, and answers other than 2xx apart', async () => {
    const dropping = http.createServer();
    dropping.on('connection', (socket) => socket.destroy());
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    try {
      const dropped = await fixedRateLoad({ url: `http://127.0.0.1:${(dropping.address() as AddressInfo).port}/`, rate: 10, seconds: 0.5 });
      expect(dropped).toMatchObject({ requests: 5, errors: 5, timeouts: 0, non2xx: 0, statuses: {} });
    } finally {
      await new Promise<void>((resolve) => dropping.close(() => resolve()));
    }

    // Every answer is held past the timeout: counted once each, as timeouts, and in no status or latency.
    const silent = await server(() => 2_000);
    try {
      const result = await fixedRateLoad({ url: silent.url, rate: 10, seconds: 0.3, timeoutMs: 200 });
      expect(result).toMatchObject({ requests: 3, errors: 0, timeouts: 3, non2xx: 0, statuses: {} });
      expect(Number.isNaN(result.latencyMs.p99)).toBe(true);
    } finally {
      await silent.close();
    }

    const missing = await server(() => 0, 404);
    try {
      const result = await fixedRateLoad({ url: missing.url, rate: 10, seconds: 0.5 });
      expect(result).toMatchObject({ requests: 5, errors: 0, non2xx: 5, statuses: { '404': 5 } });
    } finally {
      await missing.close();
    }
  });

  it('names bad options', async () => {
    await expect(fixedRateLoad({ url: 'http://127.0.0.1:1/', rate: 0, seconds: 1 })).rejects.toThrow(/rate and seconds must be positive/);
    await expect(fixedRateLoad({ url: 'http://127.0.0.1:1/', rate: 1, seconds: 0.1 })).rejects.toThrow(/is no request/);
  });
});

describe('percentiles', () => {
  it('takes the nearest rank', () => {
    expect(percentiles(Array.from({ length: 100 }, (_, i) => 100 - i))).toEqual({ avg: 50.5, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(percentiles([7])).toEqual({ avg: 7, p50: 7, p90: 7, p99: 7, max: 7 });
    expect(Number.isNaN(percentiles([]).p99)).toBe(true);
  });
});
