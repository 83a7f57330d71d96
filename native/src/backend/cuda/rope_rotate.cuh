// The neox rotation of one frequency: its angle and the rotated pair. rope_neox and
// rope_kv_cache_write both take it from here, so the fused path rounds exactly as the plain one.
#pragma once

#include <cstdint>

namespace pagoda::cuda {

// Full-precision sincos: angles reach 1e5 radians at long positions.
__device__ __forceinline__ void rope_angle(int32_t position, float inv_freq, float& s, float& c) {
  sincosf(static_cast<float>(position) * inv_freq, &s, &c);
}

// (x1, x2) rotated by the angle whose cosine and sine are c and s.
__device__ __forceinline__ float2 rope_rotate(float x1, float x2, float c, float s) {
  return make_float2(x1 * c - x2 * s, x2 * c + x1 * s);
}

} // namespace pagoda::cuda
