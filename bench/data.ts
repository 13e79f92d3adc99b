import { generateRiskDetections, type RiskDetection, type RiskyUser } from '../tools/emulator';

const DAY_MS = 86_400_000;

/**
 * `n` detections detected over the 90 days before `to`, none updated after `to`. The generator clamps
 * lastUpdatedDateTime to its `to` (a detection closed up to 7 days after it was detected), which piles ~2% of all
 * records on that one instant: the newest records, exactly those a quiet run re-reads in its lookback window. A
 * tenant does not look like that, so the window is generated 10 days wider and the records updated after `to` are
 * left out (seeded, so the data is the same on every run).
 */
export function detectionsOver90Days(n: number, seed: number, to: Date, users?: readonly RiskyUser[]): RiskDetection[] {
  const from = new Date(to.getTime() - 90 * DAY_MS);
  const until = new Date(to.getTime() + 10 * DAY_MS);
  for (let count = Math.ceil(n * 1.2); ; count = Math.ceil(count * 1.2)) {
    const kept = generateRiskDetections(count, { seed, from, to: until, ...(users ? { users } : {}) }).filter(
      (d) => Date.parse(d.detectedDateTime!) <= to.getTime() && Date.parse(d.lastUpdatedDateTime!) <= to.getTime(),
    );
    if (kept.length >= n) return kept.slice(0, n);
  }
}
