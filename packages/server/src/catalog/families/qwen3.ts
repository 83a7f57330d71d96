// Qwen3 dense models, 0.6B to 32B (thinking and non-thinking in one checkpoint): published numbers.
import type { ArchNumbersInput } from '../architecture.ts';
import type { ModelFamilyInput, ModelSpecInput } from '../family.ts';
import { awq, checkpoint, COMMON_GGUF_QUANTS, fp8, gguf } from './specs.ts';

function qwen3(
  layers: number,
  hidden: number,
  heads: number,
  intermediate: number,
  tied: boolean,
): ArchNumbersInput {
  return {
    architecture: 'Qwen3ForCausalLM',
    num_hidden_layers: layers,
    hidden_size: hidden,
    num_attention_heads: heads,
    num_key_value_heads: 8,
    // Qwen3 fixes head_dim at 128, independent of hidden_size / heads.
    head_dim: 128,
    intermediate_size: intermediate,
    vocab_size: 151_936,
    max_position_embeddings: 40_960,
    tie_word_embeddings: tied,
    dtype: 'bfloat16',
    qk_norm: true,
  };
}

const SIZES: Array<{ size: number; label: string; arch: ArchNumbersInput; ggufQuants: string[] }> =
  [
    { size: 0.6, label: '0.6B', arch: qwen3(28, 1024, 16, 3072, true), ggufQuants: ['Q8_0'] },
    { size: 1.7, label: '1.7B', arch: qwen3(28, 2048, 16, 6144, true), ggufQuants: ['Q8_0'] },
    { size: 4, label: '4B', arch: qwen3(36, 2560, 32, 9728, true), ggufQuants: COMMON_GGUF_QUANTS },
    {
      size: 8,
      label: '8B',
      arch: qwen3(36, 4096, 32, 12_288, false),
      ggufQuants: COMMON_GGUF_QUANTS,
    },
    {
      size: 14,
      label: '14B',
      arch: qwen3(40, 5120, 40, 17_408, false),
      ggufQuants: COMMON_GGUF_QUANTS,
    },
    {
      size: 32,
      label: '32B',
      arch: qwen3(64, 5120, 64, 25_600, false),
      ggufQuants: COMMON_GGUF_QUANTS,
    },
  ];

function specs(): ModelSpecInput[] {
  const out: ModelSpecInput[] = SIZES.map((s) =>
    checkpoint(s.size, `Qwen/Qwen3-${s.label}`, s.arch),
  );
  // Qwen's own quantizations: FP8 in 128x128 blocks for every size, AWQ from 4B up.
  for (const s of SIZES) out.push(fp8(s.size, `Qwen/Qwen3-${s.label}-FP8`, s.arch));
  for (const s of SIZES.filter((x) => x.size >= 4)) out.push(awq(s.size, `Qwen/Qwen3-${s.label}-AWQ`, s.arch));
  for (const s of SIZES)
    out.push(
      gguf(
        s.size,
        `Qwen/Qwen3-${s.label}-GGUF`,
        `Qwen3-${s.label}-{quantization}.gguf`,
        s.arch,
        s.ggufQuants,
      ),
    );
  return out;
}

export const QWEN3_FAMILIES: ModelFamilyInput[] = [
  {
    model_name: 'qwen3',
    model_family: 'qwen3',
    model_description:
      'Qwen3 dense models (0.6B to 32B) with switchable thinking mode, 32K native context, tool calling.',
    model_lang: ['en', 'zh'],
    model_ability: ['chat', 'generate', 'tools', 'reasoning'],
    context_length: 40_960,
    chat_template: null,
    tool_call_parser: 'hermes',
    reasoning_parser: 'qwen3',
    stop: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    stop_token_ids: [151_643, 151_644, 151_645],
    model_specs: specs(),
  },
];
