// The device allocations the CUDA engine makes while it loads (native/src/backend/cuda: one buffer per
// parameter, then the profiling forward's buffers), and the memory they occupy beyond their bytes.
import { DTYPE_BYTES, type ArchNumbers } from '../catalog/architecture.ts';
import type { ResolvedParams } from './engine-params.ts';

const MiB = 1024 * 1024;
/**
 * The CUDA driver's page: an allocation of 2 MiB or more takes whole pages; smaller ones share pages,
 * each placed in the first page with room. On the H200 this accounted for the rest of every measured
 * profile to the byte (bench/results/h200-memory-profile-864b435.json, stages "weights" and
 * "profile_forward").
 */
export const DEVICE_PAGE_BYTES = 2 * MiB;
/** cuBLASLt's workspace, as the engine allocates it (native/src/backend/cuda/cublaslt.h). */
export const CUBLASLT_WORKSPACE_BYTES = 32 * MiB;
/** Streaming multiprocessors the decode attention plan is made for (H100 / H200 SXM). */
const PLAN_SMS = 132;

/** Pages that small allocations share, with the bytes still free in each. */
export type SharedPages = number[];

/**
 * What `sizes`, allocated in order, add to device memory beyond their own bytes: the rounding of
 * large ones up to whole pages, a new shared page for a small one that fits nowhere, less the small
 * ones that fit into pages already counted. `pages` carries the shared pages from call to call.
 */
export function allocationSlack(sizes: readonly number[], pages: SharedPages): number {
  let slack = 0;
  for (const bytes of sizes) {
    if (bytes <= 0) continue;
    if (bytes >= DEVICE_PAGE_BYTES) {
      slack += Math.ceil(bytes / DEVICE_PAGE_BYTES) * DEVICE_PAGE_BYTES - bytes;
      continue;
    }
    const page = pages.findIndex((free) => free >= bytes);
    if (page >= 0) {
      pages[page]! -= bytes;
      slack -= bytes;
    } else {
      pages.push(DEVICE_PAGE_BYTES - bytes);
      slack += DEVICE_PAGE_BYTES - bytes;
    }
  }
  return slack;
}

/** Batch sizes the engine captures decode graphs for: 1, 2, 4, 8, then multiples of 8 (cuda_backend_impl.h). */
export function graphBatchSize(numSeqs: number): number {
  if (numSeqs <= 8) {
    let b = 1;
    while (b < numSeqs) b *= 2;
    return b;
  }
  return Math.ceil(numSeqs / 8) * 8;
}

/** The largest batch the engine captures a decode graph for: max_num_seqs (at most 256), padded. */
function largestGraphBatch(params: Pick<ResolvedParams, 'max_num_seqs'>): number {
  return graphBatchSize(Math.min(params.max_num_seqs, 256));
}

/** How many decode graphs the engine captures: one per padded batch size up to min(max_num_seqs, 256). */
export function decodeGraphCount(params: Pick<ResolvedParams, 'max_num_seqs' | 'enforce_eager'>): number {
  if (params.enforce_eager) return 0;
  const largest = largestGraphBatch(params);
  let count = 0;
  for (let size = 1; size <= largest; size = graphBatchSize(size + 1)) count++;
  return count;
}

/** Partitions of one sequence's context in the engine's decode plan (attention_decode.cu plan_paged_attention_decode). */
function decodePartitions(numSeqs: number, kvHeads: number, qHeads: number, context: number): number {
  const group = Math.floor(qHeads / kvHeads);
  const mTiles = group <= 8 ? 1 : Math.ceil(group / 16);
  const roundUp32 = (x: number) => Math.ceil(x / 32) * 32;
  const blocks = (p: number) => numSeqs * kvHeads * mTiles * Math.ceil(context / p);
  let partition = roundUp32(context);
  if (blocks(partition) < Math.floor((PLAN_SMS + 1) / 2)) {
    while (partition > 64 && blocks(partition) < 2 * PLAN_SMS) {
      const half = roundUp32(Math.ceil(partition / 2));
      partition = half < 64 ? 64 : half;
    }
  }
  return Math.ceil(context / partition);
}

/**
 * The split-K workspace of paged decode attention: the largest any batch of up to max_num_seqs
 * sequences of max_model_len tokens asks for (cuda_backend.cpp decode_workspace_bound; per partition
 * a head_dim output and a max / sum pair in fp32). Large batches run unsplit, so small ones set it.
 */
export function decodeWorkspaceBytes(arch: ArchNumbers, params: ResolvedParams): number {
  if (params.dtype === 'float32') return 0; // the float32 attention needs none
  const t = params.tensor_parallel_size;
  const qHeads = arch.num_attention_heads / t;
  const kvHeads = kvHeadsPerGpu(arch, params);
  const most = Math.max(params.max_num_seqs, largestGraphBatch(params));
  let bytes = 0;
  for (let n = 1; ; n = Math.min(n * 2, most)) {
    const partitions = decodePartitions(n, kvHeads, qHeads, params.max_model_len);
    if (partitions > 1) bytes = Math.max(bytes, n * qHeads * partitions * (4 * arch.head_dim + 8));
    if (n === most) break;
  }
  return bytes;
}

