// POST /v1/chat/completions: request (messages, vLLM extras), response and stream chunk types.
import { z } from 'zod';
import {
  FinishReasonSchema,
  PromptLogprobsSchema,
  UsageSchema,
  refineStreamOptions,
  samplingFields,
  textOnlyPart,
} from './common.ts';
import {
  FunctionToolSchema,
  ResponseFormatSchema,
  ToolCallDeltaSchema,
  ToolCallSchema,
  ToolChoiceSchema,
  structuredOutputFields,
} from './structured.ts';

const TextPart = textOnlyPart(['text']).transform((text) => ({ type: 'text' as const, text }));

export const ChatMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z
    .union([z.string(), z.array(TextPart)])
    .nullable()
    .optional(),
  name: z.string().optional(),
  tool_call_id: z.string().optional(),
  tool_calls: z.array(ToolCallSchema).nullable().optional(),
  reasoning_content: z.string().nullable().optional(),
  /** vLLM's newer name for reasoning_content. */
  reasoning: z.string().nullable().optional(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

export const ChatCompletionRequestSchema = z.strictObject({
  ...samplingFields,
  messages: z.array(ChatMessageSchema).min(1),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  response_format: ResponseFormatSchema.nullable().optional(),
  tools: z.array(FunctionToolSchema).nullable().optional(),
  tool_choice: ToolChoiceSchema.nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  ...structuredOutputFields,
  // vLLM extras
  echo: z.boolean().nullable().optional(),
  add_generation_prompt: z.boolean().nullable().optional(),
  continue_final_message: z.boolean().nullable().optional(),
  add_special_tokens: z.boolean().nullable().optional(),
  chat_template: z.string().nullable().optional(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
  /** vLLM: passages for templates that render retrieved documents (the template variable documents). */
  documents: z.array(z.record(z.string(), z.string())).nullable().optional(),
  /** vLLM: false leaves the thinking out of the answer (it is still generated). */
  include_reasoning: z.boolean().nullable().optional(),
  /** OpenAI's, passed to the chat template as the variable reasoning_effort. */
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).nullable().optional(),
}).superRefine(refineStreamOptions);
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

export const ChatTopLogprobSchema = z.object({
  token: z.string(),
  logprob: z.number(),
  bytes: z.array(z.number().int()).nullable(),
});
export const ChatTokenLogprobSchema = ChatTopLogprobSchema.extend({
  top_logprobs: z.array(ChatTopLogprobSchema),
});
export type ChatTokenLogprob = z.infer<typeof ChatTokenLogprobSchema>;
export const ChatLogprobsSchema = z.object({ content: z.array(ChatTokenLogprobSchema).nullable() });
export type ChatLogprobs = z.infer<typeof ChatLogprobsSchema>;

export const ChatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      message: z.object({
        role: z.literal('assistant'),
        content: z.string().nullable(),
        reasoning_content: z.string().nullable().optional(),
        reasoning: z.string().nullable().optional(),
        tool_calls: z.array(ToolCallSchema).optional(),
      }),
      logprobs: ChatLogprobsSchema.nullable(),
      finish_reason: FinishReasonSchema,
      stop_reason: z.union([z.string(), z.number()]).nullable().optional(),
      /** return_token_ids: the generated ids (of this chunk, when streamed). */
      token_ids: z.array(z.number().int()).nullable().optional(),
    }),
  ),
  usage: UsageSchema.nullable().optional(),
  system_fingerprint: z.string().nullable().optional(),
  /** vLLM: the templated prompt's logprobs, when prompt_logprobs was asked for. */
  prompt_logprobs: PromptLogprobsSchema.nullable().optional(),
  /** return_token_ids: the templated prompt's ids (on the first chunk when streamed). */
  prompt_token_ids: z.array(z.number().int()).nullable().optional(),
});
export type ChatCompletion = z.infer<typeof ChatCompletionSchema>;

export const ChatCompletionChunkSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion.chunk'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      delta: z.object({
        role: z.literal('assistant').optional(),
        content: z.string().nullable().optional(),
        reasoning_content: z.string().nullable().optional(),
        reasoning: z.string().nullable().optional(),
        tool_calls: z.array(ToolCallDeltaSchema).optional(),
      }),
      logprobs: ChatLogprobsSchema.nullable(),
      finish_reason: FinishReasonSchema,
      stop_reason: z.union([z.string(), z.number()]).nullable().optional(),
      /** return_token_ids: the generated ids (of this chunk, when streamed). */
      token_ids: z.array(z.number().int()).nullable().optional(),
    }),
  ),
  usage: UsageSchema.nullable().optional(),
  /** Only on the chunks a non-streamed answer is folded from (streams refuse prompt_logprobs). */
  prompt_logprobs: PromptLogprobsSchema.nullable().optional(),
  /** return_token_ids: the templated prompt's ids (on the first chunk when streamed). */
  prompt_token_ids: z.array(z.number().int()).nullable().optional(),
});
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunkSchema>;
