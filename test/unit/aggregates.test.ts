import { count, emptyAggregates, merge } from '../../src/domain/aggregates';

describe('aggregates', () => {
  it('counts rows and values, and moves a row between values without changing the total', () => {
    const a = emptyAggregates();
    count(a, { riskLevel: 'high', riskState: 'atRisk' }, 1);
    count(a, { riskLevel: 'low', riskState: 'atRisk' }, 1);
    const delta = emptyAggregates();
    count(delta, { riskLevel: 'high', riskState: 'atRisk' }, -1, false);
    count(delta, { riskLevel: 'none', riskState: 'dismissed' }, 1, false);
    merge(a, delta);
    expect(a).toEqual({ total: 2, by: { riskLevel: { low: 1, none: 1 }, riskState: { atRisk: 1, dismissed: 1 } } });
  });
});
