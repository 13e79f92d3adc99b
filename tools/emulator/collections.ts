/**
 * The collections an emulator serves: the built-in Identity Protection ones and any a test or another process defines
 * at run time (`defineCollection`), all with the same paging, filtering, throttling and faults.
 */
import {
  type ApiVersion,
  type CollectionName,
  type CollectionSchema,
  HISTORY_SCHEMA,
  type PropertyDefinition,
  type PropertyType,
  SCHEMAS,
} from './model.js';

/**
 * A property's type, in the emulator's words or in the product's column vocabulary (src/domain/collections.ts), so a
 * collection declaration's `columns` can be passed as they are: `double` is a number, `json` a string holding JSON,
 * `location` and `activity` (a history item's riskUserActivity) objects.
 */
export type PropertyTypeName = PropertyType | 'double' | 'json' | 'location' | 'activity';

export interface CollectionSpec {
  /** Path under the version segment: `/identityProtection/toyThings`. Matched case-insensitively, like Graph's. */
  path: string;
  /** Defaults to the path's last segment. */
  name?: string;
  /** The cursor property (a datetime); it is added to the properties when they do not list it. */
  cursor?: string;
  /** Property types; `id` (a string) is always there. */
  properties?: Record<string, PropertyTypeName | PropertyDefinition>;
  /** Same as `properties` (the product's declarations call them columns). */
  columns?: Record<string, PropertyTypeName | PropertyDefinition>;
  /** Defaults to `microsoft.graph.<name without a trailing s>`. */
  entityType?: string;
  /** The application permission a token needs (default: none). */
  permission?: string;
  /** The lowest licence that serves it (default: every tenant). */
  licence?: 'P1' | 'P2';
  defaultTop?: number;
  maxTop?: number;
}

/** The route of a Graph request: a collection, one of its records, or a risky user's history. */
export interface GraphRoute {
  version: ApiVersion;
  schema: CollectionSchema;
  /** `/{collection}/{id}` (for history: the user's id). */
  id?: string;
  /** `/riskyUsers/{id}/history[/{itemId}]`. */
  history?: { itemId?: string };
}

const SEGMENT = /^[A-Za-z][A-Za-z0-9_]*$/;
const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const RESERVED_NAMES = ['token', 'notFound', 'admin', 'riskyUsers/history'];
const TYPE_ALIASES: Record<string, PropertyType> = { double: 'number', json: 'string', location: 'object', activity: 'object' };
const TYPES: readonly PropertyType[] = ['string', 'datetime', 'boolean', 'enum', 'object', 'number', 'collection'];

export class CollectionRegistry {
  private readonly schemas = new Map<string, CollectionSchema>();

  constructor() {
    for (const schema of Object.values(SCHEMAS)) this.schemas.set(schema.name, schema);
  }

