import { skewedClock } from '../../src/domain/clock';
import { runLeaseLoss, type LeaseLossOptions } from './leaseLossRun';
import { Clock, seedTenant } from './mutations';
import { quietLogger, sleep, TABLES } from './world';
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

/**
 * Clocks 90 s apart racing for the lease (issue 12.1): while A holds it (its data writes held by the proxy, its lease
 * renewed), B never takes it, whether B's clock is 180 s ahead of A's or behind; once A ends, B gets it at once
 * (A's clock writing a far expiry does not lock B out).
 */
describe('runs whose clocks are 90 s apart, racing for the lease', () => {
  const { world, unhandled } = worldPerFile();
  const env = { SYNC_LEASE_SECONDS: '3', SYNC_LOOKBACK_MINUTES: '0', GRAPH_MAX_RPS: '100', GRAPH_RETRY_BASE_MS: '20' };

  it.each([
    ['A 90 s ahead, B 90 s behind', 90_000, -90_000],
    ['A 90 s behind, B 90 s ahead', -90_000, 90_000],
  ])(
    '%s: no steal while A holds it, no dead lock after',
    async (_name, skewA, skewB) => {
      const w = world();
      await w.reset(410, { pageSize: 50 });
      seedTenant(w.emulator, 410, { users: 20, detections: 300 });
      const a = w.service(env, { clock: skewedClock(skewA) });
      const b = w.service(env, { clock: skewedClock(skewB), clean: true });
      w.proxy.addFault({ kind: 'stall', match: { kinds: ['batch'], tables: [TABLES.riskDetections] } });
      const aDone = a.run('riskDetections', { trigger: 'A' }, quietLogger);
      await w.proxy.held();
      // Over twice the lease on Table Storage's clock, B tries again and again: A's lease is alive (renewed), B steps aside.
      const started = performance.now();
      let attempts = 0;
      while (performance.now() - started < 7000 || attempts < 3) {
        const summary = await b.run('riskDetections', { trigger: 'B' }, quietLogger);
        attempts++;
        expect(summary).toMatchObject({ outcome: 'skipped' });
        await sleep(500);
      }
      w.proxy.releaseStalls();
      expect(await aDone).toMatchObject({ outcome: 'succeeded' });
      w.emulator.upsert('riskDetections', {
        ...w.emulator.list('riskDetections', { visibleOnly: true })[0]!,
        riskState: 'remediated',
        lastUpdatedDateTime: new Clock().next(),
      } as never);
      expect(await b.run('riskDetections', { trigger: 'B after A' }, quietLogger)).toMatchObject({ outcome: 'succeeded', read: expect.any(Number) });
      expect(await a.run('riskDetections', { trigger: 'A after B' }, quietLogger)).toMatchObject({ outcome: 'succeeded' });
      const [stored, state] = await Promise.all([w.stored('riskDetections'), w.state('riskDetections')]);
      expect(stored).toEqual(w.expected('riskDetections'));
      expect(state.aggregates.total).toBe(stored.length);
      expect(unhandled.reasons).toEqual([]);
    },
    90_000,
  );
});
