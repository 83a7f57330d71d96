// Adds a per-column bias to every row (Qwen2's q/k/v projection biases on the fused output),
// in bf16 or float32 (the float32 compute path).
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

// Eight elements per thread and step; nothing after the bias.
template <typename T>
__global__ void bias_add_kernel(T* __restrict__ x, const T* bias, int64_t total_vectors,
                                int vectors_per_row) {
  biased_rows_in_place(x, bias, total_vectors, vectors_per_row, [](float*) {});
}

namespace {

template <typename T>
void launch_bias_add(T* x, const T* bias, int num_tokens, int cols, cudaStream_t stream) {
  if (cols % 8 != 0)
    throw Error("bias_add: width " + std::to_string(cols) +
                " must be a multiple of 8 for the CUDA backend");
  const int64_t total = static_cast<int64_t>(num_tokens) * (cols / 8);
  if (total == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 132 * 16);
  launch_pdl("bias_add_kernel", bias_add_kernel<T>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, stream,
             x, bias, total, cols / 8);
}

} // namespace

void bias_add(bf16* x, const bf16* bias, int num_tokens, int cols, cudaStream_t stream) {
  launch_bias_add(x, bias, num_tokens, cols, stream);
}
void bias_add(float* x, const float* bias, int num_tokens, int cols, cudaStream_t stream) {
  launch_bias_add(x, bias, num_tokens, cols, stream);
}

} // namespace pagoda::cuda
