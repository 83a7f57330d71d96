// The small endpoints beside generation: /v1/models, /tokenize, /detokenize, /version.
import { z } from 'zod';
import { ChatMessageSchema } from './chat.ts';
import { FunctionToolSchema } from './structured.ts';

export const ModelCardSchema = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string(),
  root: z.string().nullable().optional(),
  max_model_len: z.number().int().nullable().optional(),
});
export type ModelCard = z.infer<typeof ModelCardSchema>;
export const ModelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(ModelCardSchema),
});
export type ModelList = z.infer<typeof ModelListSchema>;

/** vLLM's /tokenize takes either a prompt or chat messages (exactly one). */
export const TokenizeRequestSchema = z
  .strictObject({
    model: z.string().nullable().optional(),
    prompt: z.string().optional(),
    messages: z.array(ChatMessageSchema).min(1).optional(),
    add_generation_prompt: z.boolean().nullable().optional(),
    add_special_tokens: z.boolean().nullable().optional(),
    chat_template: z.string().nullable().optional(),
    // vLLM's chat-form extras: what the chat endpoint would give the template
    tools: z.array(FunctionToolSchema).nullable().optional(),
    chat_template_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .refine((r) => (r.prompt === undefined) !== (r.messages === undefined), {
    message: "give exactly one of 'prompt' or 'messages'",
    path: ['prompt'],
  });
export type TokenizeRequest = z.infer<typeof TokenizeRequestSchema>;
export const TokenizeResponseSchema = z.object({
  count: z.number().int(),
  max_model_len: z.number().int(),
  tokens: z.array(z.number().int()),
});
export type TokenizeResponse = z.infer<typeof TokenizeResponseSchema>;

export const DetokenizeRequestSchema = z.strictObject({
  model: z.string().nullable().optional(),
  tokens: z.array(z.number().int().min(0)),
});
export type DetokenizeRequest = z.infer<typeof DetokenizeRequestSchema>;
export const DetokenizeResponseSchema = z.object({ prompt: z.string() });
export type DetokenizeResponse = z.infer<typeof DetokenizeResponseSchema>;

export const VersionSchema = z.object({ version: z.string() });
