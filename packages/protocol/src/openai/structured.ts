// Structured output and tool calling on the wire: OpenAI's response_format, tools, tool_choice and
// tool_calls (whole and as stream deltas), and vLLM's structured-output request fields.
import { z } from 'zod';

/** A JSON schema as a client sends it: an object (checked for what the grammar engine supports later). */
const JsonSchemaObject = z.record(z.string(), z.unknown());

export const ResponseFormatSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: z
        .string()
        .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes'),
      description: z.string().optional(),
      schema: JsonSchemaObject.optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);
export type ResponseFormat = z.infer<typeof ResponseFormatSchema>;

/** vLLM's `structured_outputs` object: exactly one of its constraints. */
export const StructuredOutputsSchema = z.strictObject({
  json: z.union([JsonSchemaObject, z.string()]).nullable().optional(),
  regex: z.string().nullable().optional(),
  choice: z.array(z.string()).min(1).nullable().optional(),
  grammar: z.string().nullable().optional(),
  json_object: z.boolean().nullable().optional(),
  disable_any_whitespace: z.boolean().nullable().optional(),
});
export type StructuredOutputs = z.infer<typeof StructuredOutputsSchema>;

/** vLLM's older guided_* fields (still accepted by vLLM), and structured_outputs. */
export const structuredOutputFields = {
  structured_outputs: StructuredOutputsSchema.nullable().optional(),
  guided_json: z.union([JsonSchemaObject, z.string()]).nullable().optional(),
  guided_regex: z.string().nullable().optional(),
  guided_choice: z.array(z.string()).min(1).nullable().optional(),
  guided_grammar: z.string().nullable().optional(),
  guided_decoding_backend: z.string().nullable().optional(),
  guided_whitespace_pattern: z.string().nullable().optional(),
};

export const FunctionToolSchema = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, underscores, dots or dashes'),
    description: z.string().nullable().optional(),
    parameters: JsonSchemaObject.nullable().optional(),
    strict: z.boolean().nullable().optional(),
  }),
});
export type FunctionTool = z.infer<typeof FunctionToolSchema>;

export const ToolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.strictObject({
    type: z.literal('function'),
    function: z.strictObject({ name: z.string() }),
  }),
]);
export type ToolChoice = z.infer<typeof ToolChoiceSchema>;

export const ToolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

/** A tool call in a stream: the first delta of a call carries id, type and name; later ones add arguments. */
export const ToolCallDeltaSchema = z.object({
  index: z.number().int(),
  id: z.string().optional(),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().optional(), arguments: z.string().optional() }).optional(),
});
export type ToolCallDelta = z.infer<typeof ToolCallDeltaSchema>;
