import { KILL_MODES, runCrashSeed } from './crashRun';
import { worldPerFile } from './worldPerFile';

/**
 * Crashes (issue 6): the CLI sync killed with SIGKILL at each kind of moment (by time; right after a checkpoint; in the
 * middle of a page's transactions; while committing the watermark, before and after the commit; right after its
 * `running` SyncRuns row), then run again until a run succeeds: exact tables, exact counts, every run accounted for.
 * `npm run soak -- --kills K` kills K times per seed.
 */
describe('kill -9 at seeded moments', () => {
  const { world, unhandled } = worldPerFile();

  it.each(KILL_MODES.map((mode, i) => [mode, 100 + i] as const))(
    'killed at "%s" (seed %i), then run again: exact tables',
    async (mode, seed) => {
      const result = await runCrashSeed(world(), seed, 1, [mode]);
      if (result.violations.length > 0) throw new Error(`${result.violations.join('\n')}\n--- log ---\n${result.log.join('\n')}`);
      expect(result.kills).toBe(1);
      expect(world().children()).toEqual([]);
      expect(unhandled.reasons).toEqual([]);
    },
    60_000,
  );
});
