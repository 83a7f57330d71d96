// The benchmark's requests: vLLM's random dataset (lengths spread by --random-range-ratio) or the
// ShareGPT-like lengths file; prompts are random token ids from the model's vocabulary.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Rng } from './rng.ts';

export interface BenchRequest {
  promptIds: number[];
  outputLen: number;
}

export interface Vocabulary {
  size: number;
  /** Special tokens (BOS, EOS, ...) never appear in random prompts. */
  special: Set<number>;
}

const TokenizerJson = z.looseObject({
  model: z.looseObject({
    vocab: z.union([z.record(z.string(), z.number()), z.array(z.unknown())]).optional(),
  }),
  added_tokens: z
    .array(z.looseObject({ id: z.number(), special: z.boolean().optional() }))
    .default([]),
});

/** The vocabulary of a model folder (config.json's vocab_size, tokenizer.json's special tokens). */
export function readVocabulary(dir: string): Vocabulary {
  const tokPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokPath))
    throw new Error(
      `${tokPath} not found: pass --tokenizer <model folder> so random prompts use the model's vocabulary`,
    );
  const tok = TokenizerJson.parse(JSON.parse(readFileSync(tokPath, 'utf8')));
  const vocab = tok.model.vocab;
  let size = Array.isArray(vocab) ? vocab.length : vocab ? Object.keys(vocab).length : 0;
  const cfgPath = join(dir, 'config.json');
  if (existsSync(cfgPath)) {
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { vocab_size?: number };
    if (typeof cfg.vocab_size === 'number') size = Math.min(cfg.vocab_size, Math.max(size, 1));
  }
  const special = new Set(tok.added_tokens.filter((t) => t.special !== false).map((t) => t.id));
  if (size <= special.size)
    throw new Error(`${tokPath}: the vocabulary has no ordinary tokens to build prompts from`);
  return { size, special };
}

function randomPrompt(rng: Rng, vocab: Vocabulary, len: number): number[] {
  const ids: number[] = [];
  while (ids.length < len) {
    const id = rng.int(0, vocab.size - 1);
    if (!vocab.special.has(id)) ids.push(id);
  }
  return ids;
}

/** vLLM's random dataset: lengths uniform in [len·(1−r), len·(1+r)]. */
export function randomDataset(opts: {
  num: number;
  inputLen: number;
  outputLen: number;
  rangeRatio: number;
  vocab: Vocabulary;
  seed: number;
}): BenchRequest[] {
  const rng = new Rng(opts.seed);
  const span = (len: number) =>
    [
      Math.max(1, Math.floor(len * (1 - opts.rangeRatio))),
      Math.max(1, Math.ceil(len * (1 + opts.rangeRatio))),
    ] as const;
  const [inLo, inHi] = span(opts.inputLen);
  const [outLo, outHi] = span(opts.outputLen);
  return Array.from({ length: opts.num }, () => ({
    promptIds: randomPrompt(rng, opts.vocab, rng.int(inLo, inHi)),
    outputLen: rng.int(outLo, outHi),
  }));
}

const ShareGptLike = z.object({
  pairs_input_output: z.array(z.tuple([z.number().int().min(1), z.number().int().min(1)])).min(1),
});

/** The first `num` length pairs of a ShareGPT-like file, with random prompts of those lengths. */
export function shareGptLikeDataset(opts: {
  path: string;
  num: number;
  vocab: Vocabulary;
  seed: number;
}): BenchRequest[] {
  if (!existsSync(opts.path)) throw new Error(`--dataset-path ${opts.path} not found`);
  const parsed = ShareGptLike.safeParse(JSON.parse(readFileSync(opts.path, 'utf8')));
  if (!parsed.success)
    throw new Error(
      `${opts.path}: expected {"pairs_input_output": [[input_len, output_len], ...]}`,
    );
  const pairs = parsed.data.pairs_input_output;
  if (opts.num > pairs.length)
    throw new Error(`--num-prompts ${opts.num} exceeds the ${pairs.length} pairs in ${opts.path}`);
  const rng = new Rng(opts.seed);
  return pairs.slice(0, opts.num).map(([inLen, outLen]) => ({
    promptIds: randomPrompt(rng, opts.vocab, inLen),
    outputLen: outLen,
  }));
}
