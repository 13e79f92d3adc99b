import { Pacer } from '../../src/graph/pacer';

describe('Pacer', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  /** Sends a request that is answered `rttMs` after it was let go; resolves with the send time. */
  const request = (pacer: Pacer, rttMs: number) =>
    pacer.acquire().then(async (answered) => {
      const sentAt = Date.now();
      await new Promise((r) => setTimeout(r, rttMs));
      answered();
      return sentAt;
    });

  it('gives each caller the next slot, just under the budget', async () => {
    const pacer = new Pacer(1);
    await jest.advanceTimersByTimeAsync(0);
    const first = request(pacer, 10);
    await jest.advanceTimersByTimeAsync(20);
    const times = [await first];
    const rest = [request(pacer, 10), request(pacer, 10), request(pacer, 10)];
    await jest.advanceTimersByTimeAsync(10_000);
    times.push(...(await Promise.all(rest)));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(1000);
      expect(gap).toBeLessThanOrEqual(1050);
    }
  });

  it('counts the interval after a request on a new connection from its answer', async () => {
    const pacer = new Pacer(1);
    // Two callers at once: the first goes on a cold connection (slow, 300 ms); the second waits for its answer.
    const [a, b] = [request(pacer, 300), request(pacer, 10)];
    await jest.advanceTimersByTimeAsync(5000);
    expect((await b) - (await a)).toBeGreaterThanOrEqual(300 + 1000);
  });

  it('holds everyone back after a throttle', async () => {
    const pacer = new Pacer(10);
    pacer.holdUntil(Date.now() + 3000);
    const p = request(pacer, 1);
    await jest.advanceTimersByTimeAsync(4000);
    expect((await p) - 1_000_000).toBeGreaterThanOrEqual(3000);
  });

  it('keeps the full interval after a request whose timer fired late', async () => {
    const pacer = new Pacer(1);
    const warm = request(pacer, 10);
    await jest.advanceTimersByTimeAsync(2000);
    await warm;
    (await pacer.acquire())();
    const sent: number[] = [];
    const late = pacer.acquire().then((answered) => (sent.push(Date.now()), answered()));
    const next = pacer.acquire().then((answered) => (sent.push(Date.now()), answered()));
    // The synchronous advance fires the first timer at its slot but runs its continuation only at the end: the
    // request goes out ~500 ms after its slot, as on an event loop that was busy.
    jest.advanceTimersByTime(pacer.intervalMs + 500);
    await jest.advanceTimersByTimeAsync(5000);
    await Promise.all([late, next]);
    expect(sent[1]! - sent[0]!).toBeGreaterThanOrEqual(pacer.intervalMs);
  });

  it('widens the interval after a throttle, up to 10 %, and narrows it back as requests pass', async () => {
    const pacer = new Pacer(1, 0);
    expect(pacer.intervalMs).toBe(1000);
    pacer.throttled();
    expect(pacer.intervalMs).toBe(1020);
    for (let i = 0; i < 10; i++) pacer.throttled();
    expect(pacer.intervalMs).toBe(1100);
    for (let i = 0; i < 50; i++) {
      const sent = request(pacer, 10);
      await jest.advanceTimersByTimeAsync(1200);
      await sent;
    }
    expect(pacer.intervalMs).toBe(1080);
  });
});
