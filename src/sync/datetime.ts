/**
 * Graph prints DateTimeOffset values in UTC with 7 fractional digits (`2020-11-03T20:53:12.1984203Z`), finer than a
 * JS Date. Cursor values are kept as strings in that normalized form, which compare correctly as strings.
 */
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})$/i;

/** Graph's own form: already normalized when every field is in range (days up to 28 exist in every month). */
const CANONICAL = /^\d{4}-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{7}Z$/;

/** Normalizes a DateTimeOffset string to `YYYY-MM-DDTHH:MM:SS.fffffffZ`; undefined when it is not one. */
export function normalizeDateTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const c = CANONICAL.exec(value);
  if (c && +c[1]! >= 1 && +c[1]! <= 12 && +c[2]! >= 1 && +c[2]! <= 28 && +c[3]! <= 23 && +c[4]! <= 59 && +c[5]! <= 59) return value;
  const m = DATETIME.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '00', fraction = '', zone] = m;
  if (+mo! < 1 || +mo! > 12 || +d! < 1 || +d! > 31 || +h! > 23 || +mi! > 59 || +s! > 59) return undefined;
  const utc = new Date(Date.UTC(2000, +mo! - 1, +d!, +h!, +mi!, +s!));
  utc.setUTCFullYear(+y!); // Date.UTC reads years 0-99 as 1900-1999
  let offsetMs = 0;
  if (zone!.toUpperCase() !== 'Z') {
    const sign = zone![0] === '-' ? -1 : 1;
    offsetMs = sign * (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(4, 6))) * 60_000;
  }
  const base = new Date(utc.getTime() - offsetMs);
  if (Number.isNaN(base.getTime()) || base.getUTCFullYear() < 0 || base.getUTCFullYear() > 9999) return undefined;
  const digits = fraction.slice(0, 7).padEnd(7, '0');
  return `${base.toISOString().slice(0, 19)}.${digits}Z`;
}

/** A normalized datetime moved back by whole minutes, keeping its sub-second digits. */
export function minusMinutes(normalized: string, minutes: number): string {
  const seconds = new Date(`${normalized.slice(0, 19)}Z`).getTime() - minutes * 60_000;
  return `${new Date(seconds).toISOString().slice(0, 19)}${normalized.slice(19)}`;
}

/** Normalized form of a JS Date. */
export function fromDate(date: Date): string {
  return `${date.toISOString().slice(0, 23)}0000Z`;
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
