/** Running counts of a collection's rows, by value of each aggregate column (riskLevel, riskState). */
export interface Aggregates {
  total: number;
  by: Record<string, Record<string, number>>;
}

export function emptyAggregates(): Aggregates {
  return { total: 0, by: {} };
}

/** Adds (sign 1) or removes (sign -1) one row's values; `countRow` says whether the row count changes too. */
export function count(aggregates: Aggregates, values: Record<string, string>, sign: 1 | -1, countRow = true): void {
  if (countRow) aggregates.total += sign;
  for (const [column, value] of Object.entries(values)) {
    const byValue = (aggregates.by[column] ??= {});
    const next = (byValue[value] ?? 0) + sign;
    if (next === 0) delete byValue[value];
    else byValue[value] = next;
  }
}

export function merge(target: Aggregates, delta: Aggregates): Aggregates {
  target.total += delta.total;
  for (const [column, values] of Object.entries(delta.by)) {
    for (const [value, n] of Object.entries(values)) {
      const byValue = (target.by[column] ??= {});
      const next = (byValue[value] ?? 0) + n;
      if (next === 0) delete byValue[value];
      else byValue[value] = next;
    }
  }
  return target;
}

/** The value counted for a row whose aggregate column is empty. */
export const MISSING_AGGREGATE = '(none)';

/** The value a row is counted under for one aggregate column. */
export function countedValue(value: unknown): string {
  return typeof value === 'string' && value !== '' ? value : MISSING_AGGREGATE;
}
