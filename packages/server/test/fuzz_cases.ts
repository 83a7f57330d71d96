// The fuzz suite's cases, made from a table, deterministically from a seed: each target (a
// management route, the proxy, a runner) has a base body; each case breaks it one way — bad JSON,
// wrong types, NaN/±Infinity, 1 MB strings, 100,000-deep nesting, NUL bytes, path traversal, unknown
// fields, wrong content types, a body over the limit — or breaks the path's id.

export type Via = 'admin' | 'inference' | 'runner';

export interface Target {
  name: string;
  via: Via;
  method: 'POST';
  path: string;
  /** A body the route takes (or refuses for a reason other than its shape: a name that exists). */
  base: Record<string, unknown>;
  /** The body size this receiver refuses (its parser's limit) plus a little. */
  overLimitBytes: number;
}

export interface PathTarget {
  name: string;
  method: 'GET' | 'DELETE' | 'POST';
  /** `{}` is replaced by the broken id (already URL-encoded). */
  path: string;
}

export interface FuzzCase {
  id: string;
  via: Via;
  method: string;
  path: string;
  contentType: string | null;
  body: string | null;
  /** A status the case must get; otherwise only "no 5xx". */
  expectStatus?: number;
}

/** mulberry32: a small seeded generator, so a failing case can be made again from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MB = 1024 * 1024;
const DEPTH = 100_000;
const deepArray = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
const deepObject = '{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH);
const RAW = '__FUZZ_RAW_VALUE__';

/** A JSON text of `base` with field `key` set to `raw`, a JSON fragment written as is. */
function withRaw(base: Record<string, unknown>, key: string, raw: string): string {
  return JSON.stringify({ ...base, [key]: RAW }).replace(JSON.stringify(RAW), raw);
}

/** Three values (picked by the seed) of another type than `v`, the field's base value. */
function wrongTypes(v: unknown, rand: () => number): unknown[] {
  const all: unknown[] = [12345, -1, 0.5, true, [], [1, 'x'], {}, { nested: { x: 1 } }, 'a string'];
  const kind = (x: unknown) => (Array.isArray(x) ? 'array' : x === null ? 'null' : typeof x);
  const other = all.filter((x) => kind(x) !== kind(v));
  const picked: unknown[] = [];
  while (picked.length < 3 && other.length > 0) picked.push(other.splice(Math.floor(rand() * other.length), 1)[0]);
  return picked;
}

function randomText(rand: () => number, length: number): string {
  const pool = ['a', 'Z', '0', ' ', '\t', '\n', 'é', '中', '😀', '\u202e', '\ufeff', '"', '\\', '/', '%', '{', '}', '\u0007'];
  let s = '';
  for (let i = 0; i < length; i++) s += pool[Math.floor(rand() * pool.length)];
  return s;
}

/** Field-level breakages: [label, raw JSON fragment, status it must get or undefined]. */
function fieldBreakages(v: unknown, rand: () => number): Array<[string, string, number?]> {
  const out: Array<[string, string, number?]> = wrongTypes(v, rand).map((w) => [`wrong-type-${JSON.stringify(w).slice(0, 12)}`, JSON.stringify(w)]);
  out.push(
    ['NaN', 'NaN', 400],
    ['Infinity', 'Infinity', 400],
    ['-Infinity', '-Infinity', 400],
    // JSON.parse reads these as ±Infinity: no receiver may take them (nor turn them into null).
    ['1e309', '1e309', 400],
    ['-1e309', '-1e309', 400],
    ['huge-int', '1e20'],
    ['unsafe-int', String(2 ** 53 + 1)],
    ['1MB-string', JSON.stringify('x'.repeat(MB))],
    ['deep-array', deepArray],
    ['deep-object', deepObject],
    ['nul-byte', JSON.stringify(`a\u0000b`)],
    ['path-traversal', JSON.stringify('../../../../etc/passwd')],
    ['path-traversal-encoded', JSON.stringify('..%2F..%2F..%2Fetc%2Fpasswd')],
    ['lone-surrogate', '"\\ud800x"'],
    ['random-text', JSON.stringify(randomText(rand, 40))],
  );
  return out;
}

