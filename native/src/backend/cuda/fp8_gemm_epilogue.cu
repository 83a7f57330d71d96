// The scales of a W8A8 GEMM applied after it: cuBLASLt's fp8 path here takes per-tensor
// scales only, so the GEMM runs with unit scales (bf16 out) and this multiplies each element
// by its token's and its output channel's scale, in place.
#include "backend/cuda/quant_kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

__global__ void scale_fp8_gemm_output_kernel(bf16* __restrict__ y, const float* x_scales,
                                             const float* w_scales, int m, int n) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t pairs = static_cast<int64_t>(m) * n / 2;
  __nv_bfloat162* y2 = reinterpret_cast<__nv_bfloat162*>(y);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < pairs; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = 2 * i;
    const int row = static_cast<int>(e / n), col = static_cast<int>(e % n);
    const float2 v = __bfloat1622float2(y2[i]);
    const float sx = x_scales[row];
    y2[i] = __floats2bfloat162_rn(v.x * sx * w_scales[col], v.y * sx * w_scales[col + 1]);
  }
}

void scale_fp8_gemm_output(bf16* y, const float* x_scales, const float* w_scales, int m, int n, cudaStream_t stream) {
  if (n % 2 != 0) throw Error("scale_fp8_gemm_output: n must be even");
  if (m == 0) return;
  const int64_t pairs = static_cast<int64_t>(m) * n / 2;
  const int blocks = static_cast<int>(std::min<int64_t>((pairs + 255) / 256, 132 * 16));
  launch_pdl("scale_fp8_gemm_output_kernel", scale_fp8_gemm_output_kernel, dim3(blocks), dim3(256), 0, stream, y,
             x_scales, w_scales, m, n);
}

} // namespace pagoda::cuda
