// Checks a JSON schema before the grammar compiler sees it: its shape (types, bounds, patterns, local
// $refs) and the keywords a grammar cannot enforce. A bad schema is a 400 naming the exact spot
// (e.g. response_format.json_schema.schema.properties.age.minimum), nothing started.
import { badRequest } from '../api-error.ts';

const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);

/** Keywords a token grammar cannot express; silently ignoring them would break the promise. */
const UNSUPPORTED = new Map<string, string>([
  ['not', 'negation'],
  ['if', 'conditional schemas'],
  ['then', 'conditional schemas'],
  ['else', 'conditional schemas'],
  ['dependentSchemas', 'dependent schemas'],
  ['dependentRequired', 'dependent required properties'],
  ['dependencies', 'dependencies'],
  ['unevaluatedProperties', 'unevaluatedProperties'],
  ['unevaluatedItems', 'unevaluatedItems'],
  ['contains', 'contains'],
  ['$dynamicRef', 'dynamic references'],
  ['propertyNames', 'propertyNames'],
  ['patternProperties', 'patternProperties'],
]);

const SCHEMA_MAPS = ['properties', '$defs', 'definitions'] as const;
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
const SCHEMA_SINGLES = ['items', 'additionalProperties', 'additionalItems'] as const;
const COUNTS = ['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties'];
const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Throws a 400 at `param` + path when the schema is malformed or needs what grammars cannot do. */
export function checkJsonSchema(schema: unknown, param: string): void {
  if (!isObject(schema)) throw badRequest(`${param} must be a JSON schema object`, param);
  walk(schema, schema, param);
}

function fail(at: string, message: string): never {
  throw badRequest(`${at}: ${message}`, at);
}

function walk(node: unknown, root: Json, at: string): void {
  if (typeof node === 'boolean') return;
  if (!isObject(node)) fail(at, 'must be a schema (an object or a boolean)');
  for (const [key, what] of UNSUPPORTED)
    if (key in node) fail(`${at}.${key}`, `${what} is not supported in structured output`);
  if (node.uniqueItems === true)
    fail(`${at}.uniqueItems`, 'uniqueItems is not supported in structured output');
  if ('type' in node) {
    const types = Array.isArray(node.type) ? node.type : [node.type];
    for (const t of types)
      if (typeof t !== 'string' || !TYPES.has(t))
        fail(
          `${at}.type`,
          `unknown type ${JSON.stringify(t)} (use one of ${[...TYPES].join(', ')})`,
        );
  }
  if ('enum' in node && (!Array.isArray(node.enum) || node.enum.length === 0))
    fail(`${at}.enum`, 'must be a non-empty array');
  if ('required' in node) {
    if (!Array.isArray(node.required) || node.required.some((r) => typeof r !== 'string'))
      fail(`${at}.required`, 'must be an array of property names');
  }
  for (const k of COUNTS)
    if (k in node && !(Number.isInteger(node[k]) && (node[k] as number) >= 0))
      fail(`${at}.${k}`, 'must be a non-negative integer');
  for (const k of BOUNDS)
    if (k in node && (typeof node[k] !== 'number' || !Number.isFinite(node[k])))
      fail(`${at}.${k}`, 'must be a number');
  if (
    typeof node.minimum === 'number' &&
    typeof node.maximum === 'number' &&
    node.minimum > node.maximum
  )
    fail(`${at}.minimum`, `is greater than maximum (${node.minimum} > ${node.maximum})`);
  for (const [lo, hi] of [
    ['minLength', 'maxLength'],
    ['minItems', 'maxItems'],
  ] as const)
    if (typeof node[lo] === 'number' && typeof node[hi] === 'number' && node[lo] > node[hi])
      fail(`${at}.${lo}`, `is greater than ${hi}`);
  if ('pattern' in node) {
    if (typeof node.pattern !== 'string') fail(`${at}.pattern`, 'must be a string');
    try {
      new RegExp(node.pattern, 'u');
    } catch (err) {
      fail(`${at}.pattern`, `is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  if ('$ref' in node) {
    if (typeof node.$ref !== 'string') fail(`${at}.$ref`, 'must be a string');
    if (resolveRef(root, node.$ref) === undefined)
      fail(
        `${at}.$ref`,
        `'${node.$ref}' does not point into this schema (only local #/... references)`,
      );
  }
  for (const k of SCHEMA_MAPS) {
    if (!(k in node)) continue;
    const map = node[k];
    if (!isObject(map)) fail(`${at}.${k}`, 'must be an object of schemas');
    for (const [name, sub] of Object.entries(map)) walk(sub, root, `${at}.${k}.${name}`);
  }
  for (const k of SCHEMA_LISTS) {
    if (!(k in node)) continue;
    const list = node[k];
    if (!Array.isArray(list) || list.length === 0)
      fail(`${at}.${k}`, 'must be a non-empty array of schemas');
    list.forEach((sub, i) => walk(sub, root, `${at}.${k}.${i}`));
  }
  for (const k of SCHEMA_SINGLES) if (k in node) walk(node[k], root, `${at}.${k}`);
}

function resolveRef(root: Json, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let cur: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(cur) || !(part in cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}
