// zod schemas for what crosses into the engine: load options and per-request sampling
// parameters. Types are checked here; ranges by the native engine, which names the parameter.
import { z } from 'zod';
import { InvalidEngineOptionsError, InvalidRequestError } from './errors.ts';
import type { EngineOptions, SamplingParams } from './types.ts';

const int = z.number().int();

export const engineOptionsSchema = z
  .object({
    model: z.string().min(1),
    load_format: z.enum(['auto', 'dummy']).optional(),
    dtype: z.enum(['auto', 'float32', 'bfloat16', 'float16']).optional(),
    device: z.enum(['auto', 'cpu', 'cuda']).optional(),
    max_model_len: int.nonnegative().optional(),
    max_num_seqs: int.positive().optional(),
    max_num_batched_tokens: int.nonnegative().optional(),
    block_size: int.positive().optional(),
    enable_prefix_caching: z.boolean().optional(),
    enable_chunked_prefill: z.boolean().optional(),
    gpu_memory_utilization: z.number().optional(),
    kv_cache_space_bytes: int.nonnegative().optional(),
    num_gpu_blocks_override: int.nonnegative().optional(),
    enforce_eager: z.boolean().optional(),
    seed: int.nonnegative().optional(),
    tensor_parallel_size: int.positive().optional(),
    pipeline_parallel_size: int.positive().optional(),
    quantization: z.string().nullable().optional(),
    num_threads: int.nonnegative().optional(),
    kv_cache_dtype: z.string().optional(),
  })
  .strict();

export const samplingParamsSchema = z
  .object({
    n: int.optional(),
    max_tokens: int.optional(),
    min_tokens: int.optional(),
    temperature: z.number().optional(),
    top_k: int.optional(),
    top_p: z.number().optional(),
    min_p: z.number().optional(),
    repetition_penalty: z.number().optional(),
    presence_penalty: z.number().optional(),
    frequency_penalty: z.number().optional(),
    seed: int.nullable().optional(),
    logprobs: int.nullable().optional(),
    prompt_logprobs: int.nullable().optional(),
    stop_token_ids: z.array(int).optional(),
    ignore_eos: z.boolean().optional(),
    logit_bias: z.array(z.tuple([int, z.number()])).optional(),
    constrained: z.boolean().optional(),
  })
  .strict();

export const promptTokenIdsSchema = z.array(int).min(1, 'prompt must contain at least one token');

function describe(error: z.ZodError, what: string): string {
  return error.issues
    .map((i) => `${what}${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`)
    .join('; ');
}

export function parseEngineOptions(options: unknown): EngineOptions {
  const r = engineOptionsSchema.safeParse(options);
  if (!r.success) throw new InvalidEngineOptionsError(describe(r.error, 'options'));
  const o = r.data;
  // null quantization means none; the addon takes strings only.
  const { quantization, ...rest } = o;
  return quantization ? { ...rest, quantization } : rest;
}

export function parseSamplingParams(params: unknown): SamplingParams {
  const r = samplingParamsSchema.safeParse(params ?? {});
  if (!r.success) throw new InvalidRequestError(describe(r.error, 'sampling params'));
  return r.data;
}

export function parsePromptTokenIds(ids: unknown): number[] {
  const r = promptTokenIdsSchema.safeParse(ids);
  if (!r.success) throw new InvalidRequestError(describe(r.error, 'promptTokenIds'));
  return r.data;
}
