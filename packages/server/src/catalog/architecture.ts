// A model's architecture numbers (what memory planning needs), read from a Hugging Face config.json
// in either spelling (transformers 4.x torch_dtype, 5.x dtype), and the parameter count they imply.
import type { FieldProblemView } from '@pagoda/protocol';
import { z } from 'zod';

/** The architectures the built-in engine runs (native/src/model/model_config.h). */
export const SUPPORTED_ARCHITECTURES = [
  'LlamaForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
  'Qwen3ForCausalLM',
  // Embedding and rerank models (the engine's pooling run).
  'BertModel',
  'XLMRobertaModel',
  'Qwen3Model',
  'BertForSequenceClassification',
  'XLMRobertaForSequenceClassification',
] as const;
export type SupportedArchitecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** The model type an architecture serves as. */
export function modelTypeOf(architecture: SupportedArchitecture): 'LLM' | 'embedding' | 'rerank' {
  if (architecture.endsWith('ForSequenceClassification')) return 'rerank';
  if (architecture.endsWith('ForCausalLM')) return 'LLM';
  return 'embedding';
}

/** BERT-family encoders: post-LN layers of biased linears, learned absolute positions, no KV cache. */
export function isEncoder(architecture: SupportedArchitecture): boolean {
  return architecture.startsWith('Bert') || architecture.startsWith('XLMRoberta');
}

export const CHECKPOINT_DTYPES = ['float32', 'bfloat16', 'float16'] as const;
export type CheckpointDtype = (typeof CHECKPOINT_DTYPES)[number];

const positive = z.number().int().positive();

export const ArchNumbersSchema = z.object({
  architecture: z.enum(SUPPORTED_ARCHITECTURES),
  num_hidden_layers: positive,
  hidden_size: positive,
  num_attention_heads: positive,
  num_key_value_heads: positive,
  head_dim: positive,
  intermediate_size: positive,
  vocab_size: positive,
  max_position_embeddings: positive,
  tie_word_embeddings: z.boolean(),
  /** The checkpoint's storage dtype. */
  dtype: z.enum(CHECKPOINT_DTYPES),
  /** q/k/v projections carry a bias (Qwen2). */
  qkv_bias: z.boolean().default(false),
  /** Per-head RMSNorm on q and k (Qwen3). */
  qk_norm: z.boolean().default(false),
});
export type ArchNumbers = z.output<typeof ArchNumbersSchema>;
export type ArchNumbersInput = z.input<typeof ArchNumbersSchema>;

export const DTYPE_BYTES: Record<CheckpointDtype, number> = { float32: 4, bfloat16: 2, float16: 2 };

/** Parameters of a dense decoder-only transformer of this shape (embeddings and lm_head included). */
export function parameterCount(a: ArchNumbers): number {
  if (isEncoder(a.architecture)) {
    const h = a.hidden_size;
    const layer = 4 * h * h + 2 * h * a.intermediate_size + 9 * h + a.intermediate_size;
    const head = modelTypeOf(a.architecture) === 'rerank' ? h * h + 2 * h + 1 : 0;
    return a.num_hidden_layers * layer + (a.vocab_size + a.max_position_embeddings + 2) * h + 2 * h + head;
  }
  const q = a.num_attention_heads * a.head_dim;
  const kv = a.num_key_value_heads * a.head_dim;
  const attention =
    a.hidden_size * (q + 2 * kv) +
    q * a.hidden_size +
    (a.qkv_bias ? q + 2 * kv : 0) +
    (a.qk_norm ? 2 * a.head_dim : 0);
  const mlp = 3 * a.hidden_size * a.intermediate_size;
  const norms = 2 * a.hidden_size;
  const embeddings = a.vocab_size * a.hidden_size * (a.tie_word_embeddings ? 1 : 2);
  return a.num_hidden_layers * (attention + mlp + norms) + embeddings + a.hidden_size;
}

/** One problem with a config.json or a registration, named by its field (kind and params: FieldProblemView). */
export type FieldProblem = FieldProblemView;

function intField(
  config: Record<string, unknown>,
  name: string,
  problems: FieldProblem[],
  fallback?: number,
): number {
  const value = config[name];
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    problems.push({ field: name, message: `config.json has no '${name}'` });
    return 0;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    problems.push({
      field: name,
      message: `config.json '${name}' must be a positive integer, got ${JSON.stringify(value)}`,
    });
    return 0;
  }
  return value;
}

function checkpointDtype(
  config: Record<string, unknown>,
  problems: FieldProblem[],
): CheckpointDtype {
  const raw = config.dtype ?? config.torch_dtype ?? 'bfloat16';
  const spelled =
    raw === 'fp16' || raw === 'half'
      ? 'float16'
      : raw === 'bf16'
        ? 'bfloat16'
        : raw === 'fp32' || raw === 'float'
          ? 'float32'
          : raw;
  if (typeof spelled === 'string' && (CHECKPOINT_DTYPES as readonly string[]).includes(spelled))
    return spelled as CheckpointDtype;
  problems.push({
    field: 'dtype',
    message: `config.json dtype ${JSON.stringify(raw)} is not one of ${CHECKPOINT_DTYPES.join(', ')}`,
  });
  return 'bfloat16';
}

/** The architecture numbers of a parsed config.json, or the problems that stop it loading. */
export function archFromConfig(
  config: unknown,
): { arch: ArchNumbers; problems: [] } | { arch: null; problems: FieldProblem[] } {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    return {
      arch: null,
      problems: [{ field: 'config.json', message: 'config.json must hold a JSON object' }],
    };
  }
  const c = config as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const architectures = c.architectures;
  const architecture = Array.isArray(architectures) ? architectures[0] : undefined;
  if (typeof architecture !== 'string') {
    problems.push({
      field: 'architectures',
      message: `config.json has no 'architectures' list; expected one of ${SUPPORTED_ARCHITECTURES.join(', ')}`,
    });
  } else if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) {
    problems.push({
      field: 'architectures',
      message: `architecture '${architecture}' is not supported; the engine runs ${SUPPORTED_ARCHITECTURES.join(', ')}`,
    });
  }
  const heads = intField(c, 'num_attention_heads', problems);
  const hidden = intField(c, 'hidden_size', problems);
  const numbers = {
    num_hidden_layers: intField(c, 'num_hidden_layers', problems),
    hidden_size: hidden,
    num_attention_heads: heads,
    num_key_value_heads: intField(c, 'num_key_value_heads', problems, heads || undefined),
    head_dim: intField(
      c,
      'head_dim',
      problems,
      heads > 0 && hidden > 0 ? Math.floor(hidden / heads) : undefined,
    ),
    intermediate_size: intField(c, 'intermediate_size', problems),
    vocab_size: intField(c, 'vocab_size', problems),
    max_position_embeddings: intField(c, 'max_position_embeddings', problems),
  };
  const dtype = checkpointDtype(c, problems);
  if (problems.length > 0) return { arch: null, problems };
  const arch = ArchNumbersSchema.parse({
    architecture,
    ...numbers,
    // Embedding and rerank models have no lm_head: nothing beside the embedding table.
    tie_word_embeddings: c.tie_word_embeddings === true || modelTypeOf(architecture as SupportedArchitecture) !== 'LLM',
    dtype,
    qkv_bias: architecture === 'Qwen2ForCausalLM' || c.attention_bias === true,
    qk_norm: architecture === 'Qwen3ForCausalLM' || architecture === 'Qwen3Model',
  });
  return { arch, problems: [] };
}
