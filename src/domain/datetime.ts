/**
 * Graph's DateTimeOffset values, the one parser of the project (the sync, the API and the Graph emulator use it).
 *
 * Graph prints UTC with up to 7 fractional digits and trims trailing zeros (`2020-11-03T20:53:12.1984203Z`,
 * `2018-09-05T00:11:27.773602Z`, `2021-10-26T00:00:00Z`): finer than a JS Date. Values are kept as strings in the
 * normalized form `YYYY-MM-DDTHH:MM:SS.fffffffZ`, which compare correctly as strings, or as bigint ticks (100 ns since
 * the Unix epoch) for arithmetic.
 */
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})$/i;

/** Graph's own form: already normalized when every field is in range (days up to 28 exist in every month). */
const CANONICAL = /^\d{4}-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{7}Z$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * Normalizes a DateTimeOffset string (`Z` or an offset up to ±14:00, 0 to 7 fractional digits: a DateTimeOffset
 * holds 100 ns, and Graph refuses an 8th digit) to `YYYY-MM-DDTHH:MM:SS.fffffffZ`; undefined when it is not one (a day the month does not have included),
 * or when the UTC instant falls outside the years 1 to 9999.
 */
export function normalizeDateTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const c = CANONICAL.exec(value);
  if (c && +c[1]! >= 1 && +c[1]! <= 12 && +c[2]! >= 1 && +c[2]! <= 28 && +c[3]! <= 23 && +c[4]! <= 59 && +c[5]! <= 59) return value;
  const m = DATETIME.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '00', fraction = '', zone] = m;
  const year = +y!;
  const month = +mo!;
  const day = +d!;
  if (month < 1 || month > 12 || day < 1 || +h! > 23 || +mi! > 59 || +s! > 59) return undefined;
  if (day > DAYS_IN_MONTH[month - 1]! || (month === 2 && day === 29 && !isLeap(year))) return undefined;
  let offsetMs = 0;
  if (zone!.toUpperCase() !== 'Z') {
    const hours = Number(zone!.slice(1, 3));
    const minutes = Number(zone!.slice(4, 6));
    if (hours > 14 || minutes > 59) return undefined;
    offsetMs = (zone![0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  const local = new Date(Date.UTC(2000, month - 1, day, +h!, +mi!, +s!));
  local.setUTCFullYear(year); // Date.UTC reads years 0-99 as 1900-1999
  const utc = new Date(local.getTime() - offsetMs);
  if (Number.isNaN(utc.getTime()) || utc.getUTCFullYear() < 1 || utc.getUTCFullYear() > 9999) return undefined;
  return `${utc.toISOString().slice(0, 19)}.${fraction.padEnd(7, '0')}Z`;
}

/** How Graph prints a normalized datetime: trailing zeros of the fraction trimmed, no dot when nothing is left. */
export function graphText(normalized: string): string {
  const fraction = normalized.slice(20, 27).replace(/0+$/, '');
  return `${normalized.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

/** A normalized datetime moved back by whole minutes, keeping its sub-second digits. */
export function minusMinutes(normalized: string, minutes: number): string {
  const seconds = new Date(`${normalized.slice(0, 19)}Z`).getTime() - minutes * 60_000;
  return `${new Date(seconds).toISOString().slice(0, 19)}${normalized.slice(19)}`;
}

/** Normalized form of a JS Date (or epoch milliseconds). */
export function fromDate(date: Date | number): string {
  return `${new Date(date).toISOString().slice(0, 23)}0000Z`;
}

export function minDateTime(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a <= b ? a : b;
}

export function maxDateTime(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a >= b ? a : b;
}

const TICKS_PER_MS = 10_000n;

/** The normalized string of a tick count (100 ns units since the Unix epoch). */
export function formatTicks(ticks: bigint): string {
  const ms = ticks / TICKS_PER_MS;
  let rest = ticks % TICKS_PER_MS;
  let whole = ms;
  if (rest < 0n) {
    rest += TICKS_PER_MS;
    whole -= 1n;
  }
  const iso = new Date(Number(whole)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ (years 1-9999)
  return `${iso.slice(0, 23)}${rest.toString().padStart(4, '0')}Z`;
}

/** Ticks of a normalized datetime. */
export function ticksOf(normalized: string): bigint {
  const ms = BigInt(Date.parse(`${normalized.slice(0, 23)}Z`));
  return ms * TICKS_PER_MS + BigInt(normalized.slice(23, 27));
}

export function ticksOfDate(date: Date | number): bigint {
  return BigInt(new Date(date).getTime()) * TICKS_PER_MS;
}
