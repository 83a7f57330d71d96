// RMSNorm over hidden rows, plain and fused with the residual add. Rounding follows the
// Hugging Face Llama module: the normalized value is rounded to bf16 before the weight
// multiplies it, and the residual sum is stored as bf16 before it is normalized.
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

__device__ __forceinline__ void normalize_row(const Bf16x8* __restrict__ src,
                                              const Bf16x8* __restrict__ weight,
                                              Bf16x8* __restrict__ dst, int vectors,
                                              float inv_rms) {
  for (int i = threadIdx.x; i < vectors; i += blockDim.x) {
    float x[8], w[8], y[8];
    unpack8(src[i], x);
    unpack8(weight[i], w);
#pragma unroll
    for (int e = 0; e < 8; ++e) y[e] = w[e] * __bfloat162float(__float2bfloat16(x[e] * inv_rms));
    dst[i] = pack8(y);
  }
}

} // namespace

__global__ void rms_norm_kernel(const Bf16x8* __restrict__ x, const Bf16x8* __restrict__ weight,
                                Bf16x8* __restrict__ out, int vectors, float eps) {
  const int64_t row = blockIdx.x;
  const Bf16x8* src = x + row * vectors;
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < vectors; i += blockDim.x) {
    float v[8];
    unpack8(src[i], v);
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += v[e] * v[e];
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq) / (vectors * 8) + eps);
  normalize_row(src, weight, out + row * vectors, vectors, inv_rms);
}

__global__ void add_rms_norm_kernel(Bf16x8* __restrict__ residual, const Bf16x8* __restrict__ x,
                                    const Bf16x8* __restrict__ weight, Bf16x8* __restrict__ out,
                                    int vectors, float eps) {
  const int64_t row = blockIdx.x;
  Bf16x8* res = residual + row * vectors;
  const Bf16x8* add = x + row * vectors;
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < vectors; i += blockDim.x) {
    float r[8], a[8];
    unpack8(res[i], r);
    unpack8(add[i], a);
#pragma unroll
    for (int e = 0; e < 8; ++e) r[e] += a[e];
    const Bf16x8 stored = pack8(r);
    res[i] = stored;
    unpack8(stored, r); // normalize what was stored, as the unfused modules do
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += r[e] * r[e];
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq) / (vectors * 8) + eps);
  // Each thread re-reads only the vectors it wrote itself, so no barrier is needed.
  normalize_row(res, weight, out + row * vectors, vectors, inv_rms);
}

namespace {

int threads_for(int vectors) {
  int threads = ((vectors + 31) / 32) * 32;
  return threads > 1024 ? 1024 : threads;
}

void check_hidden(const char* who, int hidden) {
  if (hidden % 8 != 0)
    throw Error(std::string(who) + ": hidden size " + std::to_string(hidden) +
                " must be a multiple of 8 for the CUDA backend");
}

} // namespace

void rms_norm(const bf16* x, const bf16* weight, bf16* out, int rows, int hidden, float eps,
              cudaStream_t stream) {
  check_hidden("rms_norm", hidden);
  if (rows == 0) return;
  const int vectors = hidden / 8;
  rms_norm_kernel<<<rows, threads_for(vectors), 0, stream>>>(
      reinterpret_cast<const Bf16x8*>(x), reinterpret_cast<const Bf16x8*>(weight),
      reinterpret_cast<Bf16x8*>(out), vectors, eps);
  PAGODA_CUDA_CHECK_LAUNCH("rms_norm_kernel");
}

void add_rms_norm(bf16* residual, const bf16* x, const bf16* weight, bf16* out, int rows,
                  int hidden, float eps, cudaStream_t stream) {
  check_hidden("add_rms_norm", hidden);
  if (rows == 0) return;
  const int vectors = hidden / 8;
  add_rms_norm_kernel<<<rows, threads_for(vectors), 0, stream>>>(
      reinterpret_cast<Bf16x8*>(residual), reinterpret_cast<const Bf16x8*>(x),
      reinterpret_cast<const Bf16x8*>(weight), reinterpret_cast<Bf16x8*>(out), vectors, eps);
  PAGODA_CUDA_CHECK_LAUNCH("add_rms_norm_kernel");
}

} // namespace pagoda::cuda
