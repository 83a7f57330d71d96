// vLLM's --generation-config: the sampling defaults a checkpoint ships in generation_config.json
// (temperature, top_p, top_k, min_p, repetition_penalty, max_new_tokens), used where a request
// leaves a field out. "auto" reads the model's folder, "vllm" uses none, a path reads that folder;
// --override-generation-config sets or replaces fields on top.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GenerationDefaults {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  /** max_new_tokens: the longest output when a request gives no max_tokens. */
  max_tokens?: number;
}

const KEYS = ['temperature', 'top_p', 'top_k', 'min_p', 'repetition_penalty', 'max_new_tokens'] as const;

export function generationDefaults(
  source: string,
  modelDir: string | null,
  overrides: Record<string, unknown> = {},
): GenerationDefaults {
  const dir = source === 'vllm' ? null : source === 'auto' ? modelDir : source;
  const file = dir === null ? null : join(dir, 'generation_config.json');
  let config: Record<string, unknown> = {};
  if (file !== null && existsSync(file)) {
    try {
      config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  } else if (source !== 'auto' && source !== 'vllm') {
    throw new Error(`--generation-config ${source}: no generation_config.json there`);
  }
  const merged = { ...config, ...overrides };
  for (const key of Object.keys(overrides))
    if (!(KEYS as readonly string[]).includes(key))
      throw new Error(`--override-generation-config: '${key}' is not one of ${KEYS.join(', ')}`);
  const out: GenerationDefaults = {};
  for (const key of KEYS) {
    const value = merged[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new Error(`generation config: ${key} must be a number, got ${JSON.stringify(value)}`);
    out[key === 'max_new_tokens' ? 'max_tokens' : key] = value;
  }
  return out;
}
