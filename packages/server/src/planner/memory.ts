// Memory of one GPU running one tensor-parallel shard of a model: weights, activations, CUDA graphs,
// runtime overhead and the KV cache that gpu_memory_utilization leaves, as the engine divides it.
import { DTYPE_BYTES, parameterCount, type ArchNumbers } from '../catalog/architecture.ts';
import type { ResolvedParams } from './engine-params.ts';

const MiB = 1024 * 1024;
/** Captured decode graphs (one per batch size up to max_num_seqs); vLLM's are typically 0.2-1 GiB. */
export const CUDA_GRAPHS_BYTES = 512 * MiB;
/** The CUDA context and allocator slack (the engine's profile counts them as activations). */
export const RUNTIME_OVERHEAD_BYTES = 512 * MiB;

/** K and V of one token on one GPU: 2 × layers × kv heads (this GPU's share) × head_dim × bytes. */
export function kvBytesPerToken(
  arch: ArchNumbers,
  params: Pick<ResolvedParams, 'tensor_parallel_size' | 'kv_element_bytes'>,
): number {
  // With fewer KV heads than GPUs each GPU keeps a replica of one head, as vLLM does.
  const kvHeads = Math.max(1, Math.ceil(arch.num_key_value_heads / params.tensor_parallel_size));
  return 2 * arch.num_hidden_layers * kvHeads * arch.head_dim * params.kv_element_bytes;
}

/** cuBLASLt's workspace, as the engine allocates it (native/src/backend/cuda/cublaslt.h). */
export const CUBLASLT_WORKSPACE_BYTES = 32 * MiB;

/**
 * The split-K workspace of paged decode attention for max_num_seqs sequences of max_model_len
 * tokens, as the engine bounds it (attention_decode.cu: partitions of up to 512 tokens, fewer when a
 * large query group would overflow the 32 KiB score buffer; per partition a head_dim output and a
 * max / sum pair in fp32).
 */
export function decodeWorkspaceBytes(arch: ArchNumbers, params: ResolvedParams): number {
  const group = Math.max(1, Math.floor(arch.num_attention_heads / arch.num_key_value_heads));
  const cap = Math.max(32, Math.floor((32 * 1024) / (4 * group) / 32) * 32);
  const partition = Math.min(cap, 512);
  const partitions = Math.ceil(params.max_model_len / partition);
  if (partitions <= 1) return 0;
  const heads = arch.num_attention_heads / params.tensor_parallel_size;
  return params.max_num_seqs * heads * partitions * (4 * arch.head_dim + 8);
}

/**
 * Activation memory at the profiling forward of max_num_batched_tokens, from the buffers the engine
 * allocates (cuda_backend.cpp ensure_activations): per token an fp32 residual stream, the normed and
 * attention-output copies, q/k/v, the attention result, gate/up and their product in the compute
 * dtype; hidden states and fp32 logits for up to max_num_seqs sampled rows; the decode workspace and
 * cuBLASLt's. Tensor parallelism divides the sharded dimensions.
 */
export function activationBytes(arch: ArchNumbers, params: ResolvedParams): number {
  const t = params.tensor_parallel_size;
  const tokens = params.max_num_batched_tokens;
  const a = DTYPE_BYTES[params.dtype];
  const q = (arch.num_attention_heads * arch.head_dim) / t;
  const kv = Math.max(1, Math.ceil(arch.num_key_value_heads / t)) * arch.head_dim;
  const inter = arch.intermediate_size / t;
  const perToken = 4 * arch.hidden_size + a * (2 * arch.hidden_size + q + 2 * kv + q + 3 * inter);
  const rows = Math.min(params.max_num_seqs, tokens);
  const logits = rows * (a * arch.hidden_size + 4 * arch.vocab_size);
  return Math.ceil(
    tokens * perToken + logits + decodeWorkspaceBytes(arch, params) + CUBLASLT_WORKSPACE_BYTES,
  );
}

export interface GpuMemory {
  /** gpu_memory_utilization × total: what this shard may use, and what placement claims. */
  budget: number;
  weights: number;
  activations: number;
  cuda_graphs: number;
  overhead: number;
  /** The rest of the budget (negative when the rest does not fit). */
  kv_cache: number;
  kv_bytes_per_token: number;
  /** Tokens the KV cache holds, in whole blocks. */
  kv_cache_tokens: number;
}

/**
 * One shard's memory on a GPU of `total` bytes. `weightsBytes` is the whole model's (all shards); left
 * out it is the parameter count at the compute dtype.
 */
export function gpuMemory(
  arch: ArchNumbers,
  params: ResolvedParams,
  total: number,
  weightsBytes?: number,
): GpuMemory {
  const weights = Math.ceil(
    (weightsBytes ?? parameterCount(arch) * DTYPE_BYTES[params.dtype]) /
      params.tensor_parallel_size,
  );
  // An engine that sizes itself (llama.cpp) claims a fixed amount that already holds its buffers.
  const fixed = params.fixed_claim_bytes !== null;
  const activations = fixed ? 0 : activationBytes(arch, params);
  if (params.claim_needed) {
    // The pooling run keeps no KV cache and captures no graphs: the claim is what it uses.
    return {
      budget: weights + activations + RUNTIME_OVERHEAD_BYTES,
      weights,
      activations,
      cuda_graphs: 0,
      overhead: RUNTIME_OVERHEAD_BYTES,
      kv_cache: 0,
      kv_bytes_per_token: 0,
      kv_cache_tokens: 0,
    };
  }
  const cudaGraphs = fixed || params.enforce_eager ? 0 : CUDA_GRAPHS_BYTES;
  const overhead = fixed ? 0 : RUNTIME_OVERHEAD_BYTES;
  const budget = params.fixed_claim_bytes ?? Math.floor(total * params.gpu_memory_utilization);
  const kvCache = budget - weights - activations - cudaGraphs - overhead;
  const perToken = kvBytesPerToken(arch, params);
  const blocks = kvCache > 0 ? Math.floor(kvCache / (perToken * params.block_size)) : 0;
  return {
    budget,
    weights,
    activations,
    cuda_graphs: cudaGraphs,
    overhead,
    kv_cache: kvCache,
    kv_bytes_per_token: perToken,
    kv_cache_tokens: blocks * params.block_size,
  };
}

/** The least gpu_memory_utilization (in hundredths) at which the KV cache holds one max_model_len sequence. */
export function minimumUtilization(
  arch: ArchNumbers,
  params: ResolvedParams,
  total: number,
  weightsBytes?: number,
): number {
  const m = gpuMemory(arch, { ...params, gpu_memory_utilization: 1 }, total, weightsBytes);
  const blockBytes = m.kv_bytes_per_token * params.block_size;
  const kvNeeded = Math.ceil(params.max_model_len / params.block_size) * blockBytes;
  const needed = m.weights + m.activations + m.cuda_graphs + m.overhead + kvNeeded;
  return Math.ceil((needed / total) * 100) / 100;
}
