/**
 * The one codec for Table Storage values (EDM types). Every table is read with `disableTypeConversion: true`, so a
 * typed property comes back as `{ value, type }` with the value as the wire text (a DateTime keeps all 7 digits of
 * its fraction, an Int64 its 64 bits); strings, booleans and Int32 numbers come back as they are. Writers use the
 * constructors below, readers `wireValue`/`plainValue`, so no module guesses at the shape itself.
 */

export type EdmType = 'DateTime' | 'Double' | 'Int32' | 'Int64' | 'Boolean' | 'Guid' | 'Binary' | 'String';

/** A value as the Table SDK writes and (without type conversion) reads a typed property. */
export interface EdmValue<T extends EdmType = EdmType> {
  value: string;
  type: T;
}

/** An Edm.DateTime from an ISO-8601 text (kept as written: Table Storage holds 7 fractional digits). */
export function edmDateTime(iso: string): EdmValue<'DateTime'> {
  return { value: iso, type: 'DateTime' };
}

/** An Edm.DateTime, or nothing for an absent or empty text (the property is then left out of the entity). */
export function optionalDateTime(iso: string | undefined): EdmValue<'DateTime'> | undefined {
  return iso ? edmDateTime(iso) : undefined;
}

/** An Edm.Double: a JavaScript number as Table Storage stores it (a whole number too stays a Double). */
export function edmDouble(n: number): EdmValue<'Double'> {
  return { value: String(n), type: 'Double' };
}

export function isEdmValue(value: unknown): value is EdmValue {
  return typeof value === 'object' && value !== null && 'value' in value;
}

/** The value as it travelled: the wire text of a typed property, any other value unchanged. */
export function wireValue(value: unknown): unknown {
  return isEdmValue(value) ? value.value : value;
}

/** The wire text of a string-valued property (a DateTime's text included), or null when it is absent or not text. */
export function textValue(value: unknown): string | null {
  const v = wireValue(value);
  return typeof v === 'string' ? v : null;
}

/** The JavaScript value: numbers for Double/Int32/Int64, booleans for Boolean, the text for the others. */
export function plainValue(value: unknown): unknown {
  if (!isEdmValue(value)) return value;
  const { value: v, type } = value;
  if (type === 'Double' || type === 'Int32' || type === 'Int64') return Number(v);
  if (type === 'Boolean') return v === 'true' || (v as unknown) === true;
  return v;
}

/** Every property of a row as its wire value (what the state and run tables decode from). */
export function wireRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) out[name] = wireValue(value);
  return out;
}