/** Body-level breakages for a target: [label, content type, body, status it must get or undefined]. */
function bodyBreakages(t: Target, rand: () => number): Array<[string, string | null, string | null, number?]> {
  const json = 'application/json';
  const good = JSON.stringify(t.base);
  const unknown = `zz_${Math.floor(rand() * 1e9).toString(36)}`;
  return [
    ['empty', json, '', 400],
    ['truncated', json, good.slice(0, Math.max(1, Math.floor(good.length / 2))), 400],
    ['trailing-comma', json, good.replace(/}$/, ',}'), 400],
    ['single-quotes', json, good.replace(/"/g, "'"), 400],
    ['NaN-literal', json, '{"x": NaN}', 400],
    ['bare-null', json, 'null', 400],
    ['bare-array', json, '[1,2,3]', 400],
    ['bare-string', json, '"hello"', 400],
    ['bare-number', json, '42', 400],
    ['nul-only', json, '\u0000', 400],
    ['deep-array-body', json, deepArray, 400],
    ['deep-object-body', json, deepObject, 400],
    // Unknown fields: refused by name where the schema is strict; Xinference's registration body tolerates them.
    ['unknown-field', json, JSON.stringify({ ...t.base, [unknown]: 1 })],
    ['unknown-field-1MB-name', json, JSON.stringify({ ...t.base, ['k'.repeat(MB)]: 1 })],
    ['proto-field', json, good.replace(/^{/, '{"__proto__": {"scope": "admin", "isAdmin": true},')],
    ['nul-in-key', json, JSON.stringify({ ...t.base, 'a\u0000b': 1 }), 400],
    ['text-plain', 'text/plain', good],
    ['form-urlencoded', 'application/x-www-form-urlencoded', 'model_name=stories&name=x'],
    ['multipart', 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'],
    ['xml', 'application/xml', '<a>1</a>'],
    ['no-content-type', null, good],
    ['json-charset-latin1', 'application/json; charset=latin1', good],
    ['over-limit', json, JSON.stringify({ ...t.base, pad: 'p'.repeat(t.overLimitBytes) }), 413],
  ];
}

/** Ids broken for a path segment, URL-encoded. */
function brokenIds(rand: () => number): Array<[string, string]> {
  return [
    ['nul', 'a%00b'],
    ['traversal', '..%2F..%2F..%2Fetc%2Fpasswd'],
    ['dot-dot', '%2E%2E'],
    ['backslashes', '..%5C..%5Cwindows'],
    ['long', 'x'.repeat(4000)],
    ['bad-percent', '%E0%A4%A'],
    ['space', 'has%20space'],
    ['unicode', encodeURIComponent(randomText(rand, 12))],
    ['quote', "%27%3B%20DROP%20TABLE%20%22ApiKey%22%3B--"],
    ['dollar', '%24where'],
  ];
}

export function fuzzCases(seed: number, targets: Target[], pathTargets: PathTarget[]): FuzzCase[] {
  const rand = seeded(seed);
  const cases: FuzzCase[] = [];
  for (const t of targets) {
    for (const [key, value] of Object.entries(t.base)) {
      for (const [label, raw, expectStatus] of fieldBreakages(value, rand)) {
        cases.push({ id: `${t.name} ${key}=${label}`, via: t.via, method: t.method, path: t.path, contentType: 'application/json', body: withRaw(t.base, key, raw), expectStatus });
      }
    }
    for (const [label, contentType, body, expectStatus] of bodyBreakages(t, rand)) {
      cases.push({ id: `${t.name} body=${label}`, via: t.via, method: t.method, path: t.path, contentType, body, expectStatus });
    }
  }
  for (const p of pathTargets) {
    for (const [label, id] of brokenIds(rand)) {
      cases.push({ id: `${p.name} id=${label}`, via: 'admin', method: p.method, path: p.path.replace('{}', id), contentType: null, body: null });
    }
  }
  // A seeded order: neighbours differ from run to run of the seed, never between runs of one seed.
  for (let i = cases.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [cases[i], cases[j]] = [cases[j]!, cases[i]!];
  }
  return cases;
}
