/**
 * Graph prints DateTimeOffset values in UTC with 7 fractional digits (`2020-11-03T20:53:12.1984203Z`).
 * JavaScript dates stop at milliseconds, so timestamps here are strings or bigint ticks (100 ns units since
 * the epoch); two normalized strings compare correctly as strings.
 */

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})$/;
const TICKS_PER_MS = 10_000n;

/** Parses a DateTimeOffset (`...Z` or with an offset, 0-7 fractional digits) into its normalized UTC form. */
export function normalizeDateTime(text: string): string | undefined {
  const m = DATETIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const zone = m[8]!;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 14 || om > 59) return undefined;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  if (local.getUTCMonth() !== month - 1) return undefined; // 2026-02-30 and the like
  local.setUTCHours(hour, minute, second, 0);
  const utc = new Date(local.getTime() - offsetMinutes * 60_000);
  const utcYear = utc.getUTCFullYear();
  if (utcYear < 1 || utcYear > 9999) return undefined;
  return `${utc.toISOString().slice(0, 19)}.${(m[7] ?? '').padEnd(7, '0')}Z`;
}

/** The normalized string of a tick count. */
export function formatTicks(ticks: bigint): string {
  const ms = ticks / TICKS_PER_MS;
  const rest = ticks % TICKS_PER_MS;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 23)}${rest.toString().padStart(4, '0')}Z`;
}

/** Ticks of a normalized timestamp. */
export function ticksOf(normalized: string): bigint {
  const ms = BigInt(Date.parse(`${normalized.slice(0, 23)}Z`));
  return ms * TICKS_PER_MS + BigInt(normalized.slice(23, 27));
}

export function ticksOfDate(date: Date): bigint {
  return BigInt(date.getTime()) * TICKS_PER_MS;
}
