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
});
