// Neox RoPE's arithmetic in one place, shared by rope.cu and the decode kernel that ropes q and the
// new k itself (attention_decode.cu, PAGODA_DECODE_FUSED_ROPE): the same expressions compile to the
// same float32 operations, so both round to the same bf16 bits (fused_rope_decode_test checks it).
#pragma once

#include <cstdint>

namespace pagoda::cuda {

// cos / sin of position * inv_freq at full precision: angles reach 1e5 radians at long positions.
__device__ __forceinline__ void rope_neox_sincos(int32_t position, float inv_freq, float* s, float* c) {
  sincosf(__fmul_rn(static_cast<float>(position), inv_freq), s, c); // rounded product: no fusing into sincosf
}

// The rotation of the pair (x1, x2) = (head[i], head[i + rotary_dim / 2]): x1 into .x, x2 into .y.
// Every operation has its rounding spelled out (__fmul_rn / __fmaf_rn compile to mul.rn / fma.rn, which
// neither nvcc nor ptxas contracts or reorders): written as x1 * c - x2 * s, nvcc left mul, mul, sub
// in rope.cu's PTX for ptxas to contract as it liked, and it may fuse the other product inside the
// decode kernel's q staging (paged_attention_decode_rope), so the two rounded to different bf16 now
// and then (fused_rope_decode_test, batch 64 on the H200: 18 of 262,144 outputs a step, K never).
// One fma with the second product rounded, the form nvcc already chose for the second line.
__device__ __forceinline__ float rope_neox_first(float x1, float x2, float c, float s) {
  return __fmaf_rn(x1, c, -__fmul_rn(x2, s));
}
__device__ __forceinline__ float rope_neox_second(float x1, float x2, float c, float s) {
  return __fmaf_rn(x2, c, __fmul_rn(x1, s));
}

} // namespace pagoda::cuda
