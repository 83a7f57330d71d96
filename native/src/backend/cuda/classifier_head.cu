// A cross-encoder's head after its dense GEMM (BERT: pooler.dense then classifier; XLM-R:
// classifier.dense then out_proj): tanh(dense + bias) dotted with each label's output row, in
// f32, one block per sequence. The dense GEMM's input is the first token's hidden row.
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/encoder_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {
constexpr int kThreads = 256;
}

__global__ void __launch_bounds__(kThreads)
    classifier_head_kernel(const float* dense, const bf16* dense_bias,
                           const bf16* out_weight, const bf16* out_bias,
                           float* __restrict__ logits, int hidden, int labels) {
  extern __shared__ float pooled[]; // [hidden]
  __shared__ float partial[kThreads / 32];
  pdl_wait();
  pdl_launch_dependents();
  const int seq = blockIdx.x;
  for (int i = threadIdx.x; i < hidden; i += kThreads)
    pooled[i] = tanhf(dense[static_cast<int64_t>(seq) * hidden + i] + __bfloat162float(dense_bias[i]));
  __syncthreads();
  for (int l = 0; l < labels; ++l) {
    const bf16* w = out_weight + static_cast<int64_t>(l) * hidden;
    float s = 0.f;
    for (int i = threadIdx.x; i < hidden; i += kThreads) s += pooled[i] * __bfloat162float(w[i]);
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
      float total = __bfloat162float(out_bias[l]);
      for (int k = 0; k < kThreads / 32; ++k) total += partial[k];
      logits[static_cast<int64_t>(seq) * labels + l] = total;
    }
    __syncthreads(); // partial is reused by the next label
  }
}

void classifier_head(const float* dense, const bf16* dense_bias, const bf16* out_weight, const bf16* out_bias,
                     float* logits, int seqs, int hidden, int labels, cudaStream_t stream) {
  if (hidden <= 0 || labels <= 0)
    throw Error("classifier_head: hidden (" + std::to_string(hidden) + ") and labels (" + std::to_string(labels) +
                ") must be positive");
  if (hidden > 12288) throw Error("classifier_head: hidden size " + std::to_string(hidden) + " is over 12288");
  if (seqs <= 0) return;
  const size_t smem = sizeof(float) * hidden;
  if (smem > 48 * 1024) {
    static const bool configured = [] {
      PAGODA_CUDA_CHECK(cudaFuncSetAttribute(classifier_head_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             12288 * static_cast<int>(sizeof(float))));
      return true;
    }();
    (void)configured;
  }
  launch_pdl("classifier_head_kernel", classifier_head_kernel, dim3(seqs), dim3(kThreads), smem, stream, dense,
             dense_bias, out_weight, out_bias, logits, hidden, labels);
}

} // namespace pagoda::cuda
