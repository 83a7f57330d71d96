// Request fields shared by chat and completions: OpenAI's sampling parameters and vLLM's extras.
import { z } from 'zod';

export const StopSchema = z
  .union([z.string(), z.array(z.string()).max(16)])
  .nullable()
  .optional();

export const StreamOptionsSchema = z
  .strictObject({
    include_usage: z.boolean().nullable().optional(),
    continuous_usage_stats: z.boolean().nullable().optional(),
  })
  .nullable()
  .optional();
export type StreamOptions = z.infer<typeof StreamOptionsSchema>;

/**
 * vLLM refuses stream_options on a request that does not stream, and prompt_logprobs above 0 on one
 * that does (a stream has nowhere to put them); so do we (both endpoints).
 */
export function refineStreamOptions(
  req: { stream?: boolean | null; stream_options?: unknown; prompt_logprobs?: number | null },
  ctx: z.RefinementCtx,
): void {
  if (req.stream_options != null && req.stream !== true) {
    ctx.addIssue({ code: 'custom', path: ['stream_options'], message: 'stream_options needs stream: true; leave it out or set stream: true' });
  }
  if (req.stream === true && req.prompt_logprobs != null && req.prompt_logprobs > 0) {
    ctx.addIssue({ code: 'custom', path: ['prompt_logprobs'], message: 'prompt_logprobs are not available when stream is true; leave one of them out' });
  }
}

/** Fields both endpoints accept, as vLLM accepts them. */
export const samplingFields = {
  model: z.string().nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: StopSchema,
  stream: z.boolean().nullable().optional(),
  stream_options: StreamOptionsSchema,
  user: z.string().nullable().optional(),
  logit_bias: z.record(z.string(), z.number()).nullable().optional(),
  // vLLM extras
  top_k: z.number().int().min(-1).nullable().optional(),
  min_p: z.number().min(0).max(1).nullable().optional(),
  repetition_penalty: z.number().gt(0).nullable().optional(),
  ignore_eos: z.boolean().nullable().optional(),
  min_tokens: z.number().int().min(0).nullable().optional(),
  stop_token_ids: z.array(z.number().int().min(0)).nullable().optional(),
  include_stop_str_in_output: z.boolean().nullable().optional(),
  skip_special_tokens: z.boolean().nullable().optional(),
  spaces_between_special_tokens: z.boolean().nullable().optional(),
  /** Only these token ids may be sampled. */
  allowed_token_ids: z.array(z.number().int().min(0)).min(1).nullable().optional(),
  /** Words the output must not contain: each one's last token is barred after its others (each step checks them all, so at most 1,024). */
  bad_words: z.array(z.string().min(1).max(256)).max(1024).nullable().optional(),
  /** Keep only the prompt's last N tokens (-1: as many as the context holds). */
  truncate_prompt_tokens: z.number().int().min(-1).nullable().optional(),
  /** Logprobs name tokens "token_id:<id>" rather than by their text. */
  return_tokens_as_token_ids: z.boolean().nullable().optional(),
  /** vLLM: the answer carries the prompt's token ids and each choice's generated ones. */
  return_token_ids: z.boolean().nullable().optional(),
  /** Score the prompt: each prompt token's logprob and rank, with this many top alternatives (0-20). */
  prompt_logprobs: z.number().int().min(0).max(20).nullable().optional(),
};

/** One token of a prompt_logprobs entry, as vLLM answers it: rank 1 is the most likely token. */
export const PromptLogprobSchema = z.object({
  logprob: z.number(),
  rank: z.number().int().nullable(),
  decoded_token: z.string().nullable(),
});
export type PromptLogprob = z.infer<typeof PromptLogprobSchema>;
/**
 * vLLM's prompt_logprobs: one entry a prompt token, null for the first (nothing precedes it), else
 * keyed by token id: the prompt's own token and the top alternatives at that position.
 */
export const PromptLogprobsSchema = z.array(z.record(z.string(), PromptLogprobSchema).nullable());
export type PromptLogprobs = z.infer<typeof PromptLogprobsSchema>;

export const UsageSchema = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  prompt_tokens_details: z.object({ cached_tokens: z.number().int() }).nullable().optional(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const FinishReasonSchema = z
  .enum(['stop', 'length', 'abort', 'tool_calls', 'content_filter'])
  .nullable();
export type FinishReason = z.infer<typeof FinishReasonSchema>;

export function stopList(stop: string | string[] | null | undefined): string[] {
  if (stop == null) return [];
  return (Array.isArray(stop) ? stop : [stop]).filter((s) => s.length > 0);
}

/**
 * A content part that must be text, of one of `types` (the first is the one to suggest). Any type
 * parses first, so an image or audio part gets its own refusal rather than a bare "Invalid input".
 */
export function textOnlyPart(types: readonly [string, ...string[]]) {
  return z
    .object({ type: z.string(), text: z.unknown().optional() })
    .superRefine((part, ctx) => {
      if (!types.includes(part.type))
        ctx.addIssue({
          code: 'custom',
          path: ['type'],
          message: `content parts of type '${part.type}' are not supported: this API takes text only; send {"type": "${types[0]}", "text": ...}`,
        });
      else if (typeof part.text !== 'string')
        ctx.addIssue({ code: 'custom', path: ['text'], message: `a '${part.type}' part needs 'text', a string` });
    })
    .transform((part) => part.text as string);
}
