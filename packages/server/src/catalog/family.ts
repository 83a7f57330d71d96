// The shape of a catalog entry, in Xinference's spelling: a model family (what a user launches by
// name) and its specs (one per format and size, with the quantizations published for it).
import { z } from 'zod';
import { MODEL_TYPES } from '@pagoda/protocol';
import { ArchNumbersSchema } from './architecture.ts';

/** safetensors checkpoints (Xinference calls them "pytorch"), GGUF files, AWQ / GPTQ / FP8 checkpoints. */
export const MODEL_FORMATS = ['safetensors', 'gguf', 'awq', 'gptq', 'fp8'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export const MODEL_ABILITIES = ['chat', 'generate', 'tools', 'reasoning', 'embed', 'rerank'] as const;
export type ModelAbility = (typeof MODEL_ABILITIES)[number];

export const ModelSpecSchema = z.object({
  model_format: z.enum(MODEL_FORMATS),
  model_size_in_billions: z.number().positive(),
  /** "none" for unquantized checkpoints; GGUF quant names (Q4_K_M ...); "Int4" for AWQ; "Int4" / "Int8" for GPTQ; "fp8". */
  quantizations: z.array(z.string().min(1)).min(1),
  /** The Hugging Face repository. */
  model_id: z.string().min(1),
  /** GGUF: the file in model_id, with {quantization} standing for the chosen one. */
  model_file_name_template: z.string().optional(),
  /** A local folder, or a GGUF file (custom registrations). */
  model_path: z.string().optional(),
  /** GGUF registrations: the bytes of the file's tensors, read from its header (for memory plans). */
  weights_bytes: z.number().int().positive().optional(),
  architecture: ArchNumbersSchema,
});
export type ModelSpec = z.output<typeof ModelSpecSchema>;
export type ModelSpecInput = z.input<typeof ModelSpecSchema>;

export const ModelFamilySchema = z.object({
  model_name: z.string().min(1),
  model_type: z.enum(MODEL_TYPES).default('LLM'),
  /** embedding models: the length of an embedding (Xinference's `dimensions`). */
  dimensions: z.number().int().positive().optional(),
  /** embedding and rerank models: the longest input in tokens (Xinference's `max_tokens`). */
  max_tokens: z.number().int().positive().optional(),
  model_family: z.string().min(1),
  model_description: z.string(),
  model_lang: z.array(z.string()).default(['en']),
  model_ability: z.array(z.enum(MODEL_ABILITIES)).min(1),
  context_length: z.number().int().positive(),
  /** null: use the checkpoint's own (tokenizer_config.json or chat_template.jinja; GGUF metadata). */
  chat_template: z.string().nullable(),
  stop: z.array(z.string()),
  stop_token_ids: z.array(z.number().int().nonnegative()),
  /** How the family writes tool calls (vLLM's --tool-call-parser); the runner then allows tool_choice "auto". */
  tool_call_parser: z.enum(['hermes', 'llama3_json', 'mistral']).nullable().default(null),
  /** How the family marks its reasoning (vLLM's --reasoning-parser). */
  reasoning_parser: z.enum(['qwen3', 'deepseek_r1']).nullable().default(null),
  /** "builtin" for the catalog, "custom" for a user's registration. */
  source: z.enum(['builtin', 'custom']).default('builtin'),
  model_specs: z.array(ModelSpecSchema).min(1),
});
export type ModelFamily = z.output<typeof ModelFamilySchema>;

/** The 'tools' and 'reasoning' abilities hold only where a parser turns the text into them. */
export function abilityProblems(
  f: Pick<ModelFamily, 'model_ability' | 'tool_call_parser' | 'reasoning_parser'>,
): string[] {
  const problems: string[] = [];
  if (f.model_ability.includes('tools') && !f.tool_call_parser)
    problems.push("model_ability 'tools' needs tool_call_parser (hermes, llama3_json or mistral)");
  if (f.model_ability.includes('reasoning') && !f.reasoning_parser)
    problems.push("model_ability 'reasoning' needs reasoning_parser (qwen3 or deepseek_r1)");
  return problems;
}
export type ModelFamilyInput = z.input<typeof ModelFamilySchema>;
