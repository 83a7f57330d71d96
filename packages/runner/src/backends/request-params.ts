// OpenAI request fields to the engine's SamplingParams, and the length checks vLLM makes (HTTP 400 with
// the limit named) before anything reaches the engine.
import type { SamplingParams } from '@pagoda/engine';
import type { ChatCompletionRequest, CompletionRequest } from '@pagoda/protocol';
import { ApiError, badRequest } from '../api-error.ts';
import type { GenerationDefaults } from './generation-defaults.ts';

type Common = Pick<
  CompletionRequest,
  | 'n'
  | 'temperature'
  | 'top_p'
  | 'top_k'
  | 'min_p'
  | 'presence_penalty'
  | 'frequency_penalty'
  | 'repetition_penalty'
  | 'seed'
  | 'stop_token_ids'
  | 'ignore_eos'
  | 'min_tokens'
  | 'logit_bias'
>;

/** OpenAI's logit_bias ({"token id": bias}) as the engine's [id, bias] pairs, each checked. */
export function logitBias(
  bias: Record<string, number> | null | undefined,
  vocabSize: number,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [key, value] of Object.entries(bias ?? {})) {
    const id = Number(key);
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(id) || id >= vocabSize)
      throw badRequest(
        `logit_bias: '${key}' is not a token id of this model (ids run from 0 to ${vocabSize - 1})`,
        'logit_bias',
      );
    if (!(value >= -100 && value <= 100))
      throw badRequest(`logit_bias: the bias for token ${key} must be in [-100, 100], got ${value}`, 'logit_bias');
    out.push([id, value]);
  }
  return out;
}

export function samplingParams(
  req: Common,
  maxTokens: number,
  logprobs: number | null,
  vocabSize: number,
  defaults: GenerationDefaults = {},
): SamplingParams {
  const bias = logitBias(req.logit_bias, vocabSize);
  const topK = req.top_k ?? defaults.top_k;
  const params: SamplingParams = {
    n: req.n ?? 1,
    max_tokens: maxTokens,
    min_tokens: req.min_tokens ?? 0,
    temperature: req.temperature ?? defaults.temperature ?? 1,
    top_p: req.top_p ?? defaults.top_p ?? 1,
    top_k: topK != null && topK > 0 ? topK : -1,
    min_p: req.min_p ?? defaults.min_p ?? 0,
    presence_penalty: req.presence_penalty ?? 0,
    frequency_penalty: req.frequency_penalty ?? 0,
    repetition_penalty: req.repetition_penalty ?? defaults.repetition_penalty ?? 1,
    seed: req.seed ?? null,
    logprobs,
    stop_token_ids: req.stop_token_ids ?? [],
    ignore_eos: req.ignore_eos ?? false,
  };
  if (bias.length > 0) params.logit_bias = bias;
  if (params.min_tokens! > maxTokens)
    throw badRequest(
      `min_tokens (${params.min_tokens}) must not exceed max_tokens (${maxTokens})`,
      'min_tokens',
    );
  return params;
}

/**
 * The max_tokens to use for a prompt of `promptLen` tokens: the request's, or what is left of the
 * context. A prompt that does not leave room is a 400 stating the limit, as vLLM words it.
 */
export function resolveMaxTokens(
  requested: number | null | undefined,
  promptLen: number,
  maxModelLen: number,
  where: 'messages' | 'prompt',
  defaultMax?: number,
): number {
  if (promptLen >= maxModelLen || (requested != null && promptLen + requested > maxModelLen)) {
    const total = promptLen + (requested ?? 1);
    const detail =
      requested != null
        ? ` (${promptLen} in the ${where}, ${requested} in the completion)`
        : ` in the ${where}`;
    throw new ApiError(
      400,
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${requested != null ? total : promptLen} tokens${detail}. Please reduce the length of the ${where}${requested != null ? ' or completion' : ''}.`,
      requested != null ? 'max_tokens' : where,
      undefined,
      'context_length_exceeded',
      { params: { max_model_len: maxModelLen, prompt_tokens: promptLen, max_tokens: requested ?? null } },
    );
  }
  // the generation config's max_new_tokens bounds an output the request left open
  return requested ?? Math.min(maxModelLen - promptLen, defaultMax ?? Infinity);
}

export function checkTokenIds(ids: readonly number[], vocabSize: number, param: string): void {
  for (const id of ids) {
    if (id >= vocabSize)
      throw badRequest(
        `token id ${id} is outside the vocabulary (ids run from 0 to ${vocabSize - 1})`,
        param,
      );
  }
}

export function chatMaxTokens(req: ChatCompletionRequest): number | null {
  return req.max_completion_tokens ?? req.max_tokens ?? null;
}

/**
 * vLLM's truncate_prompt_tokens: the prompt's last `keep` ids (-1: as many as the context holds).
 * Asking to keep more than the context holds, or none, is a 400.
 */
export function truncatePrompt(ids: number[], keep: number | null | undefined, maxModelLen: number): number[] {
  if (keep == null) return ids;
  const n = keep === -1 ? maxModelLen : keep;
  if (n < 1 || n > maxModelLen)
    throw badRequest(
      `truncate_prompt_tokens must be -1 or from 1 to the model's maximum context length (${maxModelLen}), got ${keep}`,
      'truncate_prompt_tokens',
    );
  return ids.length > n ? ids.slice(ids.length - n) : ids;
}
