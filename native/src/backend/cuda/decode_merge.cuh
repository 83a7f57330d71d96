// The split-K merge of decode attention's partitions, shared by the merge kernel and the one-kernel path
// (PAGODA_DECODE_ONE_KERNEL=1: the last block of a (sequence, KV head, m-tile) to finish merges). Both must
// give the same bits, so every float op here is spelled with its rounding (__fmul_rn, __fmaf_rn,
// __fadd_rn, __fdiv_rn): ptxas contracts a plain mul + add into an FFMA only where it likes, which can
// differ between two kernels inlining the same source (rope_neox.cuh learnt that). The order is the merge
// kernel's: chain c (its warp c) sums partitions c, c + 4, c + 8, ... from zero, then the four chains are
// added in order 0..3 from zero, numerator and denominator alike.
#pragma once

#include <cstdint>

#include "backend/cuda/vector_types.cuh"

namespace pagoda::cuda {

constexpr int kMergeChains = 4;  // the merge kernel's warps
constexpr int kMergeChunk = 16;  // partitions whose loads the last block issues at once (a multiple of 4)
static_assert(kMergeChunk % kMergeChains == 0, "a chunk must start at chain 0");

// A partition's weight: l_i * 2^(m_i - M) (m in log2 units).
__device__ __forceinline__ float decode_merge_weight(float2 stats, float m) {
  return __fmul_rn(stats.y, exp2f(__fsub_rn(stats.x, m)));
}

// One partition's normalized output pair into a chain, times its weight (the weight itself goes into the
// chain's denominator with __fadd_rn).
__device__ __forceinline__ void decode_merge_step(float2& acc, float w, float2 v) {
  acc.x = __fmaf_rn(w, v.x, acc.x);
  acc.y = __fmaf_rn(w, v.y, acc.y);
}

// The one-kernel path's tail, run by every block that wrote partials (after writing them): the block counts
// itself in *counter; the one that arrives last (arrivals blocks in all: the active partitions of its
// (sequence, KV head, m-tile)) resets the counter to 0 for the next launch (or graph replay) and merges its
// rows' slots: head head0 + r owns slots head_base + r * head_stride + [0, parts). Reads go through L2
// (ld.global.cg): other blocks' partials were never in this SM's L1. Not inlined: ptxas then allocates the
// decode kernel's body about as before (inlined, its registers and small spills moved in more entries; ptxas -v
// in NOTES).
template <int D, int kThreads>
__device__ __noinline__ void decode_merge_in_last_block(int* counter, int arrivals, int rows, int64_t head_base,
                                                        int64_t head_stride, int parts, const float* part_out,
                                                        const float2* part_stats, __nv_bfloat16* out_row) {
  __shared__ int s_last;
  __shared__ float s_max[16];
  // Release: each thread's partial stores reach L2 (GPU scope) before the block's arrival is counted.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const int arrived = atomicAdd(counter, 1);
    const bool last = arrived == arrivals - 1;
    if (last) atomicExch(counter, 0); // every block of this launch has arrived: nobody counts here again
    __threadfence();                  // acquire: the other blocks' partials before this block's loads
    s_last = last;
  }
  __syncthreads();
  if (!s_last) return;

  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  for (int r = warp; r < rows; r += kThreads / 32) { // M of each head: a max, so any order
    const float2* stats = part_stats + head_base + r * head_stride;
    float m = -INFINITY;
    for (int p = lane; p < parts; p += 32) m = fmaxf(m, __ldcg(stats + p).x);
    m = warp_max(m);
    if (lane == 0) s_max[r] = m;
  }
  __syncthreads();

  constexpr int kPairs = D / 2;
  for (int item = threadIdx.x; item < rows * kPairs; item += kThreads) {
    const int r = item / kPairs, pair = item % kPairs;
    const int64_t slot0 = head_base + r * head_stride;
    const float m = s_max[r];
    float2 acc[kMergeChains];
    float den[kMergeChains];
#pragma unroll
    for (int c = 0; c < kMergeChains; ++c) {
      acc[c] = make_float2(0.f, 0.f);
      den[c] = 0.f;
    }
    // kMergeChunk partitions' loads issued together (one L2 round trip a chunk, not one a partition), then
    // consumed: partition p0 + j goes to chain j % 4, so each chain still sums its partitions in order.
    for (int p0 = 0; p0 < parts; p0 += kMergeChunk) {
      float2 st[kMergeChunk], v[kMergeChunk];
#pragma unroll
      for (int j = 0; j < kMergeChunk; ++j) {
        if (p0 + j < parts) {
          st[j] = __ldcg(part_stats + slot0 + p0 + j);
          v[j] = __ldcg(reinterpret_cast<const float2*>(part_out + (slot0 + p0 + j) * D) + pair);
        }
      }
#pragma unroll
      for (int j = 0; j < kMergeChunk; ++j) {
        if (p0 + j < parts) {
          const float w = decode_merge_weight(st[j], m);
          decode_merge_step(acc[j % kMergeChains], w, v[j]);
          den[j % kMergeChains] = __fadd_rn(den[j % kMergeChains], w);
        }
      }
    }
    float2 num = make_float2(0.f, 0.f);
    float total = 0.f;
#pragma unroll
    for (int c = 0; c < kMergeChains; ++c) {
      num.x = __fadd_rn(num.x, acc[c].x);
      num.y = __fadd_rn(num.y, acc[c].y);
      total = __fadd_rn(total, den[c]);
    }
    __nv_bfloat16* dst = out_row + static_cast<int64_t>(r) * D + 2 * pair;
    dst[0] = __float2bfloat16(__fdiv_rn(num.x, total));
    dst[1] = __float2bfloat16(__fdiv_rn(num.y, total));
  }
}

} // namespace pagoda::cuda
