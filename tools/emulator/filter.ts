/**
 * The subset of OData `$filter` that Identity Protection documents: `<property> <op> <literal>` comparisons with
 * `eq ge gt le lt`, joined by `and` (any case), optionally parenthesised.
 *
 * Literals: unquoted DateTimeOffset (`2026-11-01T00:00:00Z`, 1-7 fractional digits, or an offset), single-quoted
 * strings (`'O''Brien'`), `true`/`false`, `null`, numbers. Datetimes compare exactly at 7 fractional digits.
 * Property names are matched case-insensitively, like Graph. Deliberately rejected (400): `or`, `not`, `ne` and
 * other operators, functions, property paths (`location/city`), property-to-property comparisons, ordering
 * comparisons on enums and booleans, and enum literals that are not members of the enum.
 * A quoted datetime compared with a datetime property matches nothing by default (option `quotedDateTime`).
 */
import { type ApiVersion, type CollectionName, type CollectionSchema, SCHEMAS, resolveProperty } from './model.js';
import { normalizeDateTime } from './timestamps.js';

export class FilterError extends Error {
  override readonly name = 'FilterError';
}

export type FilterPredicate = (record: Readonly<Record<string, unknown>>) => boolean;

export interface FilterOptions {
  /** The collection's schema; or `collection`, the name of a built-in one. */
  schema?: CollectionSchema;
  collection?: CollectionName;
  version: ApiVersion;
  /** What a quoted datetime does against a datetime property: match nothing (default) or fail with 400. */
  quotedDateTime?: 'matchNothing' | 'badRequest';
  /** Reproduces the reported quirk where `gt` on a timestamp also returns the boundary record. */
  gtIncludesBoundary?: boolean;
}

type Operator = 'eq' | 'ge' | 'gt' | 'le' | 'lt';
const OPERATORS: readonly Operator[] = ['eq', 'ge', 'gt', 'le', 'lt'];
const UNSUPPORTED_OPERATORS = ['ne', 'has', 'in', 'add', 'sub', 'mul', 'div', 'mod'];

type Literal =
  | { kind: 'datetime'; value: string; text: string }
  | { kind: 'string'; value: string }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' }
  | { kind: 'number'; value: number };

type Token = { kind: 'open' | 'close' } | { kind: 'word'; text: string } | { kind: 'string'; value: string };

const MAX_DEPTH = 50;

/** Parses `$filter` into a predicate, throwing FilterError (the caller answers 400) on anything unsupported. */
export function parseFilter(text: string, options: FilterOptions): FilterPredicate {
  const tokens = tokenize(text);
  if (tokens.length === 0) throw new FilterError('the filter is empty');
  let pos = 0;

  const parseAnd = (depth: number): FilterPredicate => {
    const parts = [parsePrimary(depth)];
    while (pos < tokens.length) {
      const token = tokens[pos]!;
      if (token.kind !== 'word') break;
      const word = token.text.toLowerCase();
      if (word === 'and') {
        pos++;
        parts.push(parsePrimary(depth));
      } else if (word === 'or') {
        throw new FilterError("the 'or' operator is not supported: combine comparisons with 'and'");
      } else {
        throw new FilterError(`unexpected '${token.text}' after a comparison`);
      }
    }
    return parts.length === 1 ? parts[0]! : (record) => parts.every((p) => p(record));
  };

  const parsePrimary = (depth: number): FilterPredicate => {
    const token = tokens[pos];
    if (!token) throw new FilterError('the filter ends where a comparison was expected');
    if (token.kind === 'open') {
      if (depth >= MAX_DEPTH) throw new FilterError('too many nested parentheses');
      pos++;
      const inner = parseAnd(depth + 1);
      if (tokens[pos]?.kind !== 'close') throw new FilterError("a '(' is not closed");
      pos++;
      return inner;
    }
    if (token.kind === 'word' && token.text.toLowerCase() === 'not') {
      throw new FilterError("the 'not' operator is not supported");
    }
    if (token.kind !== 'word') throw new FilterError('a comparison must start with a property name');
    const left = token.text;
    const opToken = tokens[pos + 1];
    const rightToken = tokens[pos + 2];
    if (left.includes('(')) throw new FilterError(`functions are not supported: '${left}'`);
    if (!opToken || opToken.kind !== 'word') throw new FilterError(`'${left}' must be followed by an operator`);
    if (!rightToken || rightToken.kind === 'open' || rightToken.kind === 'close') {
      throw new FilterError(`'${left} ${opToken.text}' must be followed by a value`);
    }
    pos += 3;
    return comparison(left, opToken.text, parseLiteral(rightToken), options);
  };

  const predicate = parseAnd(0);
  if (pos < tokens.length) {
    const token = tokens[pos]!;
    throw new FilterError(token.kind === 'close' ? "a ')' has no matching '('" : 'unexpected text after the filter');
  }
  return predicate;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++;
    } else if (ch === '(' || ch === ')') {
      tokens.push({ kind: ch === '(' ? 'open' : 'close' });
      i++;
    } else if (ch === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new FilterError('a quoted string is not terminated');
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
        i++;
      }
      tokens.push({ kind: 'string', value });
    } else {
      let end = i;
      while (end < text.length && !" \t\n\r()'".includes(text[end]!)) end++;
      // `contains(` and friends: keep the name attached so the error can say "function".
      const word = text.slice(i, end);
      tokens.push({ kind: 'word', text: text[end] === '(' && /^[A-Za-z]+$/.test(word) ? `${word}(` : word });
      i = end;
    }
  }
  return tokens;
}

