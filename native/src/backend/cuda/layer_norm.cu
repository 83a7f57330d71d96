// LayerNorm with bias (BERT / XLM-R, post-LN): the embedding sum normalized (word + position +
// token type, gathered in the same kernel) and the residual step LN(hidden + delta + bias).
// One warp per row, the row held in registers so mean and variance are two exact passes in
// f32 (eps as small as BERT's 1e-12 must not vanish against a one-pass E[x²] - E[x]²).
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/encoder_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxVectorsPerLane = 8; // 8 x 8 x 32 lanes: hidden up to 2048

// Normalizes the lane's vectors v (vector j = lane + 32 i holds columns 8j .. 8j + 7) and
// stores weight · x̂ + bias into out.
template <int VPL>
__device__ __forceinline__ void normalize_store(float (&v)[VPL][8], int vectors, int hidden, int lane,
                                                const bf16* weight, const bf16* bias,
                                                bf16* __restrict__ out, float eps) {
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < VPL; ++i)
    if (lane + 32 * i < vectors)
#pragma unroll
      for (int e = 0; e < 8; ++e) sum += v[i][e];
  const float mean = warp_sum(sum) / hidden;
  float sq = 0.f;
#pragma unroll
  for (int i = 0; i < VPL; ++i)
    if (lane + 32 * i < vectors)
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const float d = v[i][e] - mean;
        sq += d * d;
      }
  const float inv = rsqrtf(warp_sum(sq) / hidden + eps);
#pragma unroll
  for (int i = 0; i < VPL; ++i) {
    const int j = lane + 32 * i;
    if (j >= vectors) continue;
    float w[8], b[8];
    load8(weight + j * 8, w);
    load8(bias + j * 8, b);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[i][e] = (v[i][e] - mean) * inv * w[e] + b[e];
    store8(out + j * 8, v[i]);
  }
}

template <int VPL>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    embed_layer_norm_kernel(const int32_t* ids, const int32_t* positions,
                            const int32_t* types, const bf16* word,
                            const bf16* position, const bf16* token_type,
                            const bf16* weight, const bf16* bias, bf16* __restrict__ out,
                            int rows, int hidden, float eps) {
  pdl_wait();
  pdl_launch_dependents();
  const int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const int vectors = hidden / 8;
  const bf16* w_row = word + static_cast<int64_t>(ids[row]) * hidden;
  const bf16* p_row = position + static_cast<int64_t>(positions[row]) * hidden;
  const bf16* t_row = token_type + static_cast<int64_t>(types[row]) * hidden;
  float v[VPL][8];
#pragma unroll
  for (int i = 0; i < VPL; ++i) {
    const int j = lane + 32 * i;
    if (j >= vectors) continue;
    float p[8], t[8];
    load8(w_row + j * 8, v[i]);
    load8(p_row + j * 8, p);
    load8(t_row + j * 8, t);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[i][e] += p[e] + t[e];
  }
  normalize_store<VPL>(v, vectors, hidden, lane, weight, bias, out + static_cast<int64_t>(row) * hidden, eps);
}

template <int VPL>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    add_layer_norm_kernel(bf16* __restrict__ hidden_rows, const bf16* delta,
                          const bf16* delta_bias, const bf16* weight,
                          const bf16* bias, int rows, int hidden, float eps) {
  pdl_wait();
  pdl_launch_dependents();
  const int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const int vectors = hidden / 8;
  bf16* h_row = hidden_rows + static_cast<int64_t>(row) * hidden;
  const bf16* d_row = delta + static_cast<int64_t>(row) * hidden;
  float v[VPL][8];
#pragma unroll
  for (int i = 0; i < VPL; ++i) {
    const int j = lane + 32 * i;
    if (j >= vectors) continue;
    float d[8];
    load8(h_row + j * 8, v[i]);
    load8(d_row + j * 8, d);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[i][e] += d[e];
    if (delta_bias != nullptr) {
      load8(delta_bias + j * 8, d);
#pragma unroll
      for (int e = 0; e < 8; ++e) v[i][e] += d[e];
    }
  }
  normalize_store<VPL>(v, vectors, hidden, lane, weight, bias, h_row, eps);
}

void check_width(const char* what, int hidden) {
  if (hidden <= 0 || hidden % 8 != 0 || hidden > kMaxVectorsPerLane * 8 * 32)
    throw Error(std::string(what) + ": hidden size " + std::to_string(hidden) +
                " must be a multiple of 8 and at most 2048 for the CUDA backend");
}

// The smallest vectors-per-lane instantiation that holds a row of `hidden`.
template <class Launch> void dispatch_width(int hidden, Launch&& launch) {
  const int vpl = (hidden / 8 + 31) / 32;
  if (vpl <= 1) return launch(std::integral_constant<int, 1>{});
  if (vpl <= 2) return launch(std::integral_constant<int, 2>{});
  if (vpl <= 4) return launch(std::integral_constant<int, 4>{});
  return launch(std::integral_constant<int, 8>{});
}

} // namespace

void embed_layer_norm(const int32_t* ids, const int32_t* positions, const int32_t* types, const bf16* word,
                      const bf16* position, const bf16* token_type, const bf16* weight, const bf16* bias, bf16* out,
                      int rows, int hidden, float eps, cudaStream_t stream) {
  check_width("embed_layer_norm", hidden);
  if (rows <= 0) return;
  const dim3 grid((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  dispatch_width(hidden, [&](auto vpl) {
    launch_pdl("embed_layer_norm_kernel", embed_layer_norm_kernel<decltype(vpl)::value>, grid,
               dim3(kWarpsPerBlock * 32), 0, stream, ids, positions, types, word, position, token_type, weight, bias,
               out, rows, hidden, eps);
  });
}

void add_layer_norm(bf16* hidden, const bf16* delta, const bf16* delta_bias, const bf16* weight, const bf16* bias,
                    int rows, int hidden_size, float eps, cudaStream_t stream) {
  check_width("add_layer_norm", hidden_size);
  if (rows <= 0) return;
  const dim3 grid((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  dispatch_width(hidden_size, [&](auto vpl) {
    launch_pdl("add_layer_norm_kernel", add_layer_norm_kernel<decltype(vpl)::value>, grid, dim3(kWarpsPerBlock * 32),
               0, stream, hidden, delta, delta_bias, weight, bias, rows, hidden_size, eps);
  });
}

} // namespace pagoda::cuda
