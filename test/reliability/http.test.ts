import { runFaultSeed } from './faultRun';
import { runHttp } from './httpRun';
import { worldPerFile } from './worldPerFile';

/**
 * Hostile input to the HTTP API (issue 6): generated requests against data the real sync wrote (a fault seed's world,
 * odd records included). A fixed number of generated requests in CI; `npm run soak -- --http-runs R` sends more.
 */
describe('hostile HTTP requests', () => {
  const { world, unhandled } = worldPerFile();

  it.each([
    [7, 250],
    [12, 150],
  ])(
    'seed %i: %i generated requests never get a 5xx, rows outside their filter, or a change to stored data',
    async (seed, requests) => {
      const synced = await runFaultSeed(world(), seed);
      expect(synced.violations).toEqual([]);
      const result = await runHttp(world(), seed, requests);
      expect(result.violations).toEqual([]);
      expect(result.requests).toBeGreaterThan(requests * 0.9);
      // The generated requests reach the tables as well as the validation.
      expect(result.statuses['200'] ?? 0).toBeGreaterThan(requests * 0.1);
      expect(result.statuses['400'] ?? 0).toBeGreaterThan(requests * 0.1);
      expect(unhandled.reasons).toEqual([]);
    },
    90_000,
  );
});
