import { COLLECTION_NAMES } from '../../src/domain/collections';
import { runConcurrency } from './concurrencyRun';
import { worldPerFile } from './worldPerFile';

/**
 * Concurrency (issue 6): four CLI syncs of the same tenant and collections started together, then a timer run of the
 * local Functions host overlapping a manual `risk-sync sync`: all exit 0, one writer at a time per collection (as seen
 * by the storage), exact tables, every run in SyncRuns with its outcome.
 */
describe('concurrent syncs', () => {
  const { world, unhandled } = worldPerFile();

  it('four syncs together, then a timer run overlapping a manual sync: one writer at a time, exact tables', async () => {
    const result = await runConcurrency(world(), 1, 4);
    expect(result.violations).toEqual([]);
    expect(result.runs).toBe(4 * COLLECTION_NAMES.length + 1 + COLLECTION_NAMES.length);
    expect(world().children()).toEqual([]);
    expect(unhandled.reasons).toEqual([]);
  }, 90_000);
});
