import { Pacer } from '../../src/graph/pacer';

describe('Pacer', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('gives each caller the next slot, just under the budget', async () => {
    const pacer = new Pacer(1);
    const times: number[] = [];
    const all = [0, 1, 2].map(() => pacer.acquire().then(() => times.push(Date.now())));
    await jest.advanceTimersByTimeAsync(5000);
    await Promise.all(all);
    expect(times[0]).toBe(1_000_000);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1000);
    expect(times[1]! - times[0]!).toBeLessThanOrEqual(1050);
    expect(times[2]! - times[1]!).toBeCloseTo(times[1]! - times[0]!, -1);
  });

  it('holds everyone back after a throttle', async () => {
    const pacer = new Pacer(10);
    pacer.holdUntil(Date.now() + 3000);
    let at = 0;
    const p = pacer.acquire().then(() => (at = Date.now()));
    await jest.advanceTimersByTimeAsync(4000);
    await p;
    expect(at - 1_000_000).toBeGreaterThanOrEqual(3000);
  });
});
