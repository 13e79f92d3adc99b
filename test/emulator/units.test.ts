/** The emulator's pure parts: $filter, timestamps, throttle arithmetic, faults, PRNG. */
import { FilterError, type FilterOptions, Prng, normalizeDateTime, parseFilter } from '../../tools/emulator/index.js';
import { FaultController } from '../../tools/emulator/faults.js';
import { Throttle } from '../../tools/emulator/throttle.js';
import { formatTicks, ticksOf } from '../../tools/emulator/timestamps.js';

const detections: FilterOptions = { collection: 'riskDetections', version: 'v1.0' };

describe('normalizeDateTime', () => {
  it.each([
    ['2020-11-03T20:53:12.1984203Z', '2020-11-03T20:53:12.1984203Z'],
    ['2020-11-03T20:53:12Z', '2020-11-03T20:53:12.0000000Z'],
    ['2020-11-03T20:53Z', '2020-11-03T20:53:00.0000000Z'],
    ['2020-11-03T20:53:12.1Z', '2020-11-03T20:53:12.1000000Z'],
    ['2020-11-03T21:53:12.1984203+01:00', '2020-11-03T20:53:12.1984203Z'],
    ['2020-11-03T00:30:00-05:30', '2020-11-03T06:00:00.0000000Z'],
    ['2021-01-01T00:30:00+01:00', '2020-12-31T23:30:00.0000000Z'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeDateTime(input)).toBe(expected);
  });

  it.each([
    '2020-11-03',
    '2020-11-03T20:53:12',
    '2020-11-03T20:53:12.19842031Z',
    '2020-13-03T20:53:12Z',
    '2020-02-30T00:00:00Z',
    '2020-11-03T24:00:00Z',
    '2020-11-03T20:53:12 01:00',
    '2020-11-03T20:53:12+15:00',
    "'2020-11-03T20:53:12Z'",
  ])('rejects %s', (input) => {
    expect(normalizeDateTime(input)).toBeUndefined();
  });

  it('round-trips ticks at 100 ns', () => {
    expect(formatTicks(ticksOf('2020-11-03T20:53:12.1984203Z'))).toBe('2020-11-03T20:53:12.1984203Z');
  });
});

describe('parseFilter', () => {
  const a = { id: 'a', lastUpdatedDateTime: '2020-11-03T20:53:12.1984203Z', riskLevel: 'high', userDisplayName: "Dónal O'Brien", ipAddress: null };
  const b = { id: 'b', lastUpdatedDateTime: '2020-11-03T20:53:12.1984204Z', riskLevel: 'low', userDisplayName: 'José Müller', ipAddress: '1.2.3.4' };
  const match = (filter: string, options: Partial<FilterOptions> = {}): string[] =>
    [a, b].filter(parseFilter(filter, { ...detections, ...options })).map((r) => r.id);

  it('compares datetimes exactly at the 7th digit, for each operator', () => {
    expect(match('lastUpdatedDateTime eq 2020-11-03T20:53:12.1984203Z')).toEqual(['a']);
    expect(match('lastUpdatedDateTime ge 2020-11-03T20:53:12.1984204Z')).toEqual(['b']);
    expect(match('lastUpdatedDateTime gt 2020-11-03T20:53:12.1984203Z')).toEqual(['b']);
    expect(match('lastUpdatedDateTime le 2020-11-03T20:53:12.1984203Z')).toEqual(['a']);
    expect(match('lastUpdatedDateTime lt 2020-11-03T20:53:12.1984204Z')).toEqual(['a']);
    expect(match('lastUpdatedDateTime ge 2020-11-03T20:53:12.198Z')).toEqual(['a', 'b']);
    expect(match('lastUpdatedDateTime eq 2020-11-03T21:53:12.1984204+01:00')).toEqual(['b']);
  });

  it('can reproduce the gt-returns-the-boundary quirk', () => {
    expect(match('lastUpdatedDateTime gt 2020-11-03T20:53:12.1984203Z', { gtIncludesBoundary: true })).toEqual(['a', 'b']);
  });

  it('joins with and (any case), with optional parentheses', () => {
    expect(match("riskLevel eq 'high' and lastUpdatedDateTime ge 2020-01-01T00:00:00Z")).toEqual(['a']);
    expect(match("(riskLevel eq 'low') AND (lastUpdatedDateTime ge 2020-01-01T00:00:00Z)")).toEqual(['b']);
    expect(match("((riskLevel eq 'low' And ipAddress eq '1.2.3.4'))")).toEqual(['b']);
  });

  it('reads quoted strings with doubled quotes and any characters', () => {
    expect(match("userDisplayName eq 'Dónal O''Brien'")).toEqual(['a']);
    expect(match("userDisplayName eq 'José Müller'")).toEqual(['b']);
    expect(match("userDisplayName eq 'a and b'")).toEqual([]);
  });

  it('matches null and is case-insensitive on property names and operators', () => {
    expect(match('ipAddress eq null')).toEqual(['a']);
    expect(match("RiskLevel EQ 'high'")).toEqual(['a']);
  });

  it('matches nothing for a quoted datetime by default, 400 if configured', () => {
    expect(match("lastUpdatedDateTime ge '2020-01-01T00:00:00Z'")).toEqual([]);
    expect(() => match("lastUpdatedDateTime ge '2020-01-01T00:00:00Z'", { quotedDateTime: 'badRequest' })).toThrow(FilterError);
  });

  it('filters booleans on risky users', () => {
    const users = [
      { id: 'u1', isDeleted: true },
      { id: 'u2', isDeleted: false },
    ];
    const predicate = parseFilter('isDeleted eq true', { collection: 'riskyUsers', version: 'v1.0' });
    expect(users.filter(predicate).map((u) => u.id)).toEqual(['u1']);
  });

  it.each([
    ['', /empty/],
    ["foo eq 'x'", /could not find a property named 'foo'/],
    ["riskLevel like 'high'", /unknown operator 'like'/],
    ["riskLevel ne 'high'", /'ne' is not supported/],
    ['lastUpdatedDateTime ge 2020-13-01T00:00:00Z', /not a valid DateTimeOffset/],
    ['lastUpdatedDateTime ge 2020-11-01T00:00:00.12345678Z', /not a valid DateTimeOffset/],
    ['lastUpdatedDateTime ge 2020-11-01', /not a valid literal/],
    ["userDisplayName eq 'O'Brien'", /not terminated|unexpected/],
    ["userDisplayName eq 'abc", /not terminated/],
    ["riskLevel eq 'high' or riskLevel eq 'low'", /'or' operator is not supported/],
    ["not riskLevel eq 'high'", /'not' operator/],
    ['riskLevel eq 5', /cannot be compared/],
    ["riskLevel eq 'bogus'", /not a member/],
    ["riskLevel ge 'high'", /cannot be compared/],
    ['lastUpdatedDateTime ge 5', /cannot be compared/],
    ['lastUpdatedDateTime ge null', /cannot be compared/],
    ['userDisplayName eq userPrincipalName', /not a literal/],
    ["location/city eq 'Zürich'", /property paths/],
    ["location eq 'x'", /complex property/],
    ["contains(userDisplayName,'a')", /functions are not supported/],
    ["riskLevel eq 'high' riskState eq 'atRisk'", /unexpected 'riskState'/],
    ["(riskLevel eq 'high'", /not closed/],
    ["riskLevel eq 'high')", /no matching/],
    ['riskLevel eq', /must be followed by a value/],
    ["mitreTechniqueId eq 'T1078'", /could not find a property/],
  ])('rejects %p', (filter, message) => {
    expect(() => parseFilter(filter, detections)).toThrow(message);
  });

  it('knows the beta-only properties on beta', () => {
    expect(() => parseFilter("mitreTechniqueId eq 'T1078'", { ...detections, version: 'beta' })).not.toThrow();
  });
});

