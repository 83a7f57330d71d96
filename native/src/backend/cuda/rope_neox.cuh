// Neox RoPE's arithmetic for rope.cu, every rounding spelled out. It was shared with a decode kernel that
// roped q and the new k itself (PAGODA_DECODE_FUSED_ROPE, removed in session 12: no faster on the H200); the
// roundings stay, so rope.cu's bits do not depend on how ptxas contracts the rotation (ctest
// cuda_rope_rounding_ptx_check).
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
// in rope.cu's PTX for ptxas to contract as it liked, and a second copy of the rotation (the fused decode
// kernel's q staging) once rounded to different bf16 now and then (batch 64 on the H200: 18 of 262,144
// outputs a step).
// One fma with the second product rounded, the form nvcc already chose for the second line.
__device__ __forceinline__ float rope_neox_first(float x1, float x2, float c, float s) {
  return __fmaf_rn(x1, c, -__fmul_rn(x2, s));
}
__device__ __forceinline__ float rope_neox_second(float x1, float x2, float c, float s) {
  return __fmaf_rn(x2, c, __fmul_rn(x1, s));
}

} // namespace pagoda::cuda
