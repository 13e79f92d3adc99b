/**
 * Just enough Bicep reading for the infra tests (there is no Bicep compiler here): comments and string
 * literals are masked so that structure (params, vars, object literals, modules, resources) can be found
 * with plain scanning, and the original text is read back at the same offsets.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO = join(__dirname, '..', '..');

export function readRepoFile(relativePath: string): string {
  return readFileSync(join(REPO, relativePath), 'utf8');
}

/**
 * Same length as `src`: comments become spaces, the inside of every string literal (interpolations included)
 * becomes `_`, newlines stay. Quotes of the outermost string stay, so a literal still reads as `'____'`.
 */
export function mask(src: string): string {
  const out = src.split('');
  // Each frame is a string literal or an interpolation `${...}` inside one (with its own brace depth).
  const stack: Array<{ kind: 'string' } | { kind: 'interp'; depth: number }> = [];
  const hide = (j: number) => {
    if (j < out.length && out[j] !== '\n') out[j] = '_';
  };
  let i = 0;
  while (i < src.length) {
    const top = stack[stack.length - 1];
    const c = src[i]!;
    const next = src[i + 1];
    const inside = stack.length > 0;
    if (!top || top.kind === 'interp') {
      if (!inside && c === '/' && next === '/') {
        while (i < src.length && src[i] !== '\n') out[i++] = ' ';
        continue;
      }
      if (!inside && c === '/' && next === '*') {
        const end = src.indexOf('*/', i + 2);
        const stop = end < 0 ? src.length : end + 2;
        for (; i < stop; i++) if (src[i] !== '\n') out[i] = ' ';
        continue;
      }
      if (src.startsWith("'''", i)) {
        const end = src.indexOf("'''", i + 3);
        const stop = end < 0 ? src.length : end + 3;
        for (let j = inside ? i : i + 3; j < (inside ? stop : stop - 3); j++) hide(j);
        i = stop;
        continue;
      }
      if (c === "'") {
        if (inside) hide(i);
        stack.push({ kind: 'string' });
        i++;
        continue;
      }
      if (top && top.kind === 'interp') {
        hide(i);
        if (c === '{') top.depth++;
        else if (c === '}') {
          if (top.depth === 0) stack.pop();
          else top.depth--;
        }
      }
      i++;
      continue;
    }
    // inside a string literal
    if (c === '\\') {
      hide(i);
      hide(i + 1);
      i += 2;
      continue;
    }
    if (c === "'") {
      stack.pop();
      if (stack.length > 0) hide(i);
      i++;
      continue;
    }
    if (c === '$' && next === '{') {
      hide(i);
      hide(i + 1);
      stack.push({ kind: 'interp', depth: 0 });
      i += 2;
      continue;
    }
    hide(i);
    i++;
  }
  return out.join('');
}

/** Value of a Bicep single-quoted string literal such as `'it\'s'`; undefined when `raw` is not one. */
export function stringLiteral(raw: string): string | undefined {
  const text = raw.trim();
  if (text.length < 2 || !text.startsWith("'") || !text.endsWith("'")) return undefined;
  if (mask(text).indexOf("'", 1) !== text.length - 1) return undefined; // two literals, or an expression
  if (/\$\{/.test(text)) return undefined; // interpolated: not a constant
  return text.slice(1, -1).replace(/\\(u\{[0-9a-fA-F]+\}|.)/g, (_m, e: string) => {
    if (e.startsWith('u{')) return String.fromCodePoint(parseInt(e.slice(2, -1), 16));
    return ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e] ?? e;
  });
}