  /** Adds a collection; throws a RangeError naming the problem when the spec is not usable. */
  define(spec: CollectionSpec): CollectionSchema {
    const schema = buildSchema(spec);
    for (const existing of this.schemas.values()) {
      if (existing.name.toLowerCase() === schema.name.toLowerCase()) {
        throw new RangeError(`A collection named '${existing.name}' already exists: give the new one another name or path`);
      }
      const [a, b] = [existing.path.toLowerCase(), schema.path.toLowerCase()];
      if (a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`)) {
        throw new RangeError(`The path '${schema.path}' overlaps '${existing.path}', served by '${existing.name}'`);
      }
    }
    this.schemas.set(schema.name, schema);
    return schema;
  }

  get(name: CollectionName): CollectionSchema | undefined {
    return this.schemas.get(name);
  }

  /** The schema of a collection, or a RangeError that lists the known names. */
  require(name: CollectionName): CollectionSchema {
    const schema = this.schemas.get(name);
    if (!schema) throw new RangeError(`Unknown collection '${name}' (known: ${this.names().join(', ')})`);
    return schema;
  }

  names(): CollectionName[] {
    return [...this.schemas.keys()];
  }

  list(): CollectionSchema[] {
    return [...this.schemas.values()];
  }

  /** The route of a request path, undefined when nothing is served there. Graph paths are case-insensitive. */
  match(pathname: string): GraphRoute | undefined {
    const m = /^\/(v1\.0|beta)(\/.*?)\/?$/i.exec(pathname);
    if (!m) return undefined;
    const version = m[1]!.toLowerCase() as ApiVersion;
    const rest = m[2]!;
    const lower = rest.toLowerCase();
    for (const schema of this.schemas.values()) {
      const base = schema.path.toLowerCase();
      if (lower === base) return { version, schema };
      if (!lower.startsWith(`${base}/`)) continue;
      const tail = rest.slice(base.length + 1).split('/');
      const segments = decodeSegments(tail);
      if (!segments) return undefined;
      if (segments.length === 1) return { version, schema, id: segments[0]! };
      if (schema.name === 'riskyUsers' && segments[1]!.toLowerCase() === 'history' && segments.length <= 3) {
        return { version, schema: HISTORY_SCHEMA, id: segments[0]!, history: segments.length === 3 ? { itemId: segments[2]! } : {} };
      }
      return undefined;
    }
    return undefined;
  }
}

function decodeSegments(tail: string[]): string[] | undefined {
  try {
    const segments = tail.map((segment) => decodeURIComponent(segment));
    return segments.some((segment) => segment === '') ? undefined : segments;
  } catch {
    return undefined;
  }
}

function buildSchema(spec: CollectionSpec): CollectionSchema {
  const fail = (message: string): never => {
    throw new RangeError(`Invalid collection ${JSON.stringify(spec.name ?? spec.path)}: ${message}`);
  };
  if (!spec || typeof spec !== 'object') fail('expected an object with at least a path');
  if (typeof spec.path !== 'string' || !spec.path.startsWith('/')) fail("path must start with '/', e.g. /identityProtection/toyThings");
  const segments = spec.path.split('/').slice(1);
  if (segments.length === 0 || !segments.every((segment) => SEGMENT.test(segment))) {
    fail('path segments must be identifiers (letters, digits, _), separated by single slashes');
  }
  const name = spec.name ?? segments[segments.length - 1]!;
  if (!NAME.test(name) || RESERVED_NAMES.includes(name))
    fail(`'${name}' cannot be a collection name (letters, digits and _ only; not ${RESERVED_NAMES.join(', ')})`);

  const properties: Record<string, PropertyDefinition> = { id: { type: 'string' } };
  for (const [property, type] of Object.entries({ ...spec.properties, ...spec.columns })) {
    if (!NAME.test(property)) fail(`'${property}' is not a valid property name`);
    properties[property] = propertyDefinition(property, type, fail);
  }
  if (properties.id!.type !== 'string') fail("'id' is the key and must be a string");
  if (spec.cursor !== undefined) {
    if (typeof spec.cursor !== 'string' || !NAME.test(spec.cursor)) fail('cursor must be a property name');
    properties[spec.cursor] ??= { type: 'datetime' };
    if (properties[spec.cursor]!.type !== 'datetime') fail(`the cursor '${spec.cursor}' must be a datetime property`);
  }
  if (spec.licence !== undefined && spec.licence !== 'P1' && spec.licence !== 'P2') fail("licence must be 'P1' or 'P2'");
  if (spec.permission !== undefined && (typeof spec.permission !== 'string' || spec.permission === '')) fail('permission must be a non-empty string');
  const maxTop = spec.maxTop ?? 500;
  const defaultTop = spec.defaultTop ?? Math.min(20, maxTop);
  if (!(Number.isInteger(maxTop) && maxTop >= 1)) fail('maxTop must be a positive integer');
  if (!(Number.isInteger(defaultTop) && defaultTop >= 1 && defaultTop <= maxTop)) fail('defaultTop must be an integer from 1 to maxTop');

  return {
    name,
    path: spec.path,
    entityType: spec.entityType ?? `microsoft.graph.${name.replace(/s$/, '')}`,
    ...(spec.cursor !== undefined && { cursor: spec.cursor }),
    ...(spec.permission !== undefined && { permission: spec.permission }),
    ...(spec.licence !== undefined && { licence: spec.licence }),
    defaultTop,
    maxTop,
    properties,
  };
}

function propertyDefinition(property: string, type: PropertyTypeName | PropertyDefinition, fail: (message: string) => never): PropertyDefinition {
  const definition: PropertyDefinition = typeof type === 'string' ? { type: TYPE_ALIASES[type] ?? (type as PropertyType) } : { ...type };
  if (typeof type === 'object' && type !== null && typeof type.type === 'string' && TYPE_ALIASES[type.type]) {
    definition.type = TYPE_ALIASES[type.type]!;
  }
  if (!TYPES.includes(definition.type)) {
    fail(
      `'${property}' has the unknown type ${JSON.stringify(typeof type === 'string' ? type : type?.type)} (use ${[...TYPES, ...Object.keys(TYPE_ALIASES)].join(', ')})`,
    );
  }
  if (definition.type === 'enum') {
    const members = definition.members;
    if (!Array.isArray(members) || members.length === 0 || !members.every((m) => typeof m === 'string')) {
      fail(`the enum '${property}' needs its members (strings, in wire order)`);
    }
  }
  return definition;
}
