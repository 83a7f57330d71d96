// Test tooling: a Hugging Face Llama checkpoint (config.json, safetensors, a SentencePiece-style
// tokenizer.json) → GGUF, written the way llama.cpp's convert_hf_to_gguf.py writes it: the llama.*
// hyperparameter keys, the tokenizer.ggml.* arrays, Q/K rows permuted back to llama.cpp's interleaved
// RoPE layout, norms kept F32 and 2-D weights in the chosen type (Q8_0 falls back to F16 per tensor
// where a row is not a multiple of 32).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GgmlType } from './ggml-types.ts';
import { writeGguf, type GgufEntry, type GgufTensorSource } from './gguf-writer.ts';
import { SafetensorsFile } from './safetensors.ts';
import { encodeTensor } from './tensor-encode.ts';

export type OutType = 'f32' | 'f16' | 'bf16' | 'q8_0';

const OUT_TYPES: Record<OutType, { tensor: number; fileType: number }> = {
  f32: { tensor: GgmlType.F32, fileType: 0 },
  f16: { tensor: GgmlType.F16, fileType: 1 },
  bf16: { tensor: GgmlType.BF16, fileType: 32 },
  q8_0: { tensor: GgmlType.Q8_0, fileType: 7 },
};

/** SentencePiece token types as llama.cpp stores them. */
const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

interface LlamaConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta?: number;
  rope_scaling?: {
    type?: string;
    rope_type?: string;
    factor?: number;
    low_freq_factor?: number;
    high_freq_factor?: number;
    original_max_position_embeddings?: number;
  } | null;
  tie_word_embeddings?: boolean;
  architectures?: string[];
}

export interface ConvertOptions {
  /** A checkpoint folder; with `dummy`, only config.json and tokenizer.json are read. */
  dir: string;
  out: string;
  outtype: OutType;
  name?: string;
  /** Random weights of the config's shape (as load_format "dummy"), for benchmarks of large shapes. */
  dummy?: { seed: number };
}

/** One tensor to write: where its float32 values come from, and how it lands in the GGUF. */
interface PlannedTensor {
  hf: string;
  gguf: string;
  shape: number[];
  load: () => Float32Array;
  oneDim: boolean;
}

