// The device halves of SplitNorm (kernels.h): a decode layer's residual add + RMSNorm carried by the GEMV before it
// (producer) and the GEMV after it (consumer), for skinny_gemm and quant_gemm_lean's kernel (this file is also
// compiled into the host emulation, so it holds no barriers and no warp shuffles: the kernels place the barrier
// each step needs). Sums are added in a fixed order, so a step's results do not depend on timing.
#pragma once

#include <cmath>

#include "backend/cuda/kernels.h"

namespace pagoda::cuda {

// Shared memory of a split norm: per input row, 32 partial sums (consumer) or the tile's 16 squares (producer).
using SplitNormPartials = float[kSplitNormMaxRows][33];

// Consumer, after its PDL wait and its first x loads (whose round trip the sums' loads share; a thread past the loop's
// barrier-free start would otherwise pay one more in the epilogue), before the epilogue's barrier: thread (row i,
// lane l) adds row i's tile sums l, l + 32, ... into part[i][l].
__device__ __forceinline__ void split_norm_gather(const SplitNorm& s, int m, int tid, int threads,
                                                  SplitNormPartials& part) {
  if (s.sums_in == nullptr) return;
  for (int idx = tid; idx < m * 32; idx += threads) {
    const int i = idx / 32, l = idx % 32;
    const float* row = s.sums_in + int64_t(i) * s.parts;
    float a = 0.f;
    for (int q = l; q < s.parts; q += 32) a += row[q];
    part[i][l] = a;
  }
}

// ... after it: row i's 1 / rms, the factor of each of its outputs (1 without a split norm).
__device__ __forceinline__ float split_norm_scale(const SplitNorm& s, const SplitNormPartials& part, int i) {
  if (s.sums_in == nullptr) return 1.f;
  float a = 0.f;
#pragma unroll
  for (int l = 0; l < 32; ++l) a += part[i][l];
  const float v = a / static_cast<float>(s.width) + s.eps;
#if defined(__CUDA_ARCH__)
  return rsqrtf(v);
#else
  return 1.f / std::sqrt(v);
#endif
}

// What a producer's epilogue thread adds to: the residual and gamma of its output (input row tid / 16, column
// row0 + tid % 16; the epilogue's one pass gives thread tid that output), loaded right after the PDL wait so the
// epilogue does not wait a round trip for them.
struct SplitNormOperands {
  float residual = 0.f, gamma = 0.f;
};
__device__ __forceinline__ SplitNormOperands split_norm_preload(const SplitNorm& s, int m, int tid, int row0) {
  SplitNormOperands o;
  if (s.residual == nullptr || tid >= m * 16) return o;
  o.residual = s.residual[int64_t(tid / 16) * s.width + row0 + tid % 16];
  o.gamma = __bfloat162float(s.gamma[row0 + tid % 16]);
  return o;
}

// Producer epilogue, output (input row i, column col) of thread tid = 16 i + col % 16 with the CTA's float32 result
// acc: rounded to bf16 as the GEMV would store it, added into the residual (as add_rms_norm adds), the scaled row
// written for the consumer; returns the residual's square for the tile's sum.
__device__ __forceinline__ float split_norm_add(const SplitNorm& s, int i, int col, float acc,
                                                const SplitNormOperands& o) {
  const int64_t at = int64_t(i) * s.width + col;
  const float x = o.residual + __bfloat162float(__float2bfloat16(acc));
  s.residual[at] = x;
  s.scaled[at] = __float2bfloat16(x * o.gamma);
  return x * x;
}

// ... after a barrier over the squares in sq[i][0..16): thread i < m writes row i's sum for this tile.
__device__ __forceinline__ void split_norm_store_sums(const SplitNorm& s, int m, int tid, int tile,
                                                      const SplitNormPartials& sq) {
  if (tid >= m) return;
  float a = 0.f;
#pragma unroll
  for (int r = 0; r < 16; ++r) a += sq[tid][r];
  s.sums_out[int64_t(tid) * s.parts + tile] = a;
}

} // namespace pagoda::cuda
