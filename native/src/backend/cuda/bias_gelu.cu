// The encoder MLP's activation with its bias: x = gelu(x + bias) in place, the erf form
// (BERT's "gelu", not the tanh approximation), eight bf16 elements per thread and step.
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/encoder_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

__global__ void bias_gelu_kernel(bf16* __restrict__ x, const bf16* bias, int64_t total_vectors,
                                 int vectors_per_row) {
  biased_rows_in_place(x, bias, total_vectors, vectors_per_row, [](float* v) {
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = 0.5f * v[e] * (1.f + erff(v[e] * 0.70710678118654752f));
  });
}

void bias_gelu(bf16* x, const bf16* bias, int rows, int cols, cudaStream_t stream) {
  if (cols <= 0 || cols % 8 != 0)
    throw Error("bias_gelu: width " + std::to_string(cols) + " must be a positive multiple of 8 for the CUDA backend");
  const int64_t total = static_cast<int64_t>(rows) * (cols / 8);
  if (total <= 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 132 * 16);
  launch_pdl("bias_gelu_kernel", bias_gelu_kernel, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, stream, x,
             bias, total, cols / 8);
}

} // namespace pagoda::cuda
