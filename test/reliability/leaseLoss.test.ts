import { runLeaseLoss, type LeaseLossOptions } from './leaseLossRun';
import { worldPerFile } from './worldPerFile';

/**
 * Issue 12.1 reproduced over the wire: run A's storage traffic is held past its lease, run B takes the lease and stores
 * newer versions of the records A was writing, then A's held transactions land. No row ends older than what B stored,
 * the counts are exact as soon as both runs ended, and each run's SyncRuns row says how it ended. With clocks 90 s
 * apart too: the lease is judged on Table Storage's clock and the writes are fenced by the rows' ETags, so no host's
 * clock decides anything here.
 */
describe('a run whose storage traffic is held past its lease', () => {
  const { world, unhandled } = worldPerFile();

  it.each<[string, number, LeaseLossOptions]>([
    ['backfill; A lands after B ended', 401, { backfill: true }],
    ['incremental; A lands after B ended', 402, {}],
    ['incremental; A lands while B is writing', 403, { releaseAfterPagesOfB: 2 }],
    ['riskyUsers (one partition); A lands after B ended', 404, { collection: 'riskyUsers' }],
    ['backfill; A lands while B is writing; lookback 30', 405, { backfill: true, releaseAfterPagesOfB: 3, lookbackMinutes: 30 }],
    ['A 90 s ahead, B 90 s behind', 406, { skewA: 90_000, skewB: -90_000 }],
    ['A 90 s behind, B 90 s ahead; A lands while B is writing', 407, { skewA: -90_000, skewB: 90_000, releaseAfterPagesOfB: 2 }],
  ])(
    '%s (seed %i): no row ends older, the counts are exact at once',
    async (_name, seed, options) => {
      const result = await runLeaseLoss(world(), seed, options);
      if (result.violations.length > 0) throw new Error(`${result.violations.join('\n')}\n--- log ---\n${result.log.join('\n')}`);
      expect(result.heldBatches).toBeGreaterThan(0);
      expect(result.overtaken).toBeGreaterThan(0);
      expect(result.a).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/lease/) });
      expect(result.b).toMatchObject({ outcome: 'succeeded' });
      expect(unhandled.reasons).toEqual([]);
    },
    90_000,
  );
});
