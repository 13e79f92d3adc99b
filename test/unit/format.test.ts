import type { Progress, RunSummary } from '../../src/domain/runs';
import { formatCount, formatRunLine, formatSummary, ProgressLine } from '../../src/cli/format';

/** The run line people read (the CLI summary, the local host, the demo): summaries in, lines out. */
const run = (overrides: Partial<RunSummary>): RunSummary => ({
  runId: 'r1',
  tenantId: 't',
  collection: 'riskDetections',
  trigger: 'timer',
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:12.300Z',
  outcome: 'succeeded',
  full: false,
  sweep: false,
  pages: 4,
  read: 1600,
  new: 120,
  updated: 30,
  unchanged: 1450,
  adjusted: 0,
  quarantined: 0,
  transactions: 20,
  requests: 7,
  retries: 3,
  throttles: 1,
  restarts: 0,
  durationMs: 12_300,
  ...overrides,
});

describe('formatRunLine', () => {
  it.each([
    [{}, 'riskDetections: succeeded in 12.3 s, 1,600 read in 4 pages (120 new, 30 updated, 1,450 unchanged), 3 retries, 1 throttled'],
    [
      { pages: 1, read: 1, new: 0, updated: 0, unchanged: 1, retries: 1, throttles: 0, durationMs: 400 },
      'riskDetections: succeeded in 0.4 s, 1 read in 1 page (0 new, 0 updated, 1 unchanged), 1 retry, 0 throttled',
    ],
    [
      { full: true, sweep: true, adjusted: 2, quarantined: 1, restarts: 1 },
      'riskDetections: succeeded (full) (sweep) in 12.3 s, 1,600 read in 4 pages (120 new, 30 updated, 1,450 unchanged), 2 stored with adjustments, 1 quarantined, 1 pass restart, 3 retries, 1 throttled',
    ],
    [
      {
        outcome: 'failed',
        pages: 0,
        read: 0,
        new: 0,
        updated: 0,
        unchanged: 0,
        retries: 0,
        throttles: 0,
        durationMs: 300,
        error: 'could not get a token with x: AADSTS7000215',
      },
      'riskDetections: failed after 0.3 s, 0 read in 0 pages (0 new, 0 updated, 0 unchanged), 0 retries, 0 throttled - error: could not get a token with x: AADSTS7000215',
    ],
    [
      {
        collection: 'riskyUsers',
        outcome: 'unlicensed',
        pages: 0,
        read: 0,
        new: 0,
        updated: 0,
        unchanged: 0,
        retries: 0,
        throttles: 0,
        durationMs: 200,
        action: 'the tenant needs Entra ID P2',
      },
      'riskyUsers: unlicensed in 0.2 s, 0 read in 0 pages (0 new, 0 updated, 0 unchanged), 0 retries, 0 throttled - to do: the tenant needs Entra ID P2',
    ],
    [
      { outcome: 'partial', error: 'stopped on request' },
      expect.stringMatching(/^riskDetections: partial in 12\.3 s, .* - note: stopped on request$/),
    ],
    [{ outcome: 'skipped', error: 'another run holds the lease' }, expect.stringMatching(/ - note: another run holds the lease$/)],
  ])('%j', (overrides, line) => {
    expect(formatRunLine(run(overrides as Partial<RunSummary>))).toEqual(line);
  });

  it('shows what a summary has: an engine without the new counts gives `records` as what was read', () => {
    expect(formatRunLine({ collection: 'riskyUsers', outcome: 'succeeded', records: 80, pages: 1, retries: 0, throttles: 0, durationMs: 1000 })).toBe(
      'riskyUsers: succeeded in 1.0 s, 80 read in 1 page, 0 retries, 0 throttled',
    );
    expect(formatRunLine({ collection: 'riskyUsers', outcome: 'running' })).toBe('riskyUsers: running');
  });

  it('formatSummary: one line per run, nothing that is JSON', () => {
    const text = formatSummary([run({}), run({ collection: 'riskyUsers' })]);
    expect(text.split('\n')).toEqual([expect.stringMatching(/^riskDetections: succeeded/), expect.stringMatching(/^riskyUsers: succeeded/), '']);
    expect(text).not.toMatch(/[{}]/);
  });
});

describe('the progress line', () => {
  it('counts pages in words that fit the number', () => {
    const written: string[] = [];
    const stream = { isTTY: false, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
    const line = new ProgressLine(stream, 0);
    line.update({ collection: 'riskyUsers', pages: 1, read: 80, elapsedMs: 1000 } as Progress);
    line.update({ collection: 'riskyUsers', pages: 3, read: 240, elapsedMs: 2000 } as Progress);
    expect(written.join('')).toMatch(/riskyUsers: 1 page, 80 read/);
    expect(written.join('')).toMatch(/riskyUsers: 3 pages, 240 read/);
  });
});

describe('formatCount', () => {
  it('writes counts as en-US does, without loading Intl', () => {
    const en = new Intl.NumberFormat('en-US');
    for (const n of [0, 7, 999, 1000, 12_345, 999_999, 1_000_000, 123_456_789, -1, -1234, 2 ** 40]) expect(formatCount(n)).toBe(en.format(n));
    for (const n of [1234.6, Number.NaN, 1e21]) expect(formatCount(n)).toBe(en.format(n));
  });
});