describe('Throttle', () => {
  it('accepts one request per 1000/rps ms, with 5 ms of tolerance, and refusals do not move the window', () => {
    const throttle = new Throttle({ enabled: true, rps: 1 });
    expect(throttle.tryAccept(0)).toBe(true);
    expect(throttle.tryAccept(500)).toBe(false);
    expect(throttle.tryAccept(994)).toBe(false);
    expect(throttle.tryAccept(995)).toBe(true);
    expect(throttle.tryAccept(1500)).toBe(false);
    expect(throttle.tryAccept(1995)).toBe(true);
  });

  it('follows rps, can be disabled, and starts a fresh window when changed', () => {
    const throttle = new Throttle({ enabled: true, rps: 4 });
    expect(throttle.tryAccept(0)).toBe(true);
    expect(throttle.tryAccept(200)).toBe(false);
    expect(throttle.tryAccept(250)).toBe(true);
    throttle.set({ enabled: false });
    expect(throttle.tryAccept(251)).toBe(true);
    expect(throttle.tryAccept(252)).toBe(true);
    throttle.set({ enabled: true, rps: 1 });
    expect(throttle.tryAccept(253)).toBe(true);
    expect(throttle.tryAccept(254)).toBe(false);
    expect(() => throttle.set({ rps: 0 })).toThrow(RangeError);
  });
});

describe('FaultController', () => {
  it('serves faults by scope and count, in order', () => {
    const faults = new FaultController(1);
    faults.add({ kind: 'status', status: 503, count: 2, nextLinkOnly: true });
    faults.add({ kind: 'reset', target: 'token', count: 1 });
    expect(faults.take({ target: 'graph', nextLink: false })).toBeUndefined();
    expect(faults.take({ target: 'graph', nextLink: true })?.kind).toBe('status');
    expect(faults.take({ target: 'token', nextLink: false })?.kind).toBe('reset');
    expect(faults.take({ target: 'token', nextLink: false })).toBeUndefined();
    expect(faults.take({ target: 'graph', nextLink: true })?.kind).toBe('status');
    expect(faults.take({ target: 'graph', nextLink: true })).toBeUndefined();
    expect(faults.list()).toEqual([]);
  });

  it('draws probabilities from the seed: same seed, same faults', () => {
    const pattern = (seed: number): boolean[] => {
      const faults = new FaultController(seed);
      faults.add({ kind: 'status', status: 500, probability: 0.3 });
      return Array.from({ length: 200 }, () => faults.take({ target: 'graph', nextLink: false }) !== undefined);
    };
    expect(pattern(7)).toEqual(pattern(7));
    expect(pattern(7)).not.toEqual(pattern(8));
    const hits = pattern(7).filter(Boolean).length;
    expect(hits).toBeGreaterThan(30);
    expect(hits).toBeLessThan(90);
  });

  it('rejects malformed faults', () => {
    const faults = new FaultController(1);
    expect(() => faults.add({ kind: 'status', status: 200 })).toThrow(RangeError);
    expect(() => faults.add({ kind: 'reset', probability: 2 })).toThrow(RangeError);
    expect(() => faults.add({ kind: 'slow', delayMs: -1 })).toThrow(RangeError);
    expect(() => faults.add({ kind: 'nope' } as never)).toThrow(RangeError);
  });
});

describe('Prng', () => {
  it('is reproducible from its seed', () => {
    const draw = (seed: number | string): number[] => {
      const rng = new Prng(seed);
      return Array.from({ length: 5 }, () => rng.next());
    };
    expect(draw('x')).toEqual(draw('x'));
    expect(draw('x')).not.toEqual(draw('y'));
    expect(new Prng(3).guid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
