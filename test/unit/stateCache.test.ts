import { cachingStatus, MAX_STALE_MS, MAX_STALE_WHILE_READING_MS, RefreshingCache, STATE_CACHE_MS } from '../../src/app/stateCache';
import type { CollectionStatus, ReadModel } from '../../src/store/readModel';

/** A read model over a state that the test changes, counting the reads; a clock the test moves. */
function world() {
  const clock = { t: 1_000_000, now: () => clock.t };
  const state = { total: 1, fail: false };
  const reads: string[] = [];
  const model = {
    tenantId: 'tenant',
    status: async (collection: string) => {
      reads.push(collection);
      await new Promise((resolve) => setImmediate(resolve));
      if (state.fail) throw new Error('storage unreachable');
      return { collection, total: state.total } as CollectionStatus;
    },
  } as unknown as ReadModel;
  return { clock, state, reads, model, cached: cachingStatus(model, STATE_CACHE_MS, clock) };
}

describe('the API state cache (one read per collection per second per process)', () => {
  it('answers from the state it read within the second, sharing a read in flight, and keeps the rest of the model', async () => {
    const w = world();
    const [a, b] = await Promise.all([w.cached.status('riskDetections'), w.cached.status('riskDetections')]);
    w.clock.t += STATE_CACHE_MS - 1;
    const c = await w.cached.status('riskDetections');
    expect([a.total, b.total, c.total]).toEqual([1, 1, 1]);
    expect(w.reads).toEqual(['riskDetections']);
    await w.cached.status('riskyUsers'); // each collection on its own
    expect(w.reads).toEqual(['riskDetections', 'riskyUsers']);
    expect(w.cached.tenantId).toBe('tenant');
  });

  it('once the entry is a second old, answers from it while one refresh reads: a change shows about a second late', async () => {
    const w = world();
    await w.cached.status('riskDetections');
    w.state.total = 2;
    expect((await w.cached.status('riskDetections')).total).toBe(1);
    w.clock.t += STATE_CACHE_MS;
    // No request waits on storage: these get the entry's value, and share the one refresh they started.
    const during = await Promise.all([w.cached.status('riskDetections'), w.cached.status('riskDetections')]);
    expect(during.map((s) => s.total)).toEqual([1, 1]);
    await new Promise((resolve) => setImmediate(resolve));
    expect((await w.cached.status('riskDetections')).total).toBe(2);
    expect(w.reads).toHaveLength(2);
  });

  it('never answers from an entry whose last read came back MAX_STALE_MS ago, with no read out: such a request waits for the read', async () => {
    const w = world();
    await w.cached.status('riskDetections');
    w.state.total = 2;
    w.clock.t += MAX_STALE_MS;
    expect((await w.cached.status('riskDetections')).total).toBe(2);
  });

  it('while a refresh is reading, answers at once from an entry up to MAX_STALE_WHILE_READING_MS old (storage is slow)', async () => {
    const clock = { t: 0, now: () => clock.t };
    const cache = new RefreshingCache<string>(STATE_CACHE_MS, clock);
    expect(await cache.get('k', () => Promise.resolve('A'))).toBe('A');
    let answer!: (value: string) => void;
    const slow = () => new Promise<string>((resolve) => (answer = resolve));
    clock.t = MAX_STALE_MS - 1;
    expect(await cache.get('k', slow)).toBe('A'); // starts the refresh
    // The refresh is still reading: these are answered from the entry, older than MAX_STALE_MS, without waiting for it.
    clock.t = MAX_STALE_MS + STATE_CACHE_MS;
    expect(await cache.get('k', () => Promise.reject(new Error('no second read while one is out')))).toBe('A');
    clock.t = MAX_STALE_MS * 3;
    expect(await cache.get('k', () => Promise.reject(new Error('no second read while one is out')))).toBe('A');
    answer('B');
    await new Promise((resolve) => setImmediate(resolve));
    // B is what the tables held 20 s ago, when its read began, but it came back just now: a new read would bring a
    // value no fresher by the time it came. The next request gets B at once and starts that read.
    expect(await cache.get('k', () => Promise.resolve('C'))).toBe('B');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await cache.get('k', () => Promise.reject(new Error('C is a second old at most')))).toBe('C');
    expect(MAX_STALE_WHILE_READING_MS).toBeGreaterThan(MAX_STALE_MS * 3);
  });

  it('answers at once for MAX_STALE_MS after the last read came back, and never from a value older than MAX_STALE_WHILE_READING_MS', async () => {
    const clock = { t: 0, now: () => clock.t };
    const cache = new RefreshingCache<string>(STATE_CACHE_MS, clock);
    let answer!: (value: string) => void;
    const slow = () => new Promise<string>((resolve) => (answer = resolve));
    const first = cache.get('k', slow);
    clock.t = MAX_STALE_MS * 2; // the first read takes 20 s
    answer('A');
    expect(await first).toBe('A');
    clock.t += MAX_STALE_MS - 1;
    expect(await cache.get('k', slow)).toBe('A'); // answered at once, and the refresh it starts is out
    answer('B');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await cache.get('k', () => Promise.reject(new Error('B is fresh')))).toBe('B');

    // A read that takes longer than the cap brings a value that is too old to answer from: the next request reads.
    const late = cache.get('j', slow);
    clock.t += MAX_STALE_WHILE_READING_MS;
    answer('X');
    expect(await late).toBe('X');
    expect(await cache.get('j', () => Promise.resolve('Y'))).toBe('Y');

    // A monitor that polls less often than MAX_STALE_MS waits for a fresh read, however fast the last one was.
    clock.t += MAX_STALE_MS;
    expect(await cache.get('j', () => Promise.resolve('Z'))).toBe('Z');
  });

  it('a request that finds its entry too old, with no read out, waits for a fresh read, and so do those that come meanwhile', async () => {
    const clock = { t: 0, now: () => clock.t };
    const cache = new RefreshingCache<string>(STATE_CACHE_MS, clock);
    expect(await cache.get('k', () => Promise.resolve('A'))).toBe('A');
    clock.t = MAX_STALE_MS;
    let answer!: (value: string) => void;
    const first = cache.get('k', () => new Promise<string>((resolve) => (answer = resolve)));
    clock.t += 100;
    const second = cache.get('k', () => Promise.resolve('not read: one read is out'));
    answer('B');
    expect(await Promise.all([first, second])).toEqual(['B', 'B']);
  });

  it('drops the entry when a refresh fails: the next request reads again and sees the failure', async () => {
    const w = world();
    await w.cached.status('riskDetections');
    w.state.fail = true;
    w.clock.t += STATE_CACHE_MS;
    expect((await w.cached.status('riskDetections')).total).toBe(1); // the refresh starts, and fails
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(w.cached.status('riskDetections')).rejects.toThrow('storage unreachable');
  });

  it('does not wait for ever on a read that hangs: past MAX_STALE_WHILE_READING_MS the next request starts another', async () => {
    const clock = { t: 0, now: () => clock.t };
    const cache = new RefreshingCache<string>(1000, clock);
    const hung = cache.get('k', () => new Promise<string>(() => undefined));
    clock.t += MAX_STALE_MS;
    const waiting = cache.get('k', () => Promise.resolve('not read: one read is out'));
    clock.t += MAX_STALE_WHILE_READING_MS - MAX_STALE_MS;
    expect(await cache.get('k', () => Promise.resolve('second read'))).toBe('second read');
    expect(await cache.get('k', () => Promise.resolve('third'))).toBe('second read');
    void hung;
    void waiting;
  });

  it('caches list pages by key the same way, and keeps a bounded number of keys', async () => {
    const clock = { t: 0, now: () => clock.t };
    let reads = 0;
    const cache = new RefreshingCache<number>(1000, clock, { maxEntries: 2 });
    const read = () => Promise.resolve(++reads);
    expect(await cache.get('a', read)).toBe(1);
    expect(await cache.get('a', read)).toBe(1);
    expect(await cache.get('b', read)).toBe(2);
    expect(await cache.get('c', read)).toBe(3); // 'a' was the least recently read: it goes
    expect(await cache.get('b', read)).toBe(2);
    expect(await cache.get('a', read)).toBe(4);
    const model = cachingStatus({ tenantId: 't' } as unknown as ReadModel, 1000, clock);
    expect(await model.cached('k', () => Promise.resolve('page'))).toBe('page');
    expect(await model.cached('k', () => Promise.resolve('other'))).toBe('page');
  });

  it('keeps no failed read, and reads again when the clock went back', async () => {
    const w = world();
    w.state.fail = true;
    await expect(w.cached.status('riskDetections')).rejects.toThrow('storage unreachable');
    w.state.fail = false;
    expect((await w.cached.status('riskDetections')).total).toBe(1);
    w.clock.t -= 10;
    await w.cached.status('riskDetections');
    expect(w.reads).toHaveLength(3);
  });

  it('with no time to live every request reads the table (what the tests and the CLI use)', async () => {
    const w = world();
    expect(cachingStatus(w.model, 0, w.clock)).toBe(w.model);
  });
});
