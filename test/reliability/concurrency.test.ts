import { runConcurrency } from './concurrencyRun';
import { watchUnhandled } from './process';
import { startWorld, type World } from './world';

/**
 * Concurrency (issue 6): four CLI syncs of the same tenant and collections started together, then a timer run of the
 * local Functions host overlapping a manual `risk-sync sync`: all exit 0, one writer at a time per collection (as seen
 * by the storage), exact tables, every run in SyncRuns with its outcome.
 */
describe('concurrent syncs', () => {
  let world: World;
  const unhandled = watchUnhandled();
  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(async () => {
    await world?.close();
    unhandled.stop();
  });

  it('four syncs together, then a timer run overlapping a manual sync: one writer at a time, exact tables', async () => {
    const result = await runConcurrency(world, 1, 4);
    expect(result.violations).toEqual([]);
    expect(result.runs).toBe(4 * 2 + 1 + 2);
    expect(world.children()).toEqual([]);
    expect(unhandled.reasons).toEqual([]);
  }, 90_000);
});
