// Per-head RMSNorm in place (Qwen3 q_norm / k_norm): one warp per (token, head), the
// head's elements held in registers between the sum and the scaling; bf16 rows are rounded
// once, float32 rows (the float32 compute path) not at all.
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

constexpr int kMaxPairsPerLane = 4; // head_dim up to 256

template <typename T>
__global__ void rms_norm_heads_kernel(T* __restrict__ x, const T* weight, int num_tokens,
                                      int num_heads, int head_dim, int64_t token_stride, float eps) {
  pdl_wait();
  pdl_launch_dependents();
  const int warps_per_block = blockDim.x / 32;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * warps_per_block + threadIdx.x / 32;
  if (item >= static_cast<int64_t>(num_tokens) * num_heads) return;
  const int lane = threadIdx.x & 31;
  const int64_t token = item / num_heads;
  const int head = static_cast<int>(item % num_heads);
  T* row = x + token * token_stride + static_cast<int64_t>(head) * head_dim;
  const int pairs = head_dim / 2;

  float2 v[kMaxPairsPerLane];
  float sum_sq = 0.f;
#pragma unroll
  for (int j = 0; j < kMaxPairsPerLane; ++j) {
    const int p = lane + 32 * j;
    v[j] = p < pairs ? load2(row, p) : make_float2(0.f, 0.f);
    sum_sq += v[j].x * v[j].x + v[j].y * v[j].y;
  }
  const float inv_rms = rsqrtf(warp_sum(sum_sq) / head_dim + eps);
#pragma unroll
  for (int j = 0; j < kMaxPairsPerLane; ++j) {
    const int p = lane + 32 * j;
    if (p >= pairs) continue;
    const float2 wf = load2(weight, p);
    store2(row, p, wf.x * (v[j].x * inv_rms), wf.y * (v[j].y * inv_rms));
  }
}

namespace {

template <typename T>
void launch_rms_norm_heads(T* x, const T* weight, int num_tokens, int num_heads, int head_dim, int64_t token_stride,
                           float eps, cudaStream_t stream) {
  if (head_dim % 2 != 0 || head_dim > 64 * kMaxPairsPerLane)
    throw Error("rms_norm_heads: head_dim " + std::to_string(head_dim) +
                " is not supported by the CUDA backend (even, at most 256)");
  const int64_t items = static_cast<int64_t>(num_tokens) * num_heads;
  if (items == 0) return;
  constexpr int kWarps = 8;
  const int64_t blocks = (items + kWarps - 1) / kWarps;
  launch_pdl("rms_norm_heads_kernel", rms_norm_heads_kernel<T>, dim3(static_cast<unsigned>(blocks)),
             dim3(kWarps * 32), 0, stream, x, weight, num_tokens, num_heads, head_dim, token_stride, eps);
}

} // namespace

void rms_norm_heads(bf16* x, const bf16* weight, int num_tokens, int num_heads, int head_dim,
                    int64_t token_stride, float eps, cudaStream_t stream) {
  launch_rms_norm_heads(x, weight, num_tokens, num_heads, head_dim, token_stride, eps, stream);
}
void rms_norm_heads(float* x, const float* weight, int num_tokens, int num_heads, int head_dim,
                    int64_t token_stride, float eps, cudaStream_t stream) {
  launch_rms_norm_heads(x, weight, num_tokens, num_heads, head_dim, token_stride, eps, stream);
}

} // namespace pagoda::cuda
