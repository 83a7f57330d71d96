// Memory of one GPU running one tensor-parallel shard of a model: weights, activations, CUDA graphs,
// runtime overhead and the KV cache that gpu_memory_utilization leaves, as the engine divides it.
import { DTYPE_BYTES, parameterCount, type ArchNumbers } from '../catalog/architecture.ts';
import type { GpuMemory } from '@pagoda/protocol';
import type { ResolvedParams } from './engine-params.ts';
import {
  allocationSlack,
  CUBLASLT_WORKSPACE_BYTES,
  decodeGraphCount,
  decodeWorkspaceBytes,
  kvHeadsPerGpu,
  profileAllocations,
  ropeTableBytes,
  weightAllocations,
  type SharedPages,
} from './engine-allocations.ts';

/**
 * Device memory the driver keeps from CUDA: what nvidia-smi's memory.total (what workers report)
 * says beyond the total cudaMemGetInfo gives the engine. Measured on the H200 (143,771 MiB against
 * 150,109,880,320 bytes, bench/results/h200-memory-profile-864b435.json). No other GPU was
 * measured: the same reserve is assumed on every one.
 */
export const DRIVER_RESERVED_BYTES = 644_939_776;
/**
 * The CUDA context, the engine's stream and cuBLASLt's handle: memory in use before the engine's
 * first buffer, less cuBLASLt's workspace. Measured on the H200 (CUDA 13, driver 580), the same for
 * every shape; the engine's profile counts it with the activations.
 */
export const CUDA_CONTEXT_BYTES = 554_500_096;
/**
 * Decode graphs: the device memory the engine sets aside per captured graph per layer
 * (native/src/backend/backend.h kCudaGraphBytesPerLayer, the same number): above the most the H200
 * measured over 35 graphs (41,194 Llama-3-8B, 42,799 Qwen2.5-7B, 44,003 Qwen2.5-32B), rounded up
 * to 44 KiB. The engine charges the KV cache this much, or what its capture took if that is more,
 * so the KV capacity a plan shows is the engine's to the block.
 */
export const CUDA_GRAPH_BYTES_PER_LAYER = 45_056;

/** The engine caps the KV cache at INT32_MAX / block_size blocks (engine_checks.cpp). */
const INT32_MAX = 2 ** 31 - 1;

export { CUBLASLT_WORKSPACE_BYTES, decodeWorkspaceBytes };

/** K and V of one token on one GPU: 2 × layers × kv heads (this GPU's share) × head_dim × bytes. */
export function kvBytesPerToken(
  arch: ArchNumbers,
  params: Pick<ResolvedParams, 'tensor_parallel_size' | 'kv_element_bytes'>,
): number {
  return 2 * arch.num_hidden_layers * kvHeadsPerGpu(arch, params) * arch.head_dim * params.kv_element_bytes;
}

/** The memory CUDA lets the engine use on a GPU whose nvidia-smi memory.total is `total`. */
export function cudaTotalBytes(total: number): number {
  return Math.max(0, total - DRIVER_RESERVED_BYTES);
}

/**
 * Activation memory at the profiling forward, from the buffers the engine allocates
 * (engine-allocations.ts profileAllocations, without the temporary KV cache) and cuBLASLt's
 * workspace. Tensor parallelism divides the sharded dimensions.
 */
export function activationBytes(arch: ArchNumbers, params: ResolvedParams): number {
  const blockBytes = kvBytesPerToken(arch, params) * params.block_size;
  const buffers = profileAllocations(arch, params, blockBytes)
    .filter((b) => b.role === 'activations')
    .reduce((sum, b) => sum + b.bytes, 0);
  return buffers + CUBLASLT_WORKSPACE_BYTES;
}

/**
 * What the engine's profile counts beyond weights and activation buffers: the CUDA context, and the
 * pages its allocations occupy beyond their bytes (the weights', then the profiling forward's, its
 * temporary KV cache included), and the rotary table. `weightsBytes` set (a quantized layout): its
 * parameters' pages are not modelled.
 */
