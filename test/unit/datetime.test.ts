import { fromDate, maxDateTime, minusMinutes, normalizeDateTime } from '../../src/domain/datetime';

describe('Graph datetimes', () => {
  it.each([
    ['2020-11-03T20:53:12.1984203Z', '2020-11-03T20:53:12.1984203Z'],
    ['2020-11-03T20:53:12Z', '2020-11-03T20:53:12.0000000Z'],
    ['2020-11-03T20:53:12.5Z', '2020-11-03T20:53:12.5000000Z'],
    ['2020-11-03T22:53:12.1984203+02:00', '2020-11-03T20:53:12.1984203Z'],
    ['2020-11-03T20:53Z', '2020-11-03T20:53:00.0000000Z'],
  ])('normalizes %s', (input, expected) => expect(normalizeDateTime(input)).toBe(expected));

  it.each([
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.0000000Z'],
    ['0099-12-31T23:59:59.5Z', '0099-12-31T23:59:59.5000000Z'],
    ['2024-02-29T12:00:00.1234567Z', '2024-02-29T12:00:00.1234567Z'],
    ['9999-12-31T23:59:59.9999999Z', '9999-12-31T23:59:59.9999999Z'],
  ])('keeps years below 100 and the ends of the range: %s', (input, expected) => expect(normalizeDateTime(input)).toBe(expected));

  it.each([
    '',
    'yesterday',
    '9999-12-31T23:00:00-05:00',
    '2020-11-03T24:00:00.0000000Z',
    '2020-00-03T20:53:12.0000000Z',
    '2020-13-03T20:53:12Z',
    '2020-11-03 20:53:12',
    '2020-11-03T20:53:12.123456789Z', // more than the 7 digits a DateTimeOffset holds
    '2026-02-30T00:00:00Z', // a day February does not have (the emulator and the sync share this parser)
    '2025-02-29T00:00:00Z',
    42,
    null,
  ])('rejects %p', (input) => expect(normalizeDateTime(input)).toBeUndefined());

  it('orders by string after normalizing, to the 7th digit', () => {
    const a = normalizeDateTime('2020-11-03T20:53:12.1984203Z')!;
    const b = normalizeDateTime('2020-11-03T20:53:12.1984204Z')!;
    expect(a < b).toBe(true);
    expect(maxDateTime(a, b)).toBe(b);
    expect(maxDateTime(undefined, a)).toBe(a);
  });

  it('moves back by minutes keeping sub-second digits, across midnight', () => {
    expect(minusMinutes('2020-11-03T00:10:00.1234567Z', 30)).toBe('2020-11-02T23:40:00.1234567Z');
    expect(fromDate(new Date('2020-11-03T00:10:00.123Z'))).toBe('2020-11-03T00:10:00.1230000Z');
  });
});