function parseLiteral(token: Token): Literal {
  if (token.kind === 'string') return { kind: 'string', value: token.value };
  if (token.kind !== 'word') throw new FilterError('a value was expected');
  const text = token.text;
  const lower = text.toLowerCase();
  if (lower === 'null') return { kind: 'null' };
  if (lower === 'true' || lower === 'false') return { kind: 'boolean', value: lower === 'true' };
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const value = normalizeDateTime(text);
    if (!value) throw new FilterError(`'${text}' is not a valid DateTimeOffset literal`);
    return { kind: 'datetime', value, text };
  }
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return { kind: 'number', value: Number(text) };
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) {
    throw new FilterError(`'${text}' is not a literal (strings are single-quoted; comparing two properties is not supported)`);
  }
  throw new FilterError(`'${text}' is not a valid literal`);
}

function schemaOf(options: FilterOptions): CollectionSchema {
  const schema = options.schema ?? SCHEMAS[options.collection as keyof typeof SCHEMAS];
  if (!schema) throw new TypeError(`parseFilter needs a schema or a built-in collection name, got ${String(options.collection)}`);
  return schema;
}

function comparison(left: string, opText: string, literal: Literal, options: FilterOptions): FilterPredicate {
  const schema = schemaOf(options);
  const op = opText.toLowerCase() as Operator;
  if (!OPERATORS.includes(op)) {
    throw new FilterError(
      UNSUPPORTED_OPERATORS.includes(op)
        ? `the operator '${opText}' is not supported (supported: ${OPERATORS.join(', ')})`
        : `unknown operator '${opText}'`,
    );
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(left)) {
    throw new FilterError(`'${left}' is not a property of ${schema.entityType} (property paths are not supported)`);
  }
  const property = resolveProperty(schema, options.version, left);
  if (!property) throw new FilterError(`could not find a property named '${left}' on type '${schema.entityType}'`);
  const def = schema.properties[property]!;
  const incompatible = (): FilterError =>
    new FilterError(`'${property}' (${def.type}) cannot be compared with ${describeLiteral(literal)} using '${op}'`);

  if (literal.kind === 'null') {
    if (op !== 'eq') throw incompatible();
    return (record) => record[property] === null || record[property] === undefined;
  }

  switch (def.type) {
    case 'datetime': {
      if (literal.kind === 'string') {
        if (options.quotedDateTime === 'badRequest') {
          throw new FilterError(`'${property}' is a DateTimeOffset: write the value unquoted, e.g. ${property} ge 2026-11-01T00:00:00Z`);
        }
        return () => false;
      }
      if (literal.kind !== 'datetime') throw incompatible();
      const effectiveOp = op === 'gt' && options.gtIncludesBoundary ? 'ge' : op;
      return (record) => {
        const value = record[property];
        return typeof value === 'string' && compare(value, literal.value, effectiveOp);
      };
    }
    case 'string': {
      if (literal.kind !== 'string') throw incompatible();
      return (record) => {
        const value = record[property];
        return typeof value === 'string' && compare(value, literal.value, op);
      };
    }
    case 'enum': {
      if (literal.kind !== 'string' || op !== 'eq') throw incompatible();
      const member = def.members!.find((m) => m.toLowerCase() === literal.value.toLowerCase());
      if (!member) throw new FilterError(`'${literal.value}' is not a member of the enum of '${property}'`);
      return (record) => record[property] === member;
    }
    case 'boolean': {
      if (literal.kind !== 'boolean' || op !== 'eq') throw incompatible();
      return (record) => record[property] === literal.value;
    }
    case 'number': {
      if (literal.kind !== 'number') throw incompatible();
      return (record) => {
        const value = record[property];
        return typeof value === 'number' && compare(value, literal.value, op);
      };
    }
    case 'object':
      throw new FilterError(`'${property}' is a complex property and cannot be filtered on`);
    case 'collection':
      throw new FilterError(`'${property}' is a collection: lambda operators (any, all) are not supported`);
  }
}

/** Ordinal comparison of strings (normalized timestamps compare correctly as strings) or of numbers. */
function compare<T extends string | number>(a: T, b: T, op: Operator): boolean {
  switch (op) {
    case 'eq':
      return a === b;
    case 'ge':
      return a >= b;
    case 'gt':
      return a > b;
    case 'le':
      return a <= b;
    case 'lt':
      return a < b;
  }
}

function describeLiteral(literal: Literal): string {
  switch (literal.kind) {
    case 'datetime':
      return `the DateTimeOffset ${literal.text}`;
    case 'string':
      return `the string '${literal.value.replace(/'/g, "''")}'`;
    case 'boolean':
      return `the boolean ${literal.value}`;
    case 'number':
      return `the number ${literal.value}`;
    case 'null':
      return 'null';
  }
}