/**
 * KV heads on one GPU: split across the tensor-parallel ranks; with fewer KV heads than GPUs each GPU
 * keeps a replica of one head, as vLLM does.
 */
export function kvHeadsPerGpu(arch: ArchNumbers, params: Pick<ResolvedParams, 'tensor_parallel_size'>): number {
  return Math.max(1, Math.ceil(arch.num_key_value_heads / params.tensor_parallel_size));
}

/** One GPU's share of the model's widths: element bytes, hidden size, q and k (or v) widths, MLP width. */
function shardWidths(arch: ArchNumbers, params: ResolvedParams) {
  const t = params.tensor_parallel_size;
  return {
    a: DTYPE_BYTES[params.dtype],
    h: arch.hidden_size,
    q: (arch.num_attention_heads * arch.head_dim) / t,
    kv: kvHeadsPerGpu(arch, params) * arch.head_dim,
    inter: arch.intermediate_size / t,
  };
}

/** Bytes of each parameter buffer the engine uploads, in its order (q/k/v and gate/up fused). */
export function weightAllocations(arch: ArchNumbers, params: ResolvedParams): number[] {
  const { a, h, q, kv, inter } = shardWidths(arch, params);
  const embedding = arch.vocab_size * h * a;
  const layer = [
    h * a,
    (q + 2 * kv) * h * a,
    ...(arch.qkv_bias ? [(q + 2 * kv) * a] : []),
    ...(arch.qk_norm ? [arch.head_dim * a, arch.head_dim * a] : []),
    q * h * a,
    h * a,
    2 * inter * h * a,
    inter * h * a,
  ];
  const out = [embedding];
  for (let l = 0; l < arch.num_hidden_layers; l++) out.push(...layer);
  out.push(h * a);
  if (!arch.tie_word_embeddings) out.push(embedding);
  out.push(ropeTableBytes(arch));
  return out;
}

/** The rotary inverse frequencies (float32, head_dim / 2), uploaded after the weights. */
export function ropeTableBytes(arch: ArchNumbers): number {
  return (arch.head_dim / 2) * 4;
}

/** The tokens the activation buffers are sized for: the profiling forward's, or the largest decode graph's. */
export function activationTokens(params: ResolvedParams): number {
  return Math.max(params.max_num_batched_tokens, largestGraphBatch(params));
}

/** The buffers the profiling forward allocates, in the engine's order, with their roles. */
export interface ProfileAllocation {
  role: 'activations' | 'temporary_kv_cache';
  bytes: number;
}

/**
 * Per token of the largest step: the fp32 residual stream, the normed and attention-output copies,
 * q/k/v, the attention result, gate/up and their product (ensure_activations); per sampled row the
 * hidden state and fp32 logits; the decode workspace; the profile's temporary KV cache (K and V, one
 * max_num_batched_tokens prompt); the decode graphs' fixed step inputs (block tables for max_model_len);
 * the forward's packed inputs (staged twice their size).
 */
export function profileAllocations(
  arch: ArchNumbers,
  params: ResolvedParams,
  kvBytesPerBlock: number,
): ProfileAllocation[] {
  const { a, h, q, kv, inter } = shardWidths(arch, params);
  const tokens = activationTokens(params);
  const rows = params.max_num_seqs;
  const batched = params.max_num_batched_tokens;
  const blocks = Math.ceil(batched / params.block_size);
  const pad4 = (n: number) => Math.ceil(n / 4) * 4;
  const act = (bytes: number): ProfileAllocation => ({ role: 'activations', bytes });
  const out: ProfileAllocation[] = [
    act(tokens * h * 4),
    act(tokens * h * a),
    act(tokens * h * a),
    act(tokens * (q + 2 * kv) * a),
    act(tokens * q * a),
    act(tokens * 2 * inter * a),
    act(tokens * inter * a),
    act(rows * h * a),
    act(rows * arch.vocab_size * 4),
    act(decodeWorkspaceBytes(arch, params)),
    { role: 'temporary_kv_cache', bytes: (blocks * kvBytesPerBlock) / 2 },
    { role: 'temporary_kv_cache', bytes: (blocks * kvBytesPerBlock) / 2 },
  ];
  if (!params.enforce_eager) {
    const seqs = pad4(largestGraphBatch(params));
    out.push(act(4 * (7 * seqs + 4 + seqs * Math.ceil(params.max_model_len / params.block_size))));
  }
  // ids, positions, slots; query starts, context length, block table, prefill tiles, the logit row.
  const packed = 3 * pad4(batched) + 4 + 4 + pad4(blocks) + pad4(2 * Math.ceil(batched / 64)) + 4;
  out.push(act(2 * 4 * packed));
  return out;
}
