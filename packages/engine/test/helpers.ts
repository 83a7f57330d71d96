// Shared pieces of the engine tests: the stories260k checkpoint, its golden file, a seeded
// prompt generator, and collecting a request's deltas into per-output token lists.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Engine, GenerateDelta, SamplingParams } from '../src/index.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
export const STORIES = `${repo}../shared/models/stories260k`;
export const GOLDEN = JSON.parse(
  readFileSync(`${repo}../shared/fixtures/golden/stories260k.golden.json`, 'utf8'),
) as { cases: Array<{ prompt_ids: number[]; greedy_ids: number[]; greedy_logprobs: number[] }> };

/** Small KV cache: tests never need the default 4 GiB. */
export const BASE = { model: STORIES, device: 'cpu', kv_cache_space_bytes: 8 << 20, num_threads: 1 } as const;

/** Deterministic prompts: BOS then pseudo-random token ids in [3, 512). */
export function makePrompt(length: number, seed: number): number[] {
  let x = (seed * 2654435761 + 12345) >>> 0;
  const ids = [1];
  while (ids.length < length) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    ids.push(3 + ((x >>> 8) % 509));
  }
  return ids;
}

export interface Collected {
  outputs: number[][];
  deltas: GenerateDelta[];
  finish: Array<GenerateDelta['finish_reason']>;
}

export async function collect(stream: AsyncIterable<GenerateDelta>): Promise<Collected> {
  const out: Collected = { outputs: [], deltas: [], finish: [] };
  for await (const d of stream) {
    out.deltas.push(d);
    (out.outputs[d.index] ??= []).push(...d.token_ids);
    if (d.finish_reason) out.finish[d.index] = d.finish_reason;
  }
  return out;
}

export async function tokensAlone(engine: Engine, prompt: number[], params: SamplingParams) {
  return (await collect(engine.generate(prompt, params))).outputs[0] ?? [];
}

export const greedy = (max_tokens: number): SamplingParams => ({
  temperature: 0,
  max_tokens,
  ignore_eos: true,
});
