// Paged attention for decode (one new token per sequence). A block handles one sequence,
// one KV head and one partition of its context, for all the query heads of that KV head
// (GQA / MQA), so each K/V row is read once per KV head. Scores live in shared memory;
// long contexts are split into partitions whose partial outputs a second kernel merges
// with their softmax maxima and sums.
#include "backend/cuda/kernels.h"

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kLanesPerKey = 4;    // score phase: 8 keys per warp, 4 lanes split head_dim
constexpr int kHeadChunk = 8;      // output phase: query heads accumulated at once
constexpr int kMaxScoreBytes = 32 * 1024;

struct DecodeShared {
  int group, partition, head_dim;
  size_t q_floats() const { return static_cast<size_t>(group) * head_dim; }
  size_t score_floats() const { return static_cast<size_t>(group) * partition; }
  size_t reduce_floats() const { return static_cast<size_t>(kWarps) * kHeadChunk * head_dim; }
  size_t stats_floats() const { return 2 * static_cast<size_t>(group); }
  size_t bytes() const { return sizeof(float) * (q_floats() + score_floats() + reduce_floats() + stats_floats()); }
};

__device__ __forceinline__ int64_t cache_offset(const int32_t* block_table, int key, int kv_head,
                                                int num_kv_heads, int block_size, int head_dim) {
  const int64_t block = block_table[key / block_size];
  return ((block * num_kv_heads + kv_head) * block_size + key % block_size) * head_dim;
}

} // namespace

template <int D>
__global__ void __launch_bounds__(kThreads)
    paged_attention_decode_kernel(PagedAttentionArgs args, const int32_t* __restrict__ seq_ids,
                                  int partition, int max_partitions, float* __restrict__ part_out,
                                  float2* __restrict__ part_stats) {
  extern __shared__ __align__(16) float shared[];
  const int group = args.num_q_heads / args.num_kv_heads;
  float* s_q = shared;                                // [group][D], pre-scaled into log2 units
  float* s_score = s_q + group * D;                   // [group][partition]
  float* s_reduce = s_score + group * partition;      // [kWarps][kHeadChunk][D]
  float* s_max = s_reduce + kWarps * kHeadChunk * D;  // [group]
  float* s_sum = s_max + group;                       // [group]

  const int seq_index = blockIdx.x;
  const int seq = seq_ids[seq_index];
  const int kv_head = blockIdx.y;
  const int part = blockIdx.z;
  const int context_len = args.context_lens[seq];
  const int key_begin = part * partition;
  if (key_begin >= context_len) return;
  const int num_keys = min(partition, context_len - key_begin);
  const int64_t token = args.query_start[seq];
  const int32_t* block_table = args.block_tables + static_cast<int64_t>(seq) * args.max_blocks_per_seq;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x & 31;

  const float q_scale = args.scale * 1.4426950408889634f;
  for (int i = threadIdx.x; i < group * D; i += kThreads) {
    const int head = kv_head * group + i / D;
    s_q[i] = __bfloat162float(args.q[token * args.q_token_stride + static_cast<int64_t>(head) * D + i % D]) * q_scale;
  }
  __syncthreads();

  // Scores: 4 lanes per key, each a quarter of head_dim; 8 keys per warp at once.
  {
    constexpr int kSlice = D / kLanesPerKey;
    const int sub_key = lane / kLanesPerKey;
    const int slice = lane % kLanesPerKey;
    for (int k0 = warp * 8; k0 < num_keys; k0 += kWarps * 8) {
      const int local_key = k0 + sub_key;
      const bool valid = local_key < num_keys;
      float k_val[kSlice];
      if (valid) {
        const bf16* src = args.k_cache +
                          cache_offset(block_table, key_begin + local_key, kv_head, args.num_kv_heads, args.block_size, D) +
                          slice * kSlice;
#pragma unroll
        for (int v = 0; v < kSlice / 8; ++v) unpack8(reinterpret_cast<const Bf16x8*>(src)[v], k_val + v * 8);
      } else {
#pragma unroll
        for (int e = 0; e < kSlice; ++e) k_val[e] = 0.f;
      }
      for (int g = 0; g < group; ++g) {
        const float* qg = s_q + g * D + slice * kSlice;
        float dot = 0.f;
#pragma unroll
        for (int e = 0; e < kSlice; ++e) dot += qg[e] * k_val[e];
        dot += __shfl_xor_sync(0xffffffffu, dot, 1);
        dot += __shfl_xor_sync(0xffffffffu, dot, 2);
        if (valid && slice == 0) s_score[g * partition + local_key] = dot;
      }
    }
  }
  __syncthreads();

  // Softmax statistics per query head; probabilities replace the scores.
  for (int g = warp; g < group; g += kWarps) {
    float* row = s_score + g * partition;
    float m = -INFINITY;
    for (int i = lane; i < num_keys; i += 32) m = fmaxf(m, row[i]);
    m = warp_max(m);
    float l = 0.f;
    for (int i = lane; i < num_keys; i += 32) {
      const float p = exp2f(row[i] - m);
      row[i] = p;
      l += p;
    }
    l = warp_sum(l);
    if (lane == 0) {
      s_max[g] = m;
      s_sum[g] = l;
    }
  }
  __syncthreads();

  // Output: lanes split head_dim, warps split keys, then the warps' sums are added.
  constexpr int kPerLane = D / 32;
  const int d0 = lane * kPerLane;
  for (int g0 = 0; g0 < group; g0 += kHeadChunk) {
    float acc[kHeadChunk][kPerLane];
#pragma unroll
    for (int gg = 0; gg < kHeadChunk; ++gg)
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) acc[gg][e] = 0.f;
#pragma unroll 4
    for (int local_key = warp; local_key < num_keys; local_key += kWarps) {
      const bf16* src = args.v_cache +
                        cache_offset(block_table, key_begin + local_key, kv_head, args.num_kv_heads, args.block_size, D) + d0;
      float v[kPerLane];
#pragma unroll
      for (int e = 0; e < kPerLane; e += 2) {
        const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(src + e));
        v[e] = f.x;
        v[e + 1] = f.y;
      }
#pragma unroll
      for (int gg = 0; gg < kHeadChunk; ++gg) {
        if (g0 + gg >= group) break;
        const float p = s_score[(g0 + gg) * partition + local_key];
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) acc[gg][e] += p * v[e];
      }
    }
