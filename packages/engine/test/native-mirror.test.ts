// The engine's parameters and statistics are written on both sides of the N-API boundary: the
// TypeScript types and zod schemas here, the C++ structs and the addon that copies between them.
// This is the one place that checks the two sides name the same fields.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { engineOptionsSchema, samplingParamsSchema } from '../src/options.ts';

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

/** The body of the first `{ ... }` after `start` (braces balanced). */
function bodyAfter(text: string, start: string): string {
  const at = text.indexOf(start);
  if (at < 0) throw new Error(`'${start}' not found`);
  const open = text.indexOf('{', at);
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error(`'${start}' has no closing brace`);
}

/** Field names of a TypeScript interface body. */
const tsFields = (body: string) =>
  [...body.matchAll(/^\s*([a-z_][a-z0-9_]*)\??:/gm)].map((m) => m[1]!);
/** Data member names of a C++ struct body (member functions left out). */
const cppFields = (body: string) =>
  [...body.matchAll(/^\s*[\w:<>, ]+?\s+([a-z_][a-z0-9_]*)\s*(?:=[^;]*)?;/gm)].map((m) => m[1]!);
/** The keys an addon function reads from a JavaScript object (read_int(o, w, "key", ...), present(o, "key")). */
const addonReads = (body: string) =>
  [...body.matchAll(/(?:read_\w+\(o, w, |present\(o, )"([a-z_]+)"/g)].map((m) => m[1]!);
/** The keys an addon function sets on a JavaScript object. */
const addonSets = (body: string) => [...body.matchAll(/o\.Set\("([a-z_]+)"/g)].map((m) => m[1]!);

const types = read('packages/engine/src/types.ts');
const addonOptions = read('native/addon/options.cpp');
const addon = read('native/addon/addon.cpp');

describe('the TypeScript and C++ sides of the engine name the same fields', () => {
  it('reads struct fields, interface fields and addon keys', () => {
    expect(
      cppFields(
        '  int32_t n = 1;\n  std::optional<uint64_t> seed;\n  bool greedy() const { return true; }\n',
      ),
    ).toEqual(['n', 'seed']);
    expect(tsFields('  n?: number;\n  /** c */\n  seed: number | null;\n')).toEqual(['n', 'seed']);
    expect(addonReads('read_int(o, w, "n", p.n);\n if (present(o, "seed")) {')).toEqual([
      'n',
      'seed',
    ]);
  });

  it('SamplingParams: the TypeScript type, its schema, the C++ struct and what the addon reads', () => {
    const schema = sorted(Object.keys(samplingParamsSchema.shape));
    expect(sorted(tsFields(bodyAfter(types, 'export interface SamplingParams')))).toEqual(schema);
    expect(
      sorted(
        cppFields(bodyAfter(read('native/src/engine/sampling_params.h'), 'struct SamplingParams')),
      ),
    ).toEqual(schema);
    expect(
      sorted(addonReads(bodyAfter(addonOptions, 'SamplingParams sampling_params_from_js'))),
    ).toEqual(schema);
  });

  it('EngineOptions: the TypeScript type, its schema and what the addon reads', () => {
    const schema = sorted(Object.keys(engineOptionsSchema.shape));
    expect(sorted(tsFields(bodyAfter(types, 'export interface EngineOptions')))).toEqual(schema);
    expect(
      sorted(addonReads(bodyAfter(addonOptions, 'EngineConfig engine_config_from_js'))),
    ).toEqual(schema);
  });

  it('EngineStats and ModelInfo: the TypeScript types and what the addon sets', () => {
    expect(sorted(addonSets(bodyAfter(addon, 'stats(const Napi::CallbackInfo')))).toEqual(
      sorted(tsFields(bodyAfter(types, 'export interface EngineStats'))),
    );
    expect(sorted(addonSets(bodyAfter(addon, 'model_info(const Napi::CallbackInfo')))).toEqual(
      sorted(tsFields(bodyAfter(types, 'export interface ModelInfo'))),
    );
  });
});
