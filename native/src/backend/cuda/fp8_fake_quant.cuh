// The per-token fp8 activation quantization's arithmetic, for every kernel that applies it (fp8_fuse.cuh's norm and
// SiLU·mul forms, silu_mul_fp8_finish, quant_gemm_lean's x prologue): y -> e4m3(clamp(y / s)) * s in float32 with
// s = max(amax, 1e-12) / 448, the bits fake_quantize_fp8_rows gives. Host-callable too (the lean kernel's emulation).
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

namespace pagoda::cuda {

// e4m3(clamp(y / s)) * s in float32 (round to nearest even, saturating: torch's cast after the clamp).
__host__ __device__ __forceinline__ float fp8_fake_quant(float y, float s) {
  const float q = fminf(fmaxf(y / s, -448.f), 448.f);
  const __nv_fp8_storage_t code = __nv_cvt_float_to_fp8(q, __NV_SATFINITE, __NV_E4M3);
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3))) * s;
}

__host__ __device__ __forceinline__ float fp8_scale(float amax) { return fmaxf(amax, 1e-12f) / 448.f; }

} // namespace pagoda::cuda
