// SwiGLU activation: out = silu(gate) * up from the fused gate_up projection [T, 2*I].
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

__global__ void silu_mul_kernel(const Bf16x8* __restrict__ gate_up, Bf16x8* __restrict__ out,
                                int64_t total_vectors, int vectors_per_row) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total_vectors;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / vectors_per_row;
    const int64_t col = i % vectors_per_row;
    const Bf16x8* in_row = gate_up + row * 2 * vectors_per_row;
    float g[8], u[8], y[8];
    unpack8(in_row[col], g);
    unpack8(in_row[vectors_per_row + col], u);
#pragma unroll
    for (int e = 0; e < 8; ++e) y[e] = g[e] / (1.f + __expf(-g[e])) * u[e];
    out[i] = pack8(y);
  }
}

// One element per thread, for intermediate sizes that are not a multiple of 8 (small models).
__global__ void silu_mul_scalar_kernel(const bf16* __restrict__ gate_up, bf16* __restrict__ out,
                                       int64_t total, int intermediate) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / intermediate, col = i % intermediate;
    const float g = __bfloat162float(gate_up[row * 2 * intermediate + col]);
    const float u = __bfloat162float(gate_up[row * 2 * intermediate + intermediate + col]);
    out[i] = __float2bfloat16(g / (1.f + __expf(-g)) * u);
  }
}

void silu_mul(const bf16* gate_up, bf16* out, int num_tokens, int intermediate,
              cudaStream_t stream) {
  constexpr int kThreads = 256;
  if (intermediate % 8 != 0) {
    const int64_t total = static_cast<int64_t>(num_tokens) * intermediate;
    if (total == 0) return;
    const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 132 * 16);
    silu_mul_scalar_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(gate_up, out, total,
                                                                                   intermediate);
    PAGODA_CUDA_CHECK_LAUNCH("silu_mul_scalar_kernel");
    return;
  }
  const int64_t total = static_cast<int64_t>(num_tokens) * (intermediate / 8);
  if (total == 0) return;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 132 * 16);
  silu_mul_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      reinterpret_cast<const Bf16x8*>(gate_up), reinterpret_cast<Bf16x8*>(out), total,
      intermediate / 8);
  PAGODA_CUDA_CHECK_LAUNCH("silu_mul_kernel");
}

} // namespace pagoda::cuda
