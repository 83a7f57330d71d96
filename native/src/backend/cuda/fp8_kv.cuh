// e4m3 KV cache elements on the device: codes to f16 after a load (exact: every e4m3 value is an
// f16 value) and floats to saturating round-to-nearest-even codes for kv_cache_write.
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

namespace pagoda::cuda {

// The attention kernels' f16 mmas with an e4m3 cache take Q times this (undone in the softmax scale): exact from
// bf16 for |q| in [2^-6, 2^24), where f16 alone would overflow past 65,504.
constexpr float kFp8QueryScale = 1.f / 256.f;

// Two codes (the low byte first) as an f16 pair: one cvt, for kernels whose mmas take f16.
__device__ __forceinline__ uint32_t fp8x2_to_f16x2(uint32_t codes) {
  const __half2_raw raw = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(codes & 0xffffu), __NV_E4M3);
  return static_cast<uint32_t>(raw.x) | (static_cast<uint32_t>(raw.y) << 16);
}

// Eight codes (8 bytes) as eight f16 (16 bytes).
__device__ __forceinline__ uint4 fp8x8_to_f16x8(uint2 codes) {
  return make_uint4(fp8x2_to_f16x2(codes.x), fp8x2_to_f16x2(codes.x >> 16), fp8x2_to_f16x2(codes.y),
                    fp8x2_to_f16x2(codes.y >> 16));
}

// Two floats as codes (the first in the low byte), saturating at +-448 as the CPU backend does.
__device__ __forceinline__ uint32_t fp8x2_from_floats(float a, float b) {
  return __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
}

} // namespace pagoda::cuda