export function overheadBytes(arch: ArchNumbers, params: ResolvedParams, weightsBytes?: number): number {
  const pages: SharedPages = [];
  const weights = weightsBytes === undefined ? weightAllocations(arch, params) : [ropeTableBytes(arch)];
  const blockBytes = kvBytesPerToken(arch, params) * params.block_size;
  const profile = profileAllocations(arch, params, blockBytes).map((b) => b.bytes);
  return CUDA_CONTEXT_BYTES + allocationSlack(weights, pages) + allocationSlack(profile, pages) + ropeTableBytes(arch);
}

/** The decode graphs' memory: one graph per padded batch size, each as large as the model is deep. */
export function cudaGraphBytes(arch: ArchNumbers, params: ResolvedParams): number {
  return decodeGraphCount(params) * arch.num_hidden_layers * CUDA_GRAPH_BYTES_PER_LAYER;
}

/** The parts of one GPU's memory the engine subtracts from gpu_memory_utilization × total before the KV cache. */
export interface KvBudgetInputs {
  /** The GPU's memory as CUDA reports it (cudaMemGetInfo's total). */
  cuda_total: number;
  gpu_memory_utilization: number;
  weights: number;
  /** The profile's activation peak: activation buffers and overhead together. */
  peak_activation: number;
  cuda_graphs: number;
  /** K and V of one block. */
  kv_bytes_per_block: number;
  block_size: number;
}

/**
 * The KV cache blocks the engine allocates, by its arithmetic (engine_checks.cpp choose_num_blocks):
 * what is left of gpu_memory_utilization × total, in double precision and the same order, in whole
 * blocks, at most INT32_MAX / block_size. Fed the engine's measured profile it gives the engine's count.
 */
export function kvCacheBlocks(m: KvBudgetInputs): number {
  const budget = m.cuda_total * m.gpu_memory_utilization - m.weights - m.peak_activation - m.cuda_graphs;
  const blocks = budget > 0 ? Math.floor(budget / m.kv_bytes_per_block) : 0;
  return Math.min(blocks, Math.floor(INT32_MAX / Math.max(1, m.block_size)));
}

export type { GpuMemory };

/**
 * One shard's memory on a GPU whose nvidia-smi total is `total` bytes. `weightsBytes` is the whole
 * model's (all shards); left out it is the parameter count at the compute dtype. The KV cache is what
 * gpu_memory_utilization × CUDA's total leaves after the rest, in whole blocks, as the engine sizes it.
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
  const perToken = kvBytesPerToken(arch, params);
  const blockBytes = perToken * params.block_size;
  if (params.fixed_claim_bytes !== null) {
    // An engine that sizes itself (llama.cpp) claims a fixed amount that already holds its buffers.
    const budget = params.fixed_claim_bytes;
    const kvCache = budget - weights;
    const blocks = kvCache > 0 ? Math.floor(kvCache / blockBytes) : 0;
    return {
      budget,
      weights,
      activations: 0,
      cuda_graphs: 0,
      overhead: 0,
      kv_cache: kvCache,
      kv_bytes_per_token: perToken,
      kv_cache_tokens: blocks * params.block_size,
    };
  }
  const activations = activationBytes(arch, params);
  if (params.claim_needed) {
    // The pooling run keeps no KV cache and captures no graphs: the claim is what it uses.
    return {
      budget: weights + activations + CUDA_CONTEXT_BYTES,
      weights,
      activations,
      cuda_graphs: 0,
      overhead: CUDA_CONTEXT_BYTES,
      kv_cache: 0,
      kv_bytes_per_token: 0,
      kv_cache_tokens: 0,
    };
  }
  const overhead = overheadBytes(arch, params, weightsBytes);
  const cudaGraphs = cudaGraphBytes(arch, params);
  const cudaTotal = cudaTotalBytes(total);
  const budget = Math.floor(cudaTotal * params.gpu_memory_utilization);
  const blocks = kvCacheBlocks({
    cuda_total: cudaTotal,
    gpu_memory_utilization: params.gpu_memory_utilization,
    weights,
    peak_activation: activations + overhead,
    cuda_graphs: cudaGraphs,
    kv_bytes_per_block: blockBytes,
    block_size: params.block_size,
  });
  return {
    budget,
    weights,
    activations,
    cuda_graphs: cudaGraphs,
    overhead,
    kv_cache: budget - weights - activations - overhead - cudaGraphs,
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
  const usable = params.fixed_claim_bytes !== null ? total : cudaTotalBytes(total);
  return Math.ceil((needed / usable) * 100) / 100;
}
