// The device halves of SplitNorm (kernels.h): a decode layer's residual add + RMSNorm carried by the GEMV before it
// (producer) and the GEMV after it (consumer), for skinny_gemm and quant_gemm_lean's kernel (this file is also
// compiled into the host emulation, so it holds no barriers and no warp shuffles: the kernels place the barrier
// each step needs). Sums are added in a fixed order, so a step's results do not depend on timing.
#pragma once

#include <cmath>

#include "backend/cuda/fp8_fake_quant.cuh"
#include "backend/cuda/kernels.h"

namespace pagoda::cuda {

// Shared memory of a split norm: per input row, 32 partial sums (consumer) or the tile's 16 squares and, for W8A8,
// its 16 |scaled| beside them (producer).
using SplitNormPartials = float[kSplitNormMaxRows][33];

// Thread (row i, lane l) folds row i's tile values l, l + 32, ... of `tiles` ([m, parts]) into part[i][l] with `fold`
// (in that order, so the result does not depend on timing).
template <typename Fold>
__device__ __forceinline__ void split_norm_lanes(const float* tiles, int parts, int m, int tid, int threads,
                                                 SplitNormPartials& part, Fold fold) {
  for (int idx = tid; idx < m * 32; idx += threads) {
    const int i = idx / 32, l = idx % 32;
    const float* row = tiles + int64_t(i) * parts;
    float a = 0.f;
    for (int q = l; q < parts; q += 32) a = fold(a, row[q]);
    part[i][l] = a;
  }
}

// Consumer, after its PDL wait and its first x loads (whose round trip the sums' loads share; a thread past the loop's
// barrier-free start would otherwise pay one more in the epilogue), before the epilogue's barrier: row i's tile sums
// into part[i][0..32).
__device__ __forceinline__ void split_norm_gather(const SplitNorm& s, int m, int tid, int threads,
                                                  SplitNormPartials& part) {
  if (s.sums_in == nullptr) return;
  split_norm_lanes(s.sums_in, s.parts, m, tid, threads, part, [](float a, float v) { return a + v; });
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

// Producer epilogue, output (input row i, CTA row r) of thread tid = 16 i + r with the CTA's float32 result acc:
// rounded to bf16 as the GEMV would store it, added into the residual (as add_rms_norm adds), the scaled row written
// for the consumer; the residual's square into sq[i][r] and |scaled| into sq[i][16 + r], for the tile's sums.
__device__ __forceinline__ void split_norm_add(const SplitNorm& s, int i, int r, int col, float acc,
                                               const SplitNormOperands& o, SplitNormPartials& sq) {
  const int64_t at = int64_t(i) * s.width + col;
  const float x = o.residual + __bfloat162float(__float2bfloat16(acc));
  s.residual[at] = x;
  const bf16 scaled = __float2bfloat16(x * o.gamma);
  s.scaled[at] = scaled;
  sq[i][r] = x * x;
  sq[i][16 + r] = fabsf(__bfloat162float(scaled));
}

// ... after a barrier: thread i < m writes row i's sum (and largest |scaled|, W8A8) for this tile.
__device__ __forceinline__ void split_norm_store_sums(const SplitNorm& s, int m, int tid, int tile,
                                                      const SplitNormPartials& sq) {
  if (tid >= m) return;
  float a = 0.f, top = 0.f;
#pragma unroll
  for (int r = 0; r < 16; ++r) {
    a += sq[tid][r];
    top = fmaxf(top, sq[tid][16 + r]);
  }
  s.sums_out[int64_t(tid) * s.parts + tile] = a;
  if (s.maxes_out != nullptr) s.maxes_out[int64_t(tid) * s.parts + tile] = top;
}

// W8A8 consumer prologue, step 1 (before a barrier): thread (row i, lane l) takes the largest of row i's tile maxima
// l, l + 32, ... into top[i][l]; also loads its share of x (the scaled rows, held: x8[j] are elements 8 (tid + j *
// threads) onward of the m * width, at most kSplitNormQuantElems), so both round trips are in flight together.
constexpr int kSplitNormQuantLoads = kSplitNormQuantElems / 8 / 128; // uint4 a thread at 128 threads (half used at 256)
__device__ __forceinline__ void split_norm_quant_begin(const SplitNorm& s, const bf16* x, int m, int tid,
                                                       int threads, SplitNormPartials& top,
                                                       uint4 (&x8)[kSplitNormQuantLoads]) {
  const int chunks = m * s.width / 8;
#pragma unroll
  for (int j = 0; j < kSplitNormQuantLoads; ++j) {
    const int c = tid + j * threads;
    if (c < chunks) x8[j] = *reinterpret_cast<const uint4*>(x + int64_t(c) * 8);
  }
  split_norm_lanes(s.maxes_in, s.parts, m, tid, threads, top, [](float a, float v) { return fmaxf(a, v); });
}

// Step 2, after that barrier: the held x fake-quantized per row as the norm would have (fp8_fake_quant with the row's
// fp8_scale) into xq (shared memory, the same [m, width] layout); a barrier must follow before xq is read.
__device__ __forceinline__ void split_norm_quant_end(const SplitNorm& s, int m, int tid, int threads,
                                                     const SplitNormPartials& top,
                                                     const uint4 (&x8)[kSplitNormQuantLoads], bf16* xq) {
  const int chunks = m * s.width / 8;
  float scale[kSplitNormQuantRows];
#pragma unroll
  for (int i = 0; i < kSplitNormQuantRows; ++i) {
    float a = 0.f;
    if (i < m)
      for (int l = 0; l < 32; ++l) a = fmaxf(a, top[i][l]);
    scale[i] = fp8_scale(a);
  }
#pragma unroll
  for (int j = 0; j < kSplitNormQuantLoads; ++j) {
    const int c = tid + j * threads;
    if (c >= chunks) continue;
    float sc = scale[0];
#pragma unroll
    for (int i = 1; i < kSplitNormQuantRows; ++i)
      if (i * s.width <= c * 8) sc = scale[i];
    const bf16* in = reinterpret_cast<const bf16*>(&x8[j]);
    uint4 out;
    bf16* o = reinterpret_cast<bf16*>(&out);
#pragma unroll
    for (int e = 0; e < 8; ++e) o[e] = __float2bfloat16(fp8_fake_quant(__bfloat162float(in[e]), sc));
    *reinterpret_cast<uint4*>(xq + int64_t(c) * 8) = out;
  }
}

} // namespace pagoda::cuda
