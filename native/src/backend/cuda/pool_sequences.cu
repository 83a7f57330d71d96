// Pooling of an embedding model on the device: one block per sequence of the packed batch
// reduces its hidden rows to one float32 vector (CLS, mean, max, sum/√len, last token) and
// L2-normalizes it when the checkpoint lists a Normalize module, so only [seqs, hidden] floats
// travel back to the host.
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
    pool_sequences_kernel(const bf16* hidden, const int32_t* seq_start, int hidden_size,
                          int kind, bool normalize, float* __restrict__ out) {
  pdl_wait();
  pdl_launch_dependents();
  const int seq = blockIdx.x;
  const int first = seq_start[seq], len = seq_start[seq + 1] - first;
  float* dst = out + static_cast<int64_t>(seq) * hidden_size;
  float sq = 0.f;
  for (int c = threadIdx.x; c < hidden_size; c += kThreads) {
    const bf16* col = hidden + static_cast<int64_t>(first) * hidden_size + c;
    float v;
    if (kind == static_cast<int>(PoolKind::kCls)) {
      v = __bfloat162float(col[0]);
    } else if (kind == static_cast<int>(PoolKind::kLastToken)) {
      v = __bfloat162float(col[static_cast<int64_t>(len - 1) * hidden_size]);
    } else if (kind == static_cast<int>(PoolKind::kMax)) {
      v = -INFINITY;
      for (int t = 0; t < len; ++t) v = fmaxf(v, __bfloat162float(col[static_cast<int64_t>(t) * hidden_size]));
    } else {
      float s = 0.f;
      for (int t = 0; t < len; ++t) s += __bfloat162float(col[static_cast<int64_t>(t) * hidden_size]);
      v = kind == static_cast<int>(PoolKind::kMean) ? s / len : s * rsqrtf(static_cast<float>(len));
    }
    dst[c] = v;
    sq += v * v;
  }
  if (!normalize) return;
  __shared__ float partial[kThreads / 32];
  sq = warp_sum(sq);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = sq;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  const float inv = 1.f / fmaxf(sqrtf(total), 1e-12f);
  for (int c = threadIdx.x; c < hidden_size; c += kThreads) dst[c] *= inv; // the thread's own columns
}

void pool_sequences(const bf16* hidden, const int32_t* seq_start, int num_seqs, int hidden_size, PoolKind kind,
                    bool normalize, float* out, cudaStream_t stream) {
  if (hidden_size <= 0) throw Error("pool_sequences: hidden size must be positive");
  if (static_cast<int>(kind) < 0 || static_cast<int>(kind) > static_cast<int>(PoolKind::kLastToken))
    throw Error("pool_sequences: unknown pooling kind " + std::to_string(static_cast<int>(kind)));
  if (num_seqs <= 0) return;
  launch_pdl("pool_sequences_kernel", pool_sequences_kernel, dim3(num_seqs), dim3(kThreads), 0, stream, hidden,
             seq_start, hidden_size, static_cast<int>(kind), normalize, out);
}

} // namespace pagoda::cuda
