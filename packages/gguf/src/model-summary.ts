// What the platform needs to know about a GGUF model, from its header alone: the shape, the
// quantization, and the bytes of its weights and of its KV cache per token (for memory plans).
import { FILE_TYPE_NAMES, GGML_BLOCKS } from './ggml-types.ts';
import { ggufNumber, ggufString, GgufFormatError, type GgufHeader } from './gguf-reader.ts';

export interface GgufModelSummary {
  architecture: string;
  name: string | null;
  /** The quantization name (Q4_K_M, Q8_0, F16, …) from general.file_type, else the commonest 2-D tensor type. */
  quantization: string;
  context_length: number;
  block_count: number;
  embedding_length: number;
  head_count: number;
  head_count_kv: number;
  head_dim: number;
  vocab_size: number | null;
  /** The sum of every tensor's bytes, as llama.cpp will hold them. */
  weight_bytes: number;
  parameters: number;
  /** K and V for one token across all layers, in an F16 cache (llama.cpp's default type). */
  kv_bytes_per_token_f16: number;
  chat_template: string | null;
}

export function ggufModelSummary(h: GgufHeader): GgufModelSummary {
  const arch = ggufString(h, 'general.architecture');
  if (!arch) throw new GgufFormatError('the GGUF file has no general.architecture');
  const need = (key: string): number => {
    const v = ggufNumber(h, `${arch}.${key}`);
    if (v === undefined) throw new GgufFormatError(`the GGUF file has no ${arch}.${key}`);
    return v;
  };
  const blocks = need('block_count');
  const embedding = need('embedding_length');
  const heads = need('attention.head_count');
  const kvHeads = ggufNumber(h, `${arch}.attention.head_count_kv`) ?? heads;
  const keyLen = ggufNumber(h, `${arch}.attention.key_length`) ?? embedding / heads;
  const valueLen = ggufNumber(h, `${arch}.attention.value_length`) ?? embedding / heads;
  const tokens = h.metadata.get('tokenizer.ggml.tokens');
  const fileType = ggufNumber(h, 'general.file_type');
  return {
    architecture: arch,
    name: ggufString(h, 'general.name') ?? null,
    quantization:
      (fileType !== undefined ? FILE_TYPE_NAMES[fileType] : undefined) ?? commonestMatrixType(h),
    context_length: need('context_length'),
    block_count: blocks,
    embedding_length: embedding,
    head_count: heads,
    head_count_kv: kvHeads,
    head_dim: keyLen,
    vocab_size:
      ggufNumber(h, `${arch}.vocab_size`) ?? (Array.isArray(tokens) ? tokens.length : null),
    weight_bytes: h.tensors.reduce((a, t) => a + t.bytes, 0),
    parameters: h.tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0),
    kv_bytes_per_token_f16: blocks * kvHeads * (keyLen + valueLen) * 2,
    chat_template: ggufString(h, 'tokenizer.chat_template') ?? null,
  };
}

function commonestMatrixType(h: GgufHeader): string {
  const bytesByType = new Map<number, number>();
  for (const t of h.tensors)
    if (t.dims.length >= 2) bytesByType.set(t.type, (bytesByType.get(t.type) ?? 0) + t.bytes);
  let best: number | null = null;
  for (const [type, bytes] of bytesByType)
    if (best === null || bytes > bytesByType.get(best)!) best = type;
  return best === null ? 'unknown' : GGML_BLOCKS[best]![0];
}
