// Meta Llama 3, 3.1, 3.2 and 3.3 instruct models: published config.json numbers per size.
import type { ArchNumbersInput } from '../architecture.ts';
import type { ModelFamilyInput } from '../family.ts';
import { awq, checkpoint, fp8, gguf, gptq } from './specs.ts';

const VOCAB = 128_256;

function llama(
  layers: number,
  hidden: number,
  heads: number,
  intermediate: number,
  maxPos: number,
  tied: boolean,
): ArchNumbersInput {
  return {
    architecture: 'LlamaForCausalLM',
    num_hidden_layers: layers,
    hidden_size: hidden,
    num_attention_heads: heads,
    num_key_value_heads: 8,
    head_dim: hidden / heads,
    intermediate_size: intermediate,
    vocab_size: VOCAB,
    max_position_embeddings: maxPos,
    tie_word_embeddings: tied,
    dtype: 'bfloat16',
  };
}

const L3_8B = llama(32, 4096, 32, 14_336, 8192, false);
const L3_70B = llama(80, 8192, 64, 28_672, 8192, false);
const L31_8B = llama(32, 4096, 32, 14_336, 131_072, false);
const L31_70B = llama(80, 8192, 64, 28_672, 131_072, false);
const L31_405B = llama(126, 16_384, 128, 53_248, 131_072, false);
const L32_1B = llama(16, 2048, 32, 8192, 131_072, true);
const L32_3B = llama(28, 3072, 24, 8192, 131_072, true);

// <|end_of_text|>, <|eom_id|> (3.1+ tool calls), <|eot_id|>.
const STOP_3 = { stop: ['<|end_of_text|>', '<|eot_id|>'], stop_token_ids: [128_001, 128_009] };
const STOP_31 = {
  stop: ['<|end_of_text|>', '<|eot_id|>', '<|eom_id|>'],
  stop_token_ids: [128_001, 128_008, 128_009],
};

/** What 3.1, 3.2 and 3.3 share: eight languages, 128K context, JSON tool calls and their stops. */
const LLAMA_31_AND_LATER = {
  model_lang: ['en', 'de', 'fr', 'it', 'pt', 'hi', 'es', 'th'],
  model_ability: ['chat', 'generate', 'tools'],
  context_length: 131_072,
  chat_template: null,
  tool_call_parser: 'llama3_json',
  ...STOP_31,
} satisfies Partial<ModelFamilyInput>;

export const LLAMA3_FAMILIES: ModelFamilyInput[] = [
  {
    model_name: 'llama-3-instruct',
    model_family: 'llama-3',
    model_description: 'Meta Llama 3 instruction-tuned models (8B, 70B), 8K context.',
    model_lang: ['en'],
    model_ability: ['chat', 'generate'],
    context_length: 8192,
    chat_template: null,
    ...STOP_3,
    model_specs: [
      checkpoint(8, 'meta-llama/Meta-Llama-3-8B-Instruct', L3_8B),
      checkpoint(70, 'meta-llama/Meta-Llama-3-70B-Instruct', L3_70B),
      gguf(
        8,
        'bartowski/Meta-Llama-3-8B-Instruct-GGUF',
        'Meta-Llama-3-8B-Instruct-{quantization}.gguf',
        L3_8B,
      ),
    ],
  },
  {
    model_name: 'llama-3.1-instruct',
    model_family: 'llama-3.1',
    model_description:
      'Meta Llama 3.1 instruction-tuned models (8B, 70B, 405B), 128K context, tool calling.',
    ...LLAMA_31_AND_LATER,
    model_specs: [
      checkpoint(8, 'meta-llama/Llama-3.1-8B-Instruct', L31_8B),
      checkpoint(70, 'meta-llama/Llama-3.1-70B-Instruct', L31_70B),
      checkpoint(405, 'meta-llama/Llama-3.1-405B-Instruct', L31_405B),
      gguf(
        8,
        'bartowski/Meta-Llama-3.1-8B-Instruct-GGUF',
        'Meta-Llama-3.1-8B-Instruct-{quantization}.gguf',
        L31_8B,
      ),
      // 4-bit AWQ and GPTQ (group 128) from Hugging Face's quantization team; FP8 per channel with
      // dynamic per-token activation scales (compressed-tensors) from Red Hat.
      awq(8, 'hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4', L31_8B),
      awq(70, 'hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4', L31_70B),
      gptq(8, 'hugging-quants/Meta-Llama-3.1-8B-Instruct-GPTQ-INT4', L31_8B),
      gptq(70, 'hugging-quants/Meta-Llama-3.1-70B-Instruct-GPTQ-INT4', L31_70B),
      fp8(8, 'RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8-dynamic', L31_8B),
      fp8(70, 'RedHatAI/Meta-Llama-3.1-70B-Instruct-FP8-dynamic', L31_70B),
    ],
  },
  {
    model_name: 'llama-3.2-instruct',
    model_family: 'llama-3.2',
    model_description:
      'Meta Llama 3.2 lightweight instruction-tuned text models (1B, 3B), 128K context.',
    ...LLAMA_31_AND_LATER,
    model_specs: [
      checkpoint(1, 'meta-llama/Llama-3.2-1B-Instruct', L32_1B),
      checkpoint(3, 'meta-llama/Llama-3.2-3B-Instruct', L32_3B),
      gguf(
        1,
        'bartowski/Llama-3.2-1B-Instruct-GGUF',
        'Llama-3.2-1B-Instruct-{quantization}.gguf',
        L32_1B,
      ),
      gguf(
        3,
        'bartowski/Llama-3.2-3B-Instruct-GGUF',
        'Llama-3.2-3B-Instruct-{quantization}.gguf',
        L32_3B,
      ),
    ],
  },
  {
    model_name: 'llama-3.3-instruct',
    model_family: 'llama-3.3',
    model_description: 'Meta Llama 3.3 70B instruction-tuned model, 128K context, tool calling.',
    ...LLAMA_31_AND_LATER,
    model_specs: [checkpoint(70, 'meta-llama/Llama-3.3-70B-Instruct', L31_70B)],
  },
];
