// POST /v1/responses: OpenAI's Responses API as vLLM serves it, stateless: the request (input items,
// function tools, text.format) and the response object with its output items and usage.
import { z } from 'zod';
import type { ChatTokenLogprob } from './chat.ts';
import { textOnlyPart, UsageSchema } from './common.ts';

const JsonSchemaObject = z.record(z.string(), z.unknown());
const ToolName = z
  .string()
  .regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, underscores, dots or dashes');

/** Text parts of an input message; an image or file part gets its own refusal. */
const InputPart = textOnlyPart(['input_text', 'output_text', 'text']);

const MessageItem = z.object({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(InputPart)]),
  id: z.string().optional(),
  status: z.string().optional(),
});
const FunctionCallItem = z.object({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: ToolName,
  arguments: z.string(),
  id: z.string().optional(),
  status: z.string().optional(),
});
const FunctionCallOutputItem = z.object({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1),
  output: z.string(),
  id: z.string().optional(),
  status: z.string().optional(),
});
/** A reasoning item sent back with a conversation: the model's own earlier thinking, not re-read. */
const ReasoningItem = z.object({ type: z.literal('reasoning') }).loose();

export const ResponseInputItemSchema = z.union([
  MessageItem,
  FunctionCallItem,
  FunctionCallOutputItem,
  ReasoningItem,
]);
export type ResponseInputItem = z.infer<typeof ResponseInputItemSchema>;

export const ResponseFunctionToolSchema = z.strictObject({
  type: z.literal('function'),
  name: ToolName,
  description: z.string().nullable().optional(),
  parameters: JsonSchemaObject.nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

export const ResponseTextFormatSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes'),
    description: z.string().optional(),
    schema: JsonSchemaObject,
    strict: z.boolean().nullable().optional(),
  }),
]);

export const ResponsesRequestSchema = z
  .strictObject({
    model: z.string().nullable().optional(),
    input: z.union([z.string(), z.array(ResponseInputItemSchema).min(1)]),
    instructions: z.string().nullable().optional(),
    max_output_tokens: z.number().int().min(1).nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().gt(0).max(1).nullable().optional(),
    stream: z.boolean().nullable().optional(),
    tools: z.array(ResponseFunctionToolSchema).nullable().optional(),
    tool_choice: z
      .union([
        z.enum(['none', 'auto', 'required']),
        z.strictObject({ type: z.literal('function'), name: ToolName }),
      ])
      .nullable()
      .optional(),
    parallel_tool_calls: z.boolean().nullable().optional(),
    text: z
      .strictObject({
        format: ResponseTextFormatSchema.optional(),
        verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
      })
      .nullable()
      .optional(),
    /** Logprobs of each output token with this many alternatives (with include "message.output_text.logprobs"). */
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    // Accepted as OpenAI's clients send them; the prefix cache needs no key, nothing is obfuscated.
    prompt_cache_key: z.string().nullable().optional(),
    safety_identifier: z.string().nullable().optional(),
    stream_options: z.object({ include_obfuscation: z.boolean().nullable().optional() }).nullable().optional(),
    /** effort goes to the chat template as reasoning_effort; a summary is not made here. */
    reasoning: z
      .object({ effort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).nullable().optional() })
      .loose()
      .nullable()
      .optional(),
    // Pagoda keeps no responses (as vLLM without its store): `store` is answered false.
    store: z.boolean().nullable().optional(),
    previous_response_id: z.string().nullable().optional(),
    metadata: z.record(z.string(), z.string()).nullable().optional(),
    user: z.string().nullable().optional(),
    truncation: z.enum(['disabled', 'auto']).nullable().optional(),
    include: z.array(z.string()).nullable().optional(),
    background: z.boolean().nullable().optional(),
    service_tier: z.string().nullable().optional(),
    seed: z.number().int().nullable().optional(),
  })
  .superRefine((req, ctx) => {
    if (req.previous_response_id != null)
      ctx.addIssue({
        code: 'custom',
        path: ['previous_response_id'],
        message: 'responses are not stored here, so previous_response_id cannot be followed; send the whole conversation as input',
      });
    if (req.background === true)
      ctx.addIssue({ code: 'custom', path: ['background'], message: 'background responses are not supported; leave it out' });
    if ((req.tool_choice === 'required' || typeof req.tool_choice === 'object') && !req.tools?.length)
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: 'tool_choice needs tools' });
  });
export type ResponsesRequest = z.infer<typeof ResponsesRequestSchema>;

export interface ResponseOutputText {
  type: 'output_text';
  text: string;
  annotations: unknown[];
  /** Each token's logprob and alternatives, when asked for (chat's logprobs.content shape). */
  logprobs?: ChatTokenLogprob[];
}
export type ResponseOutputItem =
  | { type: 'message'; id: string; status: 'completed' | 'incomplete'; role: 'assistant'; content: ResponseOutputText[] }
  | { type: 'function_call'; id: string; call_id: string; name: string; arguments: string; status: 'completed' }
  | { type: 'reasoning'; id: string; summary: unknown[]; content: Array<{ type: 'reasoning_text'; text: string }> };

export const ResponseUsageSchema = z.object({
  input_tokens: z.number().int(),
  input_tokens_details: z.object({ cached_tokens: z.number().int() }),
  output_tokens: z.number().int(),
  output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
  total_tokens: z.number().int(),
});
export type ResponseUsage = z.infer<typeof ResponseUsageSchema>;

/** The response object, whole (the non-streamed answer, and in response.created / .completed). */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: 'in_progress' | 'completed' | 'incomplete';
  error: null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: ResponseOutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: null;
  reasoning: { effort: string | null; summary: null };
  store: false;
  temperature: number;
  text: { format: z.infer<typeof ResponseTextFormatSchema> };
  tool_choice: ResponsesRequest['tool_choice'];
  tools: NonNullable<ResponsesRequest['tools']>;
  top_p: number;
  truncation: 'disabled' | 'auto';
  usage: ResponseUsage | null;
  user: string | null;
  metadata: Record<string, string>;
}

/** Chat usage in the Responses API's terms. */
export function responseUsage(u: z.infer<typeof UsageSchema>): ResponseUsage {
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u.total_tokens,
  };
}
