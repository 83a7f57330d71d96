// A local GGUF file as the catalog sees it: architecture numbers, quantization, context length and
// the bytes its weights really take (the sum of its tensors), all from the file's header.
import { existsSync, statSync } from 'node:fs';
import { ggufModelSummary, GgufFormatError, ggufNumber, readGgufHeader } from '@pagoda/gguf';
import { ArchNumbersSchema, type ArchNumbers, type SupportedArchitecture } from './architecture.ts';

/** general.architecture → the Hugging Face architecture the planner's numbers are keyed by. */
const GGUF_ARCHITECTURES: Record<string, SupportedArchitecture> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

export interface GgufFacts {
  arch: ArchNumbers;
  quantization: string;
  weightsBytes: number;
  parameters: number;
  contextLength: number;
  chatTemplate: string | null;
  eosTokenId: number | null;
}

/** Reads the header of `path`; throws an Error whose message says what is wrong with the file. */
export function ggufFacts(path: string): GgufFacts {
  if (!existsSync(path) || !statSync(path).isFile())
    throw new Error(`${path} is not a file on the server's machine`);
  let header;
  try {
    header = readGgufHeader(path);
  } catch (err) {
    if (err instanceof GgufFormatError) throw new Error(`${path}: ${err.message}`, { cause: err });
    throw err;
  }
  const s = ggufModelSummary(header);
  const architecture = GGUF_ARCHITECTURES[s.architecture];
  if (!architecture)
    throw new Error(
      `${path}: GGUF architecture '${s.architecture}' is not one this platform plans for (${Object.keys(GGUF_ARCHITECTURES).join(', ')})`,
    );
  const arch = ArchNumbersSchema.parse({
    architecture,
    num_hidden_layers: s.block_count,
    hidden_size: s.embedding_length,
    num_attention_heads: s.head_count,
    num_key_value_heads: s.head_count_kv,
    head_dim: s.head_dim,
    intermediate_size:
      ggufNumber(header, `${s.architecture}.feed_forward_length`) ?? 4 * s.embedding_length,
    vocab_size: s.vocab_size ?? 1,
    max_position_embeddings: s.context_length,
    tie_word_embeddings: !header.tensors.some((t) => t.name === 'output.weight'),
    // The KV cache llama.cpp keeps is F16 by default: plan for a 16-bit activation dtype.
    dtype: 'float16',
    qkv_bias: header.tensors.some((t) => t.name === 'blk.0.attn_q.bias'),
    qk_norm: header.tensors.some((t) => t.name === 'blk.0.attn_q_norm.weight'),
  });
  return {
    arch,
    quantization: s.quantization,
    weightsBytes: s.weight_bytes,
    parameters: s.parameters,
    contextLength: s.context_length,
    chatTemplate: s.chat_template,
    eosTokenId: ggufNumber(header, 'tokenizer.ggml.eos_token_id') ?? null,
  };
}
