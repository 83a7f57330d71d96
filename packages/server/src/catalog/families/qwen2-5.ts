// Qwen2.5 instruct models, 0.5B to 72B: published config.json numbers per size.
import type { ArchNumbersInput } from '../architecture.ts';
import type { ModelFamilyInput, ModelSpecInput } from '../family.ts';
import { awq, checkpoint, gguf, gptq } from './specs.ts';

function qwen2(
  layers: number,
  hidden: number,
  heads: number,
  kvHeads: number,
  intermediate: number,
  tied: boolean,
): ArchNumbersInput {
  return {
    architecture: 'Qwen2ForCausalLM',
    num_hidden_layers: layers,
    hidden_size: hidden,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: hidden / heads,
    intermediate_size: intermediate,
    // The tied (small) checkpoints publish the tokenizer's 151936; the others pad to 152064.
    vocab_size: tied ? 151_936 : 152_064,
    max_position_embeddings: 32_768,
    tie_word_embeddings: tied,
    dtype: 'bfloat16',
    qkv_bias: true,
  };
}

const SIZES: Array<{
  size: number;
  label: string;
  arch: ArchNumbersInput;
  gguf: boolean;
}> = [
  { size: 0.5, label: '0.5B', arch: qwen2(24, 896, 14, 2, 4864, true), gguf: true },
  { size: 1.5, label: '1.5B', arch: qwen2(28, 1536, 12, 2, 8960, true), gguf: true },
  { size: 3, label: '3B', arch: qwen2(36, 2048, 16, 2, 11_008, true), gguf: true },
  { size: 7, label: '7B', arch: qwen2(28, 3584, 28, 4, 18_944, false), gguf: true },
  { size: 14, label: '14B', arch: qwen2(48, 5120, 40, 8, 13_824, false), gguf: true },
  { size: 32, label: '32B', arch: qwen2(64, 5120, 40, 8, 27_648, false), gguf: false },
  { size: 72, label: '72B', arch: qwen2(80, 8192, 64, 8, 29_568, false), gguf: false },
];

function specs(): ModelSpecInput[] {
  const out: ModelSpecInput[] = SIZES.map((s) =>
    checkpoint(s.size, `Qwen/Qwen2.5-${s.label}-Instruct`, s.arch),
  );
  for (const s of SIZES.filter((x) => x.gguf)) {
    out.push(
      gguf(
        s.size,
        `bartowski/Qwen2.5-${s.label}-Instruct-GGUF`,
        `Qwen2.5-${s.label}-Instruct-{quantization}.gguf`,
        s.arch,
      ),
    );
  }
  // Qwen publishes AWQ and GPTQ (4- and 8-bit) checkpoints of every size.
  for (const s of SIZES) {
    out.push(awq(s.size, `Qwen/Qwen2.5-${s.label}-Instruct-AWQ`, s.arch));
    for (const bits of ['Int4', 'Int8'] as const)
      out.push(gptq(s.size, `Qwen/Qwen2.5-${s.label}-Instruct-GPTQ-${bits}`, s.arch, bits));
  }
  return out;
}

export const QWEN2_5_FAMILIES: ModelFamilyInput[] = [
  {
    model_name: 'qwen2.5-instruct',
    model_family: 'qwen2.5',
    model_description:
      'Qwen2.5 instruction-tuned models (0.5B to 72B), 32K context, tool calling, 29+ languages.',
    model_lang: ['en', 'zh'],
    model_ability: ['chat', 'generate', 'tools'],
    context_length: 32_768,
    chat_template: null,
    tool_call_parser: 'hermes',
    stop: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    stop_token_ids: [151_643, 151_644, 151_645],
    model_specs: specs(),
  },
];
