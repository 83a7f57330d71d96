// Dynamic fp8 activation quantization inside the kernel that makes a W8A8 linear's input (RMSNorm,
// SiLU·mul): the row's float32 values y become bf16(e4m3(y / s) * s), s = max(|y|, 1e-12) / 448
// per token or per token and 128 columns, so the codes are those of the float32 value (what the
// reference quantizes), not of its bf16 rounding. Helpers shared by rms_norm.cu and silu_mul.cu.
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "backend/cuda/kernels.h"
#include "backend/cuda/elem8.cuh"

namespace pagoda::cuda {

// Max over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_max(float x) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  x = warp_max(x);
  __syncthreads(); // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  const int num_warps = blockDim.x >> 5;
  return warp_max(lane < num_warps ? partial[lane] : 0.f);
}

// e4m3(clamp(y / s)) * s in float32 (round to nearest even, saturating: torch's cast after the clamp).
__device__ __forceinline__ float fp8_fake_quant(float y, float s) {
  const float q = fminf(fmaxf(y / s, -448.f), 448.f);
  const __nv_fp8_storage_t code = __nv_cvt_float_to_fp8(q, __NV_SATFINITE, __NV_E4M3);
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3))) * s;
}

__device__ __forceinline__ float fp8_scale(float amax) { return fmaxf(amax, 1e-12f) / 448.f; }

// Rows of up to kHeldPasses passes (blockDim.x * 8 columns a pass) are held in registers: every load of the row is in
// flight at once and none is repeated.
constexpr int kHeldPasses = 2;
__device__ __forceinline__ bool row_is_held(int width) { return width <= kHeldPasses * static_cast<int>(blockDim.x) * 8; }

// Eight values fake-quantized with scale s, then stored.
__device__ __forceinline__ void store8_fake_quant(bf16* dst, float (&y)[8], float s) {
#pragma unroll
  for (int e = 0; e < 8; ++e) y[e] = fp8_fake_quant(y[e], s);
  store8(dst, y);
}

// One pass of kGroup128 (16 consecutive lanes hold a group of 128 columns): every lane calls it, since the shuffles
// need the whole warp; a lane past the row holds zeros, and its whole 16-lane group is past it too (width % 128 ==
// 0), so it stores nothing.
__device__ __forceinline__ void store_group128_pass(bf16* dst, bool active, float (&y)[8]) {
  float amax = 0.f;
#pragma unroll
  for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(y[e]));
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  if (active) store8_fake_quant(dst, y, fp8_scale(amax));
}

// A held row's float32 values (y[h] at columns threadIdx.x * 8 + h * blockDim.x * 8; passes past the row hold
// zeros) stored to dst fake-quantized as `fuse` says; every thread of the block must call it (block reduction or
// shuffles). For kGroup128, width % 128 == 0 and blockDim.x a multiple of 16.
template <Fp8Fuse kFuse>
__device__ __forceinline__ void store_held_row_fp8(bf16* __restrict__ dst, int width, float (&y)[kHeldPasses][8]) {
  const int stride = blockDim.x * 8;
  if constexpr (kFuse == Fp8Fuse::kPerToken) {
    float amax = 0.f;
#pragma unroll
    for (int h = 0; h < kHeldPasses; ++h)
#pragma unroll
      for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(y[h][e]));
    const float s = fp8_scale(block_max(amax));
#pragma unroll
    for (int h = 0; h < kHeldPasses; ++h) {
      const int i = threadIdx.x * 8 + h * stride;
      if (i < width) store8_fake_quant(dst + i, y[h], s);
    }
  } else {
#pragma unroll
    for (int h = 0; h < kHeldPasses; ++h) {
      if (h * stride >= width) break; // block-uniform
      const int i = threadIdx.x * 8 + h * stride;
      store_group128_pass(dst + i, i < width, y[h]);
    }
  }
}

// One row of `width` computed by `value(i, y)` (y[0..8) = the row's float32 values at columns
// i..i+7), stored to dst fake-quantized as `fuse` says. Threads take 8 columns each, the block
// striding over the row (blockDim.x * 8 columns a pass); every thread of the block must call it
// (the per-token amax is a block reduction). For kGroup128, width % 128 == 0 and blockDim.x a
// multiple of 16: 16 consecutive lanes hold one group of 128 columns in each pass.
template <Fp8Fuse kFuse, typename Value>
__device__ __forceinline__ void store_row_fp8(bf16* __restrict__ dst, int width, Value&& value) {
  const int stride = blockDim.x * 8;
  if constexpr (kFuse == Fp8Fuse::kPerToken) {
    // Held rows (recomputing cost a batch-1 SiLU·mul of 14336 columns four dependent L2 round trips, ~8 us).
    if (row_is_held(width)) {
      float y[kHeldPasses][8];
#pragma unroll
      for (int h = 0; h < kHeldPasses; ++h) {
        const int i = threadIdx.x * 8 + h * stride;
        if (i < width) {
          value(i, y[h]);
        } else {
#pragma unroll
          for (int e = 0; e < 8; ++e) y[h][e] = 0.f;
        }
      }
      store_held_row_fp8<kFuse>(dst, width, y);
      return;
    }
    float amax = 0.f;
    for (int i = threadIdx.x * 8; i < width; i += stride) {
      float y[8];
      value(i, y);
#pragma unroll
      for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(y[e]));
    }
    const float s = fp8_scale(block_max(amax));
    for (int i = threadIdx.x * 8; i < width; i += stride) {
      float y[8];
      value(i, y);
      store8_fake_quant(dst + i, y, s);
    }
  } else {
    for (int base = 0; base < width; base += stride) {
      const int i = base + threadIdx.x * 8;
      const bool active = i < width;
      float y[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      if (active) value(i, y);
      store_group128_pass(dst + i, active, y);
    }
  }
}

} // namespace pagoda::cuda