#pragma unroll
    for (int gg = 0; gg < kHeadChunk; ++gg)
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) s_reduce[(warp * kHeadChunk + gg) * D + d0 + e] = acc[gg][e];
    __syncthreads();
    for (int i = threadIdx.x; i < kHeadChunk * D; i += kThreads) {
      const int gg = i / D, d = i % D;
      const int g = g0 + gg;
      if (g >= group) continue;
      float o = 0.f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) o += s_reduce[(w * kHeadChunk + gg) * D + d];
      o /= s_sum[g];
      const int head = kv_head * group + g;
      if (max_partitions == 1) {
        args.out[token * args.num_q_heads * D + static_cast<int64_t>(head) * D + d] = __float2bfloat16(o);
      } else {
        const int64_t slot = (static_cast<int64_t>(seq_index) * args.num_q_heads + head) * max_partitions + part;
        part_out[slot * D + d] = o;
        if (d == 0) part_stats[slot] = make_float2(s_max[g], s_sum[g]);
      }
    }
    __syncthreads();
  }
}

// Merges the partitions of one (sequence, query head): weights l_i * 2^(m_i - M).
__global__ void paged_attention_decode_merge_kernel(PagedAttentionArgs args, const int32_t* __restrict__ seq_ids,
                                                    int partition, int max_partitions,
                                                    const float* __restrict__ part_out,
                                                    const float2* __restrict__ part_stats) {
  const int seq_index = blockIdx.x;
  const int head = blockIdx.y;
  const int seq = seq_ids[seq_index];
  const int parts = (args.context_lens[seq] + partition - 1) / partition;
  const int64_t base = (static_cast<int64_t>(seq_index) * args.num_q_heads + head) * max_partitions;
  float m = -INFINITY;
  for (int p = 0; p < parts; ++p) m = fmaxf(m, part_stats[base + p].x);
  const int64_t token = args.query_start[seq];
  for (int d = threadIdx.x; d < args.head_dim; d += blockDim.x) {
    float num = 0.f, den = 0.f;
    for (int p = 0; p < parts; ++p) {
      const float2 st = part_stats[base + p];
      const float w = st.y * exp2f(st.x - m);
      num += w * part_out[(base + p) * args.head_dim + d];
      den += w;
    }
    args.out[token * args.num_q_heads * args.head_dim + static_cast<int64_t>(head) * args.head_dim + d] =
        __float2bfloat16(num / den);
  }
}

