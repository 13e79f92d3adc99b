import { cachingStatus, STATE_CACHE_MS } from '../../src/app/stateCache';
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

  it('reads again once the entry is a second old: a change the sync wrote shows at most a second late', async () => {
    const w = world();
    await w.cached.status('riskDetections');
    w.state.total = 2;
    expect((await w.cached.status('riskDetections')).total).toBe(1);
    w.clock.t += STATE_CACHE_MS;
    expect((await w.cached.status('riskDetections')).total).toBe(2);
    expect(w.reads).toHaveLength(2);
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
