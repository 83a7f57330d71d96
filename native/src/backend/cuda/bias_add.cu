// Adds a per-column bias to every row (Qwen2's q/k/v projection biases on the fused output).
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

__global__ void bias_add_kernel(Bf16x8* __restrict__ x, const Bf16x8* __restrict__ bias,
                                int64_t total_vectors, int vectors_per_row) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total_vectors;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v[8], b[8];
    unpack8(x[i], v);
    unpack8(bias[i % vectors_per_row], b);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] += b[e];
    x[i] = pack8(v);
  }
}

void bias_add(bf16* x, const bf16* bias, int num_tokens, int cols, cudaStream_t stream) {
  if (cols % 8 != 0)
    throw Error("bias_add: width " + std::to_string(cols) +
                " must be a multiple of 8 for the CUDA backend");
  const int64_t total = static_cast<int64_t>(num_tokens) * (cols / 8);
  if (total == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 132 * 16);
  bias_add_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      reinterpret_cast<Bf16x8*>(x), reinterpret_cast<const Bf16x8*>(bias), total, cols / 8);
  PAGODA_CUDA_CHECK_LAUNCH("bias_add_kernel");
}

} // namespace pagoda::cuda
