// Mistral 7B Instruct v0.3 and Mistral NeMo 12B Instruct: published config.json numbers.
import type { ArchNumbersInput } from '../architecture.ts';
import type { ModelFamilyInput } from '../family.ts';
import { checkpoint, gguf } from './specs.ts';

const MISTRAL_7B_V03: ArchNumbersInput = {
  architecture: 'MistralForCausalLM',
  num_hidden_layers: 32,
  hidden_size: 4096,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 128,
  intermediate_size: 14_336,
  vocab_size: 32_768,
  max_position_embeddings: 32_768,
  tie_word_embeddings: false,
  dtype: 'bfloat16',
};

const MISTRAL_NEMO_12B: ArchNumbersInput = {
  architecture: 'MistralForCausalLM',
  num_hidden_layers: 40,
  hidden_size: 5120,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  // NeMo's head_dim (128) is not hidden_size / heads (160).
  head_dim: 128,
  intermediate_size: 14_336,
  vocab_size: 131_072,
  max_position_embeddings: 1_024_000,
  tie_word_embeddings: false,
  dtype: 'bfloat16',
};

export const MISTRAL_FAMILIES: ModelFamilyInput[] = [
  {
    model_name: 'mistral-instruct-v0.3',
    model_family: 'mistral',
    model_description:
      'Mistral 7B Instruct v0.3: extended 32768 vocabulary, function calling, 32K context.',
    model_lang: ['en'],
    model_ability: ['chat', 'generate', 'tools'],
    context_length: 32_768,
    chat_template: null,
    tool_call_parser: 'mistral',
    stop: ['</s>'],
    stop_token_ids: [2],
    model_specs: [
      checkpoint(7, 'mistralai/Mistral-7B-Instruct-v0.3', MISTRAL_7B_V03),
      gguf(
        7,
        'bartowski/Mistral-7B-Instruct-v0.3-GGUF',
        'Mistral-7B-Instruct-v0.3-{quantization}.gguf',
        MISTRAL_7B_V03,
      ),
    ],
  },
  {
    model_name: 'mistral-nemo-instruct',
    model_family: 'mistral',
    model_description:
      'Mistral NeMo 12B Instruct (2407), built with NVIDIA: 128K context, multilingual, function calling.',
    model_lang: ['en', 'fr', 'de', 'es', 'it', 'pt', 'zh', 'ja', 'ru', 'ko'],
    model_ability: ['chat', 'generate', 'tools'],
    context_length: 131_072,
    chat_template: null,
    tool_call_parser: 'mistral',
    stop: ['</s>'],
    stop_token_ids: [2],
    model_specs: [
      checkpoint(12, 'mistralai/Mistral-Nemo-Instruct-2407', MISTRAL_NEMO_12B),
      gguf(
        12,
        'bartowski/Mistral-Nemo-Instruct-2407-GGUF',
        'Mistral-Nemo-Instruct-2407-{quantization}.gguf',
        MISTRAL_NEMO_12B,
      ),
    ],
  },
];
