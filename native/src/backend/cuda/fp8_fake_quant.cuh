// Dynamic fp8 activation quantization of one value: bf16(e4m3(y / s) * s) arithmetic of the kernels that
// fake-quantize a W8A8 linear's input (fp8_fuse.cuh's norms and SiLU·mul). Host-compilable.
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

// The per-token (or per-group) scale of a row whose largest |value| is amax.
__host__ __device__ __forceinline__ float fp8_scale(float amax) { return fmaxf(amax, 1e-12f) / 448.f; }

} // namespace pagoda::cuda
