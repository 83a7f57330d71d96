// Greedy sampling: index of the largest logit per row (lowest index among equal values).
#include "backend/cuda/kernels.h"

#include <cfloat>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/value_index.cuh"

namespace pagoda::cuda {

__global__ void argmax_rows_kernel(const float* __restrict__ logits, int32_t* __restrict__ out,
                                   int vocab) {
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  ValueIndex best{-FLT_MAX, 0x7fffffff};
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    // NaN never wins: it fails every comparison.
    best = better(best, ValueIndex{row[i], i});
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    ValueIndex other{__shfl_xor_sync(0xffffffffu, best.value, offset),
                     __shfl_xor_sync(0xffffffffu, best.index, offset)};
    best = better(best, other);
  }
  __shared__ ValueIndex per_warp[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) per_warp[warp] = best;
  __syncthreads();
  if (warp == 0) {
    best = lane < static_cast<int>(blockDim.x >> 5) ? per_warp[lane] : ValueIndex{-FLT_MAX, 0x7fffffff};
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      ValueIndex other{__shfl_xor_sync(0xffffffffu, best.value, offset),
                       __shfl_xor_sync(0xffffffffu, best.index, offset)};
      best = better(best, other);
    }
    if (lane == 0) out[blockIdx.x] = best.index == 0x7fffffff ? 0 : best.index;
  }
}

void argmax_rows(const float* logits, int32_t* out, int rows, int vocab, cudaStream_t stream) {
  if (rows == 0) return;
  argmax_rows_kernel<<<rows, 1024, 0, stream>>>(logits, out, vocab);
  PAGODA_CUDA_CHECK_LAUNCH("argmax_rows_kernel");
}

} // namespace pagoda::cuda