/** A literal default: string, integer or boolean; undefined for an expression. */
export function literal(raw: string): string | number | boolean | undefined {
  const text = raw.trim();
  const s = stringLiteral(text);
  if (s !== undefined) return s;
  if (/^-?\d+$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return undefined;
}

/** Index of the bracket that closes the one at `open` (`{`, `[` or `(`), scanning masked text. */
function closing(masked: string, open: number): number {
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    const c = masked[i];
    if (c === '{' || c === '[' || c === '(') depth++;
    else if (c === '}' || c === ']' || c === ')') {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw new Error(`unbalanced bracket at offset ${open}`);
}

export interface Decorator {
  name: string;
  /** Original text of the arguments between the parentheses. */
  args: string;
}

export interface Param {
  name: string;
  type: string;
  /** Original text of the default expression, if any. */
  defaultRaw?: string;
  defaultValue?: string | number | boolean;
  decorators: Decorator[];
  description?: string;
  allowed?: Array<string | number | boolean>;
  minValue?: number;
  maxValue?: number;
}

export interface Entry {
  key: string;
  /** Original text of the value (the rest of the line, or a whole nested object/array). */
  value: string;
}

export class BicepFile {
  readonly masked: string;
  constructor(
    readonly path: string,
    readonly src: string = readRepoFile(path),
  ) {
    this.masked = mask(this.src);
  }

  /** Statement keywords at the start of a line, with their offsets. */
  private statements(keyword: string): RegExpExecArray[] {
    const re = new RegExp(`^[ \\t]*${keyword}\\s+(\\w+)`, 'gm');
    return [...this.masked.matchAll(re)] as RegExpExecArray[];
  }

  /** Decorators of each top-level statement, keyed by the offset of the statement's line. */
  private decoratorIndex(): Map<number, Decorator[]> {
    const index = new Map<number, Decorator[]>();
    let pending: Decorator[] = [];
    let offset = 0;
    while (offset < this.masked.length) {
      const lineEnd = this.masked.indexOf('\n', offset);
      const end = lineEnd < 0 ? this.masked.length : lineEnd;
      const line = this.masked.slice(offset, end);
      const indent = line.length - line.trimStart().length;
      const trimmed = line.trim();
      if (trimmed.startsWith('@')) {
        const at = offset + indent;
        const name = /^@(\w+)/.exec(trimmed)?.[1] ?? '';
        const open = at + 1 + name.length;
        if (this.masked[open] === '(') {
          const close = closing(this.masked, open);
          pending.push({ name, args: this.src.slice(open + 1, close) });
          const after = this.masked.indexOf('\n', close);
          offset = after < 0 ? this.masked.length : after + 1;
          continue;
        }
        pending.push({ name, args: '' });
      } else if (/^(param|var|resource|module|output|type|func|import|targetScope|metadata)\b/.test(trimmed)) {
        index.set(offset, pending);
        pending = [];
      } else if (trimmed !== '') {
        pending = [];
      }
      offset = end + 1;
    }
    return index;
  }

  params(): Map<string, Param> {
    const params = new Map<string, Param>();
    const decorators = this.decoratorIndex();
    for (const m of this.statements('param')) {
      const lineEnd = this.masked.indexOf('\n', m.index);
      const line = this.masked.slice(m.index, lineEnd < 0 ? undefined : lineEnd);
      const shape = /^\s*param\s+(\w+)\s+(\w+)(\s*=\s*)?/.exec(line);
      if (!shape) throw new Error(`${this.path}: cannot read param line: ${line}`);
      const param: Param = { name: shape[1]!, type: shape[2]!, decorators: decorators.get(m.index) ?? [] };
      if (shape[3]) {
        const defaultStart = m.index + shape[0].length;
        let defaultEnd = lineEnd < 0 ? this.src.length : lineEnd;
        const firstChar = this.masked[defaultStart];
        if (firstChar === '{' || firstChar === '[') defaultEnd = closing(this.masked, defaultStart) + 1;
        param.defaultRaw = this.src.slice(defaultStart, defaultEnd).trim();
        param.defaultValue = literal(param.defaultRaw);
      }
      for (const d of param.decorators) {
        if (d.name === 'description') param.description = stringLiteral(d.args);
        if (d.name === 'minValue') param.minValue = Number(d.args.trim());
        if (d.name === 'maxValue') param.maxValue = Number(d.args.trim());
        if (d.name === 'allowed') param.allowed = arrayItems(d.args).map((item) => literal(item)!);
      }
      params.set(param.name, param);
    }
    return params;
  }

  /** `output NAME TYPE = expr` → expression text. */
  outputs(): Map<string, string> {
    const outputs = new Map<string, string>();
    for (const m of this.statements('output')) {
      const lineEnd = this.masked.indexOf('\n', m.index);
      const line = this.src.slice(m.index, lineEnd < 0 ? undefined : lineEnd);
      const shape = /^\s*output\s+(\w+)\s+\w+\s*=\s*(.*)$/.exec(line);
      if (shape) outputs.set(shape[1]!, shape[2]!.trim());
    }
    return outputs;
  }

  /** Expression text of `var NAME = ...` (a literal object/array is returned whole). */
  vars(): Map<string, string> {
    const vars = new Map<string, string>();
    for (const m of this.statements('var')) {
      const eq = this.masked.indexOf('=', m.index);
      let start = eq + 1;
      while (this.masked[start] === ' ') start++;
      let end: number;
      const first = this.masked[start];
      if (first === '{' || first === '[') end = closing(this.masked, start) + 1;
      else {
        const lineEnd = this.masked.indexOf('\n', start);
        end = lineEnd < 0 ? this.src.length : lineEnd;
      }
      vars.set(m[1]!, this.src.slice(start, end).trim());
    }
    return vars;
  }

  /** Type expression text of `type NAME = ...` (a literal object is returned whole, braces included). */
  types(): Map<string, string> {
    const types = new Map<string, string>();
    for (const m of this.statements('type')) {
      const eq = this.masked.indexOf('=', m.index);
      let start = eq + 1;
      while (this.masked[start] === ' ') start++;
      const lineEnd = this.masked.indexOf('\n', start);
      const end = this.masked[start] === '{' ? closing(this.masked, start) + 1 : lineEnd < 0 ? this.src.length : lineEnd;
      types.set(m[1]!, this.src.slice(start, end).trim());
    }
    return types;
  }

  /** `import { a, b } from '<path>'` statements: imported symbol -> path. */
  imports(): Map<string, string> {
    const imports = new Map<string, string>();
    for (const m of this.masked.matchAll(/^[ \t]*import\s*\{([^}]*)\}\s*from\s*'/gm)) {
      const quote = m.index! + m[0].length - 1;
      const path = this.src.slice(quote + 1, this.masked.indexOf("'", quote + 1));
      for (const symbol of m[1]!
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean))
        imports.set(symbol, path);
    }
    return imports;
  }

  /** Paths of `module NAME '<path>'` statements. */
  modules(): Map<string, string> {
    const modules = new Map<string, string>();
    for (const m of this.masked.matchAll(/^[ \t]*module\s+(\w+)\s+'/gm)) {
      const quote = m.index! + m[0].length - 1;
      const close = this.masked.indexOf("'", quote + 1);
      modules.set(m[1]!, this.src.slice(quote + 1, close));
    }
    return modules;
  }

  /** Body (original text between the outer braces) of `resource`/`module` NAME, and its type or path. */
  block(keyword: 'resource' | 'module', name: string): { target: string; body: string; header: string } {
    const m = new RegExp(`^[ \\t]*${keyword}\\s+${name}\\s+'`, 'm').exec(this.masked);
    if (!m) throw new Error(`${this.path}: no ${keyword} ${name}`);
    const quote = m.index + m[0].length - 1;
    const close = this.masked.indexOf("'", quote + 1);
    const open = this.masked.indexOf('{', close);
    const end = closing(this.masked, open);
    return {
      target: this.src.slice(quote + 1, close),
      header: this.src.slice(m.index, open),
      body: this.src.slice(open + 1, end),
    };
  }

  /** Resources: symbolic name → type@apiVersion. */
  resources(): Map<string, string> {
    const resources = new Map<string, string>();
    for (const m of this.masked.matchAll(/^[ \t]*resource\s+(\w+)\s+'/gm)) {
      const quote = m.index! + m[0].length - 1;
      const close = this.masked.indexOf("'", quote + 1);
      resources.set(m[1]!, this.src.slice(quote + 1, close));
    }
    return resources;
  }
}

/** Items of a Bicep array literal body (newline- or comma-separated), as original text. */
export function arrayItems(text: string): string[] {
  let body = text.trim();
  if (body.startsWith('[')) body = body.slice(1, body.lastIndexOf(']'));
  const masked = mask(body);
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= masked.length; i++) {
    const c = masked[i];
    if (c === '{' || c === '[' || c === '(') depth++;
    else if (c === '}' || c === ']' || c === ')') depth--;
    if (i === masked.length || (depth === 0 && (c === '\n' || c === ','))) {
      const item = body.slice(start, i).trim();
      if (item) items.push(item);
      start = i + 1;
    }
  }
  return items;
}

/** Top-level `key: value` entries of an object literal (text including its braces). */
export function objectEntries(text: string): Entry[] {
  const body = text.trim();
  if (!body.startsWith('{')) throw new Error(`not an object literal: ${body.slice(0, 40)}`);
  const masked = mask(body);
  const entries: Entry[] = [];
  let depth = 0;
  let i = 1;
  while (i < masked.length - 1) {
    const c = masked[i]!;
    if (depth === 0 && /[\w']/.test(c)) {
      // a key: identifier or quoted string, then ':'
      const keyMatch = /^(\w+|'[^']*')\s*:\s*/.exec(masked.slice(i));
      if (keyMatch) {
        const rawKey = body.slice(i, i + keyMatch[1]!.length);
        const key = rawKey.startsWith("'") ? stringLiteral(rawKey)! : rawKey;
        const valueStart = i + keyMatch[0].length;
        let valueEnd: number;
        const first = masked[valueStart];
        if (first === '{' || first === '[' || first === '(') {
          valueEnd = closing(masked, valueStart) + 1;
          // a value may continue after a bracket (e.g. foo(...).bar); read to the end of the line
          const lineEnd = masked.indexOf('\n', valueEnd);
          const rest = masked.slice(valueEnd, lineEnd < 0 ? masked.length - 1 : lineEnd);
          if (rest.trim() !== '' && !rest.trim().startsWith(',')) valueEnd = lineEnd < 0 ? masked.length - 1 : lineEnd;
        } else {
          let j = valueStart;
          let d = 0;
          for (; j < masked.length - 1; j++) {
            const ch = masked[j];
            if (ch === '{' || ch === '[' || ch === '(') d++;
            else if (ch === '}' || ch === ']' || ch === ')') d--;
            if (d === 0 && (ch === '\n' || ch === ',')) break;
          }
          valueEnd = j;
        }
        entries.push({ key, value: body.slice(valueStart, valueEnd).trim() });
        i = valueEnd;
        continue;
      }
    }
    if (c === '{' || c === '[' || c === '(') depth++;
    else if (c === '}' || c === ']' || c === ')') depth--;
    i++;
  }
  return entries;
}