export function convertLlamaToGguf(opts: ConvertOptions): void {
  const config = JSON.parse(readFileSync(join(opts.dir, 'config.json'), 'utf8')) as LlamaConfig;
  const arch = config.architectures?.[0];
  if (arch !== undefined && arch !== 'LlamaForCausalLM')
    throw new Error(`the converter handles LlamaForCausalLM, not ${arch}`);
  const nHead = config.num_attention_heads;
  const nKv = config.num_key_value_heads ?? nHead;
  const headDim = config.head_dim ?? config.hidden_size / nHead;
  const out = OUT_TYPES[opts.outtype];

  const meta = new Map<string, GgufEntry>();
  const set = (k: string, e: GgufEntry) => meta.set(k, e);
  set('general.architecture', { type: 'str', value: 'llama' });
  set('general.type', { type: 'str', value: 'model' });
  set('general.name', { type: 'str', value: opts.name ?? 'model' });
  set('llama.block_count', { type: 'u32', value: config.num_hidden_layers });
  set('llama.context_length', { type: 'u32', value: config.max_position_embeddings });
  set('llama.embedding_length', { type: 'u32', value: config.hidden_size });
  set('llama.feed_forward_length', { type: 'u32', value: config.intermediate_size });
  set('llama.attention.head_count', { type: 'u32', value: nHead });
  set('llama.attention.head_count_kv', { type: 'u32', value: nKv });
  set('llama.rope.freq_base', { type: 'f32', value: config.rope_theta ?? 10000 });
  set('llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: config.rms_norm_eps });
  if (headDim !== config.hidden_size / nHead) {
    set('llama.attention.key_length', { type: 'u32', value: headDim });
    set('llama.attention.value_length', { type: 'u32', value: headDim });
  }
  const scaling = config.rope_scaling;
  let ropeFactors: Float32Array | null = null;
  if (scaling) {
    const kind = scaling.rope_type ?? scaling.type;
    if (kind === 'llama3') {
      ropeFactors = llama3RopeFactors(scaling, config.rope_theta ?? 10000, headDim);
    } else if (kind === 'linear' && scaling.factor !== undefined) {
      set('llama.rope.scaling.type', { type: 'str', value: 'linear' });
      set('llama.rope.scaling.factor', { type: 'f32', value: scaling.factor });
    } else {
      throw new Error(
        `rope_scaling ${kind} is not supported by the converter (none, linear or llama3 are)`,
      );
    }
  }
  set('general.file_type', { type: 'u32', value: out.fileType });
  set('llama.vocab_size', { type: 'u32', value: config.vocab_size });
  set('llama.rope.dimension_count', { type: 'u32', value: headDim });
  if (opts.outtype === 'q8_0') set('general.quantization_version', { type: 'u32', value: 2 });
  for (const [k, e] of llamaVocab(opts.dir, config.vocab_size)) set(k, e);

  const tensors = planTensors(opts, config, nHead, nKv, headDim);
  const sources: GgufTensorSource[] = tensors.map((t) => {
    const dims = [...t.shape].reverse();
    let type: number = t.oneDim ? GgmlType.F32 : out.tensor;
    if (type === GgmlType.Q8_0 && dims[0]! % 32 !== 0) type = GgmlType.F16;
    return { name: t.gguf, dims, type, data: () => encodeTensor(t.load(), type) };
  });
  // llama.cpp reads llama3 scaling as one F32 divisor per rotary frequency, shared by every layer.
  if (ropeFactors) {
    const factors = ropeFactors;
    sources.unshift({
      name: 'rope_freqs.weight',
      dims: [factors.length],
      type: GgmlType.F32,
      data: () => encodeTensor(factors, GgmlType.F32),
    });
  }
  writeGguf(opts.out, meta, sources);
}

/**
 * Llama 3.1's rope_scaling as llama.cpp's per-frequency divisors: frequencies whose wavelength is
 * shorter than original_max_position_embeddings / high_freq_factor keep theirs (1), those longer than
 * ... / low_freq_factor are divided by factor, and the band between is blended linearly in
 * 1 / wavelength, as transformers' llama3 rotary initialisation blends them.
 */
export function llama3RopeFactors(
  scaling: NonNullable<LlamaConfig['rope_scaling']>,
  base: number,
  headDim: number,
): Float32Array {
  const { factor, low_freq_factor: low, high_freq_factor: high } = scaling;
  const original = scaling.original_max_position_embeddings;
  if (factor === undefined || low === undefined || high === undefined || original === undefined)
    throw new Error(
      'rope_scaling llama3 needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings',
    );
  if (!(high > low))
    throw new Error('rope_scaling llama3: high_freq_factor must be larger than low_freq_factor');
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const wavelen = (2 * Math.PI) / base ** ((-2 * i) / headDim);
    if (wavelen < original / high) out[i] = 1;
    else if (wavelen > original / low) out[i] = factor;
    else {
      const smooth = (original / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/** The Hugging Face tensors of a Llama config: name and shape, in the order the converter writes them. */
export function llamaTensorShapes(dir: string): Array<[string, number[]]> {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as LlamaConfig;
  const nHead = c.num_attention_heads;
  return planTensors(
    { dir, out: '', outtype: 'f32', dummy: { seed: 1 } },
    c,
    nHead,
    c.num_key_value_heads ?? nHead,
    c.head_dim ?? c.hidden_size / nHead,
  ).map((t) => [t.hf, t.shape]);
}

function planTensors(
  opts: ConvertOptions,
  c: LlamaConfig,
  nHead: number,
  nKv: number,
  headDim: number,
): PlannedTensor[] {
  const H = c.hidden_size;
  const I = c.intermediate_size;
  const shapes: Array<[string, string, number[]]> = [
    ['model.embed_tokens.weight', 'token_embd.weight', [c.vocab_size, H]],
  ];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const b = `blk.${l}`;
    shapes.push(
      [`${p}.input_layernorm.weight`, `${b}.attn_norm.weight`, [H]],
      [`${p}.self_attn.q_proj.weight`, `${b}.attn_q.weight`, [nHead * headDim, H]],
      [`${p}.self_attn.k_proj.weight`, `${b}.attn_k.weight`, [nKv * headDim, H]],
      [`${p}.self_attn.v_proj.weight`, `${b}.attn_v.weight`, [nKv * headDim, H]],
      [`${p}.self_attn.o_proj.weight`, `${b}.attn_output.weight`, [H, nHead * headDim]],
      [`${p}.post_attention_layernorm.weight`, `${b}.ffn_norm.weight`, [H]],
      [`${p}.mlp.gate_proj.weight`, `${b}.ffn_gate.weight`, [I, H]],
      [`${p}.mlp.up_proj.weight`, `${b}.ffn_up.weight`, [I, H]],
      [`${p}.mlp.down_proj.weight`, `${b}.ffn_down.weight`, [H, I]],
    );
  }
  shapes.push(['model.norm.weight', 'output_norm.weight', [H]]);
  if (!c.tie_word_embeddings) shapes.push(['lm_head.weight', 'output.weight', [c.vocab_size, H]]);

  const read = opts.dummy ? dummyReader(opts.dummy.seed) : checkpointReader(opts.dir);
  return shapes.map(([hf, gguf, shape]) => ({
    hf,
    gguf,
    shape,
    oneDim: shape.length === 1,
    load: () => {
      const values = read(hf, shape);
      if (gguf.endsWith('attn_q.weight')) return permuteRope(values, nHead, shape[1]!);
      if (gguf.endsWith('attn_k.weight')) return permuteRope(values, nKv, shape[1]!);
      return values;
    },
  }));
}

/**
 * Hugging Face stores Q/K rows in rotate_half order (first halves of every pair, then second halves);
 * llama.cpp's "normal" RoPE rotates adjacent pairs. Row (h, j, k) moves to (h, k, j).
 */
export function permuteRope(w: Float32Array, heads: number, cols: number): Float32Array {
  const rows = w.length / cols;
  const hd = rows / heads;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++)
    for (let k = 0; k < half; k++)
      for (let j = 0; j < 2; j++) {
        const src = h * hd + j * half + k;
        const dst = h * hd + k * 2 + j;
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
  return out;
}

function checkpointReader(dir: string): (name: string, shape: number[]) => Float32Array {
  const files = new Map<string, SafetensorsFile>();
  const index = join(dir, 'model.safetensors.index.json');
  let fileOf: (name: string) => string = () => 'model.safetensors';
  if (existsSync(index)) {
    const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> })
      .weight_map;
    fileOf = (name) => {
      const f = map[name];
      if (!f) throw new Error(`${index} does not list ${name}`);
      return f;
    };
  }
  return (name, shape) => {
    const file = fileOf(name);
    let st = files.get(file);
    if (!st) files.set(file, (st = new SafetensorsFile(join(dir, file))));
    const t = st.read(name);
    if (t.shape.join('x') !== shape.join('x'))
      throw new Error(`${name} has shape [${t.shape}], config.json says [${shape}]`);
    return t.values;
  };
}

/** Deterministic random weights (xorshift), small enough to keep activations finite; norms are 1. */
export function dummyReader(seed: number): (name: string, shape: number[]) => Float32Array {
  let s = seed >>> 0 || 1;
  return (_name, shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    if (shape.length === 1) return v.fill(1);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      v[i] = ((s >>> 0) / 4294967296 - 0.5) * 0.04;
    }
    return v;
  };
}

