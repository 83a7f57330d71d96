// POST /v1/completions: request (text, text list, token ids or lists of them), response and stream chunk.
import { z } from 'zod';
import {
  FinishReasonSchema,
  PromptLogprobsSchema,
  UsageSchema,
  refineStreamOptions,
  samplingFields,
} from './common.ts';
import { ResponseFormatSchema, structuredOutputFields } from './structured.ts';

const TokenIds = z.array(z.number().int().min(0)).min(1);

export const CompletionPromptSchema = z.union([
  z.string(),
  z.array(z.string()).min(1),
  TokenIds,
  z.array(TokenIds).min(1),
]);

export const CompletionRequestSchema = z
  .strictObject({
    ...samplingFields,
    prompt: CompletionPromptSchema,
    echo: z.boolean().nullable().optional(),
    logprobs: z.number().int().min(0).max(20).nullable().optional(),
    best_of: z.number().int().min(1).nullable().optional(),
    suffix: z.string().nullable().optional(),
    add_special_tokens: z.boolean().nullable().optional(),
    response_format: ResponseFormatSchema.nullable().optional(),
    ...structuredOutputFields,
  })
  .superRefine((req, ctx) => {
    refineStreamOptions(req, ctx);
    if (req.best_of != null && req.best_of !== (req.n ?? 1)) {
      ctx.addIssue({
        code: 'custom',
        path: ['best_of'],
        message: 'best_of other than n is not supported; leave it out',
      });
    }
    if (req.suffix)
      ctx.addIssue({
        code: 'custom',
        path: ['suffix'],
        message: 'suffix is not supported; leave it out',
      });
  });
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

export const CompletionLogprobsSchema = z.object({
  tokens: z.array(z.string()),
  token_logprobs: z.array(z.number().nullable()),
  top_logprobs: z.array(z.record(z.string(), z.number()).nullable()),
  text_offset: z.array(z.number().int()),
});
export type CompletionLogprobs = z.infer<typeof CompletionLogprobsSchema>;

export const CompletionChoiceSchema = z.object({
  index: z.number().int(),
  text: z.string(),
  logprobs: CompletionLogprobsSchema.nullable(),
  finish_reason: FinishReasonSchema,
  stop_reason: z.union([z.string(), z.number()]).nullable().optional(),
  /** vLLM: this choice's prompt scored, when prompt_logprobs was asked for. */
  prompt_logprobs: PromptLogprobsSchema.nullable().optional(),
  /** return_token_ids: this choice's prompt (on its first chunk when streamed) and generated ids. */
  prompt_token_ids: z.array(z.number().int()).nullable().optional(),
  token_ids: z.array(z.number().int()).nullable().optional(),
});
export type CompletionChoice = z.infer<typeof CompletionChoiceSchema>;

export const CompletionSchema = z.object({
  id: z.string(),
  object: z.literal('text_completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(CompletionChoiceSchema),
  usage: UsageSchema.nullable().optional(),
  system_fingerprint: z.string().nullable().optional(),
});
export type Completion = z.infer<typeof CompletionSchema>;

/** A streamed piece: same shape as the response, choices carry only the new text. */
export const CompletionChunkSchema = CompletionSchema;
export type CompletionChunk = Completion;