DecodePlan plan_paged_attention_decode(int num_seqs, int num_kv_heads, int num_q_heads,
                                       int max_context_len, int num_sms) {
  const int group = num_q_heads / num_kv_heads;
  int cap = (kMaxScoreBytes / (4 * group)) / 32 * 32;
  if (cap < 32) cap = 32;
  int partition = cap < 512 ? cap : 512;
  // Shorter partitions until the grid has about two blocks per multiprocessor.
  auto blocks = [&](int p) {
    return static_cast<int64_t>(num_seqs) * num_kv_heads * ((max_context_len + p - 1) / p);
  };
  while (partition > 64 && blocks(partition) < 2 * static_cast<int64_t>(num_sms)) partition /= 2;
  partition = partition / 32 * 32;
  DecodePlan plan;
  plan.partition_tokens = partition;
  plan.max_partitions = max_context_len <= 0 ? 1 : (max_context_len + partition - 1) / partition;
  return plan;
}

size_t paged_attention_decode_workspace_bytes(const DecodePlan& plan, int num_seqs, int num_q_heads,
                                              int head_dim) {
  if (plan.max_partitions <= 1) return 0;
  const size_t slots = static_cast<size_t>(num_seqs) * num_q_heads * plan.max_partitions;
  return slots * (sizeof(float) * head_dim + sizeof(float2));
}

namespace {

template <int D>
void launch_decode(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                   const DecodePlan& plan, void* workspace, cudaStream_t stream) {
  const DecodeShared layout{args.num_q_heads / args.num_kv_heads, plan.partition_tokens, D};
  const size_t smem = layout.bytes();
  static int configured_bytes = 0; // raised once to the largest size seen
  if (static_cast<int>(smem) > configured_bytes) {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_decode_kernel<D>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)));
    configured_bytes = static_cast<int>(smem);
  }
  float* part_out = static_cast<float*>(workspace);
  const size_t slots = static_cast<size_t>(num_seqs) * args.num_q_heads * plan.max_partitions;
  float2* part_stats = reinterpret_cast<float2*>(part_out + slots * D);
  const dim3 grid(num_seqs, args.num_kv_heads, plan.max_partitions);
  paged_attention_decode_kernel<D><<<grid, kThreads, smem, stream>>>(
      args, seq_ids, plan.partition_tokens, plan.max_partitions, part_out, part_stats);
  PAGODA_CUDA_CHECK_LAUNCH("paged_attention_decode_kernel");
  if (plan.max_partitions > 1) {
    const dim3 merge_grid(num_seqs, args.num_q_heads);
    paged_attention_decode_merge_kernel<<<merge_grid, D < 128 ? D : 128, 0, stream>>>(
        args, seq_ids, plan.partition_tokens, plan.max_partitions, part_out, part_stats);
    PAGODA_CUDA_CHECK_LAUNCH("paged_attention_decode_merge_kernel");
  }
}

} // namespace

void paged_attention_decode(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                            const DecodePlan& plan, void* workspace, size_t workspace_bytes,
                            cudaStream_t stream) {
  if (args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0)
    throw Error("paged_attention_decode: num_attention_heads " + std::to_string(args.num_q_heads) +
                " must be a multiple of num_key_value_heads " + std::to_string(args.num_kv_heads));
  if (plan.partition_tokens <= 0 || plan.partition_tokens % 32 != 0 || plan.max_partitions <= 0)
    throw Error("paged_attention_decode: the plan must come from plan_paged_attention_decode");
  if (num_seqs == 0) return;
  const size_t needed = paged_attention_decode_workspace_bytes(plan, num_seqs, args.num_q_heads, args.head_dim);
  if (workspace_bytes < needed)
    throw Error("paged_attention_decode: workspace of " + std::to_string(workspace_bytes) +
                " bytes is smaller than the " + std::to_string(needed) + " this plan needs");
  switch (args.head_dim) {
  case 64: return launch_decode<64>(args, seq_ids, num_seqs, plan, workspace, stream);
  case 128: return launch_decode<128>(args, seq_ids, num_seqs, plan, workspace, stream);
  case 256: return launch_decode<256>(args, seq_ids, num_seqs, plan, workspace, stream);
  default:
    throw Error("paged_attention_decode: head_dim " + std::to_string(args.head_dim) +
                " is not supported by the CUDA backend (64, 128, 256); run this model on the CPU backend");
  }
}

} // namespace pagoda::cuda