interface TokenizerJson {
  model: {
    type: string;
    vocab: Record<string, number>;
    merges?: Array<string | [string, string]>;
    byte_fallback?: boolean;
  };
  added_tokens?: Array<{ id: number; content: string; special: boolean }>;
}

interface TokenizerConfig {
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  unk_token?: string | { content: string } | null;
  pad_token?: string | { content: string } | null;
  chat_template?: string | Array<{ name: string; template: string }>;
}

const tokenText = (t: TokenizerConfig['bos_token']) =>
  t == null ? null : typeof t === 'string' ? t : t.content;

/**
 * The tokenizer.ggml.* keys for a SentencePiece-style tokenizer.json (BPE + byte fallback, "▁" for
 * spaces): llama.cpp's "llama" vocabulary. llama.cpp merges the bigram of highest score, Hugging Face
 * the merge of lowest rank: a token made by merge r scores -r, so both pick the same merges.
 */
function llamaVocab(dir: string, vocabSize: number): Map<string, GgufEntry> {
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as TokenizerJson;
  const configPath = join(dir, 'tokenizer_config.json');
  const tc: TokenizerConfig = existsSync(configPath)
    ? (JSON.parse(readFileSync(configPath, 'utf8')) as TokenizerConfig)
    : {};
  if (tj.model.type !== 'BPE' || !tj.model.byte_fallback)
    throw new Error(
      'the converter handles SentencePiece-style tokenizers (BPE with byte_fallback), as Llama 2 uses',
    );

  const byId = new Map<number, string>();
  for (const [tok, id] of Object.entries(tj.model.vocab)) byId.set(id, tok);
  const special = new Set<number>();
  const userDefined = new Set<number>();
  for (const a of tj.added_tokens ?? []) {
    byId.set(a.id, a.content);
    (a.special ? special : userDefined).add(a.id);
  }
  const mergeScore = new Map<string, number>();
  for (const [rank, m] of (tj.model.merges ?? []).entries()) {
    const [a, b] = typeof m === 'string' ? m.split(' ') : m;
    const merged = `${a}${b}`;
    if (!mergeScore.has(merged)) mergeScore.set(merged, -rank);
  }
  const idOf = (t: string | null) =>
    t === null
      ? undefined
      : (tj.model.vocab[t] ?? tj.added_tokens?.find((a) => a.content === t)?.id);
  const unk = idOf(tokenText(tc.unk_token));

  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (let id = 0; id < vocabSize; id++) {
    const tok = byId.get(id);
    if (tok === undefined) {
      tokens.push(`[PAD${id}]`);
      scores.push(-1000);
      types.push(TokenType.UNUSED);
      continue;
    }
    tokens.push(tok);
    scores.push(mergeScore.get(tok) ?? 0);
    if (id === unk) types.push(TokenType.UNKNOWN);
    else if (special.has(id)) types.push(TokenType.CONTROL);
    else if (userDefined.has(id)) types.push(TokenType.USER_DEFINED);
    else if (/^<0x[0-9A-Fa-f]{2}>$/.test(tok)) types.push(TokenType.BYTE);
    else types.push(TokenType.NORMAL);
  }

  const m = new Map<string, GgufEntry>();
  m.set('tokenizer.ggml.model', { type: 'str', value: 'llama' });
  m.set('tokenizer.ggml.pre', { type: 'str', value: 'default' });
  m.set('tokenizer.ggml.tokens', { type: 'array', of: 'str', value: tokens });
  m.set('tokenizer.ggml.scores', { type: 'array', of: 'f32', value: scores });
  m.set('tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: types });
  const ids: Array<[string, TokenizerConfig['bos_token']]> = [
    ['bos', tc.bos_token],
    ['eos', tc.eos_token],
    ['unknown', tc.unk_token],
    ['padding', tc.pad_token],
  ];
  for (const [key, t] of ids) {
    const id = idOf(tokenText(t));
    if (id !== undefined) m.set(`tokenizer.ggml.${key}_token_id`, { type: 'u32', value: id });
  }
  m.set('tokenizer.ggml.add_bos_token', { type: 'bool', value: tc.add_bos_token ?? true });
  m.set('tokenizer.ggml.add_eos_token', { type: 'bool', value: tc.add_eos_token ?? false });
  const template =
    typeof tc.chat_template === 'string'
      ? tc.chat_template
      : tc.chat_template?.find((t) => t.name === 'default')?.template;
  if (template !== undefined) m.set('tokenizer.chat_template', { type: 'str', value: template });
  return m;
}
