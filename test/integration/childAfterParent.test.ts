/**
 * A child collection after a parent that another live run is syncing (found by the soak, seed 30031): the child is
 * skipped too, so that run syncs it after the parent with every parent it stored; the history is then complete.
 */
import { systemClock } from '../../src/domain/clock';
import { CollectionStateStore } from '../../src/store/syncState';
import { generateRiskyUsers, seedRiskyUsers } from '../../tools/emulator';
import { quietLogger, servedRecords, startHarness, type Harness } from '../support/harness';

describe('a child collection whose parent another live run holds', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    const now = Date.now();
    seedRiskyUsers(h.emulator, generateRiskyUsers(30, { seed: 61, from: new Date(now - 5 * 86_400_000), to: new Date(now - 60_000) }));
  });
  afterAll(() => h?.close());

  it('is skipped with its parent, saying why; the holder then syncs both, and the history is complete', async () => {
    const settings = h.settings({ SYNC_LEASE_SECONDS: '60' });
    const holder = new CollectionStateStore(h.table(settings.stateTable), h.emulator.tenantId, 'riskyUsers', {
      leaseMs: 60_000,
      clock: systemClock,
    });
    await h.table(settings.stateTable).createTable();
    const lease = await holder.tryAcquire('a-live-run');
    expect(lease.acquired).toBe(true);

    const service = h.service({ SYNC_LEASE_SECONDS: '60' });
    const skipped = await service.runAll(['riskyUsers'], { trigger: 'test' }, quietLogger);
    expect(skipped.map((s) => [s.collection, s.outcome])).toEqual([
      ['riskyUsers', 'skipped'],
      ['riskyUserHistory', 'skipped'],
    ]);
    expect(skipped[1]!.error).toMatch(/its parent riskyUsers is being synced by another run, which syncs it next/);
    expect(await h.stored('riskyUserHistory')).toEqual([]);

    if (lease.acquired) await holder.release(lease.state);
    const synced = await service.runAll(['riskyUsers'], { trigger: 'test' }, quietLogger);
    expect(synced.map((s) => s.outcome)).toEqual(['succeeded', 'succeeded']);
    expect((await h.stored('riskyUserHistory')).length).toBe(servedRecords(h.emulator, 'riskyUserHistory').length);
    expect(await h.stored('riskyUserHistory')).toEqual(h.expected('riskyUserHistory'));
  });
});
