// Neox RoPE's arithmetic in one place, shared by rope.cu and the decode kernel that ropes q and the
// new k itself (attention_decode.cu, PAGODA_DECODE_FUSED_ROPE): the same expressions compile to the
// same float32 operations, so both round to the same bf16 bits (fused_rope_decode_test checks it).
#pragma once

#include <cstdint>

namespace pagoda::cuda {

// cos / sin of position * inv_freq at full precision: angles reach 1e5 radians at long positions.
__device__ __forceinline__ void rope_neox_sincos(int32_t position, float inv_freq, float* s, float* c) {
  sincosf(static_cast<float>(position) * inv_freq, s, c);
}

// The rotation of the pair (x1, x2) = (head[i], head[i + rotary_dim / 2]): x1 into .x, x2 into .y.
__device__ __forceinline__ float rope_neox_first(float x1, float x2, float c, float s) { return x1 * c - x2 * s; }
__device__ __forceinline__ float rope_neox_second(float x1, float x2, float c, float s) { return x2 * c + x1 * s; }

} // namespace pagoda::cuda
