// RMSNorm over hidden rows, plain and fused with the residual add. The residual stream may be
// bf16 (rounded like the Hugging Face modules) or float32 (the backend's choice: no rounding
// error accumulates across layers). The output is rounded to bf16 once, after the weight
// (the Hugging Face module also rounds before it; one rounding is closer to float32).
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

// Eight consecutive elements of a row, as float.
__device__ __forceinline__ void load8(const bf16* p, float out[8]) { unpack8(*reinterpret_cast<const Bf16x8*>(p), out); }
__device__ __forceinline__ void load8(const float* p, float out[8]) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
  out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}
// Stores eight values and returns what was stored (rounded for bf16).
__device__ __forceinline__ void store8(bf16* p, float v[8]) {
  const Bf16x8 packed = pack8(v);
  *reinterpret_cast<Bf16x8*>(p) = packed;
  unpack8(packed, v);
}
__device__ __forceinline__ void store8(float* p, float v[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

template <typename In>
__device__ __forceinline__ void normalize_row(const In* __restrict__ src, const bf16* __restrict__ weight,
                                              bf16* __restrict__ dst, int hidden, float inv_rms) {
  for (int i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    float x[8], w[8], y[8];
    load8(src + i, x);
    load8(weight + i, w);
#pragma unroll
    for (int e = 0; e < 8; ++e) y[e] = w[e] * (x[e] * inv_rms);
    *reinterpret_cast<Bf16x8*>(dst + i) = pack8(y);
  }
}

} // namespace

template <typename In>
__global__ void rms_norm_kernel(const In* __restrict__ x, const bf16* __restrict__ weight, bf16* __restrict__ out,
                                int hidden, float eps) {
  const int64_t row = blockIdx.x;
  const In* src = x + row * hidden;
  float sum_sq = 0.f;
  for (int i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    float v[8];
    load8(src + i, v);
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += v[e] * v[e];
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq) / hidden + eps);
  normalize_row(src, weight, out + row * hidden, hidden, inv_rms);
}

template <typename R>
__global__ void add_rms_norm_kernel(R* __restrict__ residual, const bf16* __restrict__ x,
                                    const bf16* __restrict__ weight, bf16* __restrict__ out, int hidden,
                                    float eps) {
  const int64_t row = blockIdx.x;
  R* res = residual + row * hidden;
  const bf16* add = x + row * hidden;
  float sum_sq = 0.f;
  for (int i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    float r[8], a[8];
    load8(res + i, r);
    load8(add + i, a);
#pragma unroll
    for (int e = 0; e < 8; ++e) r[e] += a[e];
    store8(res + i, r); // r now holds what was stored: normalize that, as the unfused modules do
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += r[e] * r[e];
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq) / hidden + eps);
  // Each thread re-reads only the elements it wrote itself, so no barrier is needed.
  normalize_row(res, weight, out + row * hidden, hidden, inv_rms);
}

namespace {

int threads_for(int hidden) {
  const int vectors = hidden / 8;
  int threads = ((vectors + 31) / 32) * 32;
  return threads > 1024 ? 1024 : threads;
}

void check_hidden(const char* who, int hidden) {
  if (hidden % 8 != 0)
    throw Error(std::string(who) + ": hidden size " + std::to_string(hidden) +
                " must be a multiple of 8 for the CUDA backend");
}

template <typename In>
void launch_rms_norm(const In* x, const bf16* weight, bf16* out, int rows, int hidden, float eps, cudaStream_t stream) {
  check_hidden("rms_norm", hidden);
  if (rows == 0) return;
  rms_norm_kernel<In><<<rows, threads_for(hidden), 0, stream>>>(x, weight, out, hidden, eps);
  PAGODA_CUDA_CHECK_LAUNCH("rms_norm_kernel");
}

template <typename R>
void launch_add_rms_norm(R* residual, const bf16* x, const bf16* weight, bf16* out, int rows, int hidden, float eps,
                         cudaStream_t stream) {
  check_hidden("add_rms_norm", hidden);
  if (rows == 0) return;
  add_rms_norm_kernel<R><<<rows, threads_for(hidden), 0, stream>>>(residual, x, weight, out, hidden, eps);
  PAGODA_CUDA_CHECK_LAUNCH("add_rms_norm_kernel");
}

} // namespace

void rms_norm(const bf16* x, const bf16* weight, bf16* out, int rows, int hidden, float eps, cudaStream_t stream) {
  launch_rms_norm(x, weight, out, rows, hidden, eps, stream);
}
void rms_norm(const float* x, const bf16* weight, bf16* out, int rows, int hidden, float eps, cudaStream_t stream) {
  launch_rms_norm(x, weight, out, rows, hidden, eps, stream);
}
void add_rms_norm(bf16* residual, const bf16* x, const bf16* weight, bf16* out, int rows, int hidden, float eps,
                  cudaStream_t stream) {
  launch_add_rms_norm(residual, x, weight, out, rows, hidden, eps, stream);
}
void add_rms_norm(float* residual, const bf16* x, const bf16* weight, bf16* out, int rows, int hidden, float eps,
                  cudaStream_t stream) {
  launch_add_rms_norm(residual, x, weight, out, rows, hidden, eps, stream);
}

} // namespace pagoda::cuda
