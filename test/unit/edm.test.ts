import { edmDateTime, edmDouble, optionalDateTime, plainValue, textValue, wireRow, wireValue } from '../../src/store/edm';

describe('the Table value codec', () => {
  it('writes typed values as the Table SDK sends them', () => {
    expect(edmDateTime('2026-03-01T10:00:00.1234567Z')).toEqual({ value: '2026-03-01T10:00:00.1234567Z', type: 'DateTime' });
    expect(edmDouble(3)).toEqual({ value: '3', type: 'Double' });
    expect(edmDouble(-33.8688)).toEqual({ value: '-33.8688', type: 'Double' });
    expect(optionalDateTime(undefined)).toBeUndefined();
    expect(optionalDateTime('')).toBeUndefined();
  });

  it('reads the wire text of a typed value, keeping all seven digits of a DateTime', () => {
    expect(wireValue({ value: '2026-03-01T10:00:00.1234567Z', type: 'DateTime' })).toBe('2026-03-01T10:00:00.1234567Z');
    expect(wireValue('plain')).toBe('plain');
    expect(wireValue(true)).toBe(true);
    expect(wireValue(undefined)).toBeUndefined();
    expect(textValue({ value: '9223372036854775807', type: 'Int64' })).toBe('9223372036854775807');
    expect(textValue(42)).toBeNull();
    expect(textValue(null)).toBeNull();
  });

  it('reads numbers and booleans as JavaScript values', () => {
    expect(plainValue({ value: '1.5', type: 'Double' })).toBe(1.5);
    expect(plainValue({ value: '12', type: 'Int64' })).toBe(12);
    expect(plainValue({ value: 'true', type: 'Boolean' })).toBe(true);
    expect(plainValue({ value: 'false', type: 'Boolean' })).toBe(false);
    expect(plainValue({ value: '2026-03-01T10:00:00Z', type: 'DateTime' })).toBe('2026-03-01T10:00:00Z');
    expect(plainValue(7)).toBe(7);
  });

  it('unwraps a whole row', () => {
    expect(wireRow({ a: { value: '2026-01-01T00:00:00Z', type: 'DateTime' }, b: 'x', c: 3 })).toEqual({ a: '2026-01-01T00:00:00Z', b: 'x', c: 3 });
  });
});
