// RMSNorm over hidden rows, plain and fused with the residual add. The residual stream may be
// bf16 (rounded like the Hugging Face modules) or float32 (the backend's choice: no rounding
// error accumulates across layers). Weight and output share one type: bf16 (the output rounded
// once, after the weight; the Hugging Face module also rounds before it, one rounding is
// closer to float32) or float32 (the float32 compute path). For W8A8 checkpoints the bf16 output can
// leave fake-quantized from the float32 value (fp8_fuse.cuh).
#include "backend/cuda/kernels.h"

#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/fp8_fuse.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

// y = weight * x / rms over the 8 columns at i. w_first: this thread's first 8 weights, loaded
// before the PDL wait (the weight is constant for the life of the model, so its load overlaps the
// previous kernel instead of following the row's reduction).
template <typename In, typename T>
__device__ __forceinline__ void normalized8(const In* src, const T* weight, int i,
                                            float inv_rms, const float (&w_first)[8], float (&y)[8]) {
  float x[8], w[8];
  load8(src + i, x);
  if (i == threadIdx.x * 8) {
#pragma unroll
    for (int e = 0; e < 8; ++e) w[e] = w_first[e];
  } else {
    load8(weight + i, w);
  }
#pragma unroll
  for (int e = 0; e < 8; ++e) y[e] = w[e] * (x[e] * inv_rms);
}

template <typename In, typename T>
__device__ __forceinline__ void normalize_row(const In* src, const T* weight,
                                              T* __restrict__ dst, int hidden, float inv_rms,
                                              const float (&w_first)[8]) {
  for (int i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    float y[8];
    normalized8(src, weight, i, inv_rms, w_first, y);
    store8(dst + i, y);
  }
}

template <typename T> __device__ __forceinline__ void load_first_weights(const T* weight, int hidden, float (&w)[8]) {
  if (threadIdx.x * 8 < hidden) load8(weight + threadIdx.x * 8, w);
}

// normalize_row with the output fake-quantized for W8A8 linears (fp8_fuse.cuh): y = w * (x * inv_rms)
// in float32, computed again for the pass that stores (the row is re-read by the thread that
// owns those columns: no barrier beyond the amax reduction's).
template <Fp8Fuse kFuse, typename In>
__device__ __forceinline__ void normalize_row_fp8(const In* src, const bf16* weight,
                                                  bf16* __restrict__ dst, int hidden, float inv_rms,
                                                  const float (&w_first)[8]) {
  store_row_fp8<kFuse>(dst, hidden, [&](int i, float (&y)[8]) { normalized8(src, weight, i, inv_rms, w_first, y); });
}

// 1 / rms of one row, over this block's threads.
template <typename In>
__device__ __forceinline__ float row_inv_rms(const In* src, int hidden, float eps) {
  float sum_sq = 0.f;
  for (int i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    float v[8];
    load8(src + i, v);
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += v[e] * v[e];
  }
  return rsqrtf(block_sum(sum_sq) / hidden + eps);
}

// res += add for one row, then 1 / rms of what was stored (as the unfused modules normalize it).
// Each thread later re-reads only the elements it wrote itself, so no barrier is needed.
template <typename R, typename T>
__device__ __forceinline__ float add_residual_inv_rms(R* __restrict__ res, const T* add, int hidden, float eps) {
  float sum_sq = 0.f;
  for (int i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    float r[8], a[8];
    load8(res + i, r);
    load8(add + i, a);
#pragma unroll
    for (int e = 0; e < 8; ++e) r[e] += a[e];
    store8(res + i, r);
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += r[e] * r[e];
  }
  return rsqrtf(block_sum(sum_sq) / hidden + eps);
}

// Held rows (row_is_held, fp8_fuse.cuh): the values stay in registers from their load (or store) to the output.
// Re-reading them after the block's reduction was a dependent L2 round trip on every norm's critical path (the
// LDG.128 pair after MUFU.RSQ in the SASS). The same arithmetic in the same order as the functions above: the same
// bits. Passes past the row hold zeros.
using HeldRow = float[kHeldPasses][8];

__device__ __forceinline__ int held_column(int h) { return threadIdx.x * 8 + h * blockDim.x * 8; }

template <typename In>
__device__ __forceinline__ float held_inv_rms(const In* src, int hidden, float eps, HeldRow& x) {
#pragma unroll
  for (int h = 0; h < kHeldPasses; ++h) {
    if (held_column(h) < hidden) {
      load8(src + held_column(h), x[h]);
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) x[h][e] = 0.f;
    }
  }
  float sum_sq = 0.f;
#pragma unroll
  for (int h = 0; h < kHeldPasses; ++h)
    if (held_column(h) < hidden)
#pragma unroll
      for (int e = 0; e < 8; ++e) sum_sq += x[h][e] * x[h][e];
  return rsqrtf(block_sum(sum_sq) / hidden + eps);
}

template <typename R, typename T>
__device__ __forceinline__ float held_add_residual_inv_rms(R* __restrict__ res, const T* add, int hidden, float eps,
                                                           HeldRow& x) {
  HeldRow a;
#pragma unroll
  for (int h = 0; h < kHeldPasses; ++h) { // every pass's loads before the first store
    if (held_column(h) < hidden) {
      load8(res + held_column(h), x[h]);
      load8(add + held_column(h), a[h]);
    }
  }
  float sum_sq = 0.f;
#pragma unroll
  for (int h = 0; h < kHeldPasses; ++h) {
    const int i = held_column(h);
    if (i < hidden) {
#pragma unroll
      for (int e = 0; e < 8; ++e) x[h][e] += a[h][e];
      store8(res + i, x[h]); // x[h] is now what was stored
#pragma unroll
      for (int e = 0; e < 8; ++e) sum_sq += x[h][e] * x[h][e];
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) x[h][e] = 0.f;
    }
  }
  return rsqrtf(block_sum(sum_sq) / hidden + eps);
}

// y = weight * (x * inv_rms) as normalized8 computes it; the first pass's weights from w_first. Passes past the row
// are zeros (the fp8 amax reads them; w_first is not loaded there).
template <typename T>
__device__ __forceinline__ void normalize_held(const HeldRow& x, const T* weight, int hidden, float inv_rms,
                                               const float (&w_first)[8], HeldRow& y) {
#pragma unroll
  for (int h = 0; h < kHeldPasses; ++h) {
    float w[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    const bool in_row = held_column(h) < hidden;
    if (in_row && h == 0) {
#pragma unroll
      for (int e = 0; e < 8; ++e) w[e] = w_first[e];
    } else if (in_row) {
      load8(weight + held_column(h), w);
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) y[h][e] = in_row ? w[e] * (x[h][e] * inv_rms) : 0.f;
  }
}

template <typename T> __device__ __forceinline__ void store_held_row(T* __restrict__ dst, int hidden, HeldRow& y) {
#pragma unroll
  for (int h = 0; h < kHeldPasses; ++h)
    if (held_column(h) < hidden) store8(dst + held_column(h), y[h]);
}

} // namespace

// A row's block has up to 1,024 threads (threads_for): the bound keeps every norm kernel within the 64 registers a
// thread that allows. Without it the held bf16 add_rms_norm took 70 and could not launch from hidden 8,192 up
// (cudaErrorLaunchOutOfResources, elementwise_kernels_test at hidden 12,288 on the H200, session 20).
constexpr int kMaxNormThreads = 1024;

template <typename In, typename T>
__global__ void __launch_bounds__(kMaxNormThreads)
    rms_norm_kernel(const In* x, const T* weight, T* __restrict__ out, int hidden, float eps) {
  float w_first[8];
  load_first_weights(weight, hidden, w_first);
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  const In* src = x + row * hidden;
  if (row_is_held(hidden)) {
    HeldRow v, y;
    const float inv_rms = held_inv_rms(src, hidden, eps, v);
    normalize_held(v, weight, hidden, inv_rms, w_first, y);
    store_held_row(out + row * hidden, hidden, y);
    return;
  }
  normalize_row(src, weight, out + row * hidden, hidden, row_inv_rms(src, hidden, eps), w_first);
}

template <typename R, typename T>
__global__ void __launch_bounds__(kMaxNormThreads)
    add_rms_norm_kernel(R* __restrict__ residual, const T* x, const T* weight, T* __restrict__ out, int hidden,
                        float eps) {
  float w_first[8];
  load_first_weights(weight, hidden, w_first);
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  R* res = residual + row * hidden;
  if (row_is_held(hidden)) {
    HeldRow v, y;
    const float inv_rms = held_add_residual_inv_rms(res, x + row * hidden, hidden, eps, v);
    normalize_held(v, weight, hidden, inv_rms, w_first, y);
    store_held_row(out + row * hidden, hidden, y);
    return;
  }
  const float inv_rms = add_residual_inv_rms(res, x + row * hidden, hidden, eps);
  normalize_row(res, weight, out + row * hidden, hidden, inv_rms, w_first);
}

template <Fp8Fuse kFuse>
__global__ void __launch_bounds__(kMaxNormThreads)
    rms_norm_fp8_kernel(const float* x, const bf16* weight, bf16* __restrict__ out, int hidden, float eps) {
  float w_first[8];
  load_first_weights(weight, hidden, w_first);
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  const float* src = x + row * hidden;
  if (row_is_held(hidden)) {
    HeldRow v, y;
    const float inv_rms = held_inv_rms(src, hidden, eps, v);
    normalize_held(v, weight, hidden, inv_rms, w_first, y);
    store_held_row_fp8<kFuse>(out + row * hidden, hidden, y);
    return;
  }
  normalize_row_fp8<kFuse>(src, weight, out + row * hidden, hidden, row_inv_rms(src, hidden, eps), w_first);
}

template <Fp8Fuse kFuse>
__global__ void __launch_bounds__(kMaxNormThreads)
    add_rms_norm_fp8_kernel(float* __restrict__ residual, const bf16* x, const bf16* weight, bf16* __restrict__ out,
                            int hidden, float eps) {
  float w_first[8];
  load_first_weights(weight, hidden, w_first);
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  float* res = residual + row * hidden;
  if (row_is_held(hidden)) {
    HeldRow v, y;
    const float inv_rms = held_add_residual_inv_rms(res, x + row * hidden, hidden, eps, v);
    normalize_held(v, weight, hidden, inv_rms, w_first, y);
    store_held_row_fp8<kFuse>(out + row * hidden, hidden, y);
    return;
  }
  const float inv_rms = add_residual_inv_rms(res, x + row * hidden, hidden, eps);
  normalize_row_fp8<kFuse>(res, weight, out + row * hidden, hidden, inv_rms, w_first);
}

namespace {

int threads_for(int hidden) {
  const int vectors = hidden / 8;
  int threads = ((vectors + 31) / 32) * 32;
  return threads > kMaxNormThreads ? kMaxNormThreads : threads;
}

void check_hidden(const char* who, int hidden) {
  if (hidden % 8 != 0)
    throw Error(std::string(who) + ": hidden size " + std::to_string(hidden) +
                " must be a multiple of 8 for the CUDA backend");
}

template <typename In, typename T>
void launch_rms_norm(const In* x, const T* weight, T* out, int rows, int hidden, float eps, cudaStream_t stream) {
  check_hidden("rms_norm", hidden);
  if (rows == 0) return;
  launch_pdl("rms_norm_kernel", rms_norm_kernel<In, T>, dim3(rows), dim3(threads_for(hidden)), 0, stream, x, weight,
             out, hidden, eps);
}

template <typename R, typename T>
void launch_add_rms_norm(R* residual, const T* x, const T* weight, T* out, int rows, int hidden, float eps,
                         cudaStream_t stream) {
  check_hidden("add_rms_norm", hidden);
  if (rows == 0) return;
  launch_pdl("add_rms_norm_kernel", add_rms_norm_kernel<R, T>, dim3(rows), dim3(threads_for(hidden)), 0, stream,
             residual, x, weight, out, hidden, eps);
}

void check_fuse(const char* who, int hidden, Fp8Fuse fuse) {
  if (fuse == Fp8Fuse::kGroup128 && hidden % 128 != 0)
    throw Error(std::string(who) + ": fp8 groups of 128 need a hidden size that is a multiple of 128, not " +
                std::to_string(hidden));
}

} // namespace

void rms_norm(const float* x, const bf16* weight, bf16* out, int rows, int hidden, float eps, cudaStream_t stream,
              Fp8Fuse fuse) {
  if (fuse == Fp8Fuse::kNone) return launch_rms_norm(x, weight, out, rows, hidden, eps, stream);
  check_hidden("rms_norm", hidden);
  check_fuse("rms_norm", hidden, fuse);
  if (rows == 0) return;
  const auto kernel = fuse == Fp8Fuse::kPerToken ? rms_norm_fp8_kernel<Fp8Fuse::kPerToken>
                                                 : rms_norm_fp8_kernel<Fp8Fuse::kGroup128>;
  launch_pdl("rms_norm_fp8_kernel", kernel, dim3(rows), dim3(threads_for(hidden)), 0, stream, x, weight, out, hidden,
             eps);
}

void add_rms_norm(float* residual, const bf16* x, const bf16* weight, bf16* out, int rows, int hidden, float eps,
                  cudaStream_t stream, Fp8Fuse fuse) {
  if (fuse == Fp8Fuse::kNone) return launch_add_rms_norm(residual, x, weight, out, rows, hidden, eps, stream);
  check_hidden("add_rms_norm", hidden);
  check_fuse("add_rms_norm", hidden, fuse);
  if (rows == 0) return;
  const auto kernel = fuse == Fp8Fuse::kPerToken ? add_rms_norm_fp8_kernel<Fp8Fuse::kPerToken>
                                                 : add_rms_norm_fp8_kernel<Fp8Fuse::kGroup128>;
  launch_pdl("add_rms_norm_fp8_kernel", kernel, dim3(rows), dim3(threads_for(hidden)), 0, stream, residual, x, weight,
             out, hidden, eps);
}

void rms_norm(const bf16* x, const bf16* weight, bf16* out, int rows, int hidden, float eps, cudaStream_t stream) {
  launch_rms_norm(x, weight, out, rows, hidden, eps, stream);
}
void rms_norm(const float* x, const bf16* weight, bf16* out, int rows, int hidden, float eps, cudaStream_t stream) {
  launch_rms_norm(x, weight, out, rows, hidden, eps, stream);
}
void rms_norm(const float* x, const float* weight, float* out, int rows, int hidden, float eps, cudaStream_t stream) {
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
void add_rms_norm(float* residual, const float* x, const float* weight, float* out, int rows, int hidden, float eps,
                  cudaStream_t stream) {
  launch_add_rms_norm(residual, x, weight, out, rows, hidden, eps, stream);
}

void check_split_norm(const char* kernel, const SplitNorm& norm, int m, int width, bool producer) {
  const bool consumer_set = norm.sums_in != nullptr;
  const bool producer_set = norm.residual != nullptr || norm.gamma != nullptr || norm.scaled != nullptr ||
                            norm.sums_out != nullptr;
  if (!consumer_set && !producer_set) return;
  const std::string name(kernel);
  if (consumer_set && producer_set) throw Error(name + ": a split norm is either side of a GEMV, not both");
  if (producer != producer_set)
    throw Error(name + (producer ? ": a producer's split norm needs residual, gamma, scaled and sums_out"
                                 : ": this kernel only consumes a split norm (sums_in)"));
  if (producer && (norm.residual == nullptr || norm.gamma == nullptr || norm.scaled == nullptr ||
                   norm.sums_out == nullptr))
    throw Error(name + ": a producer's split norm needs residual, gamma, scaled and sums_out");
  if (m < 1 || m > kSplitNormMaxRows)
    throw Error(name + ": a split norm serves 1.." + std::to_string(kSplitNormMaxRows) + " rows (m " +
                std::to_string(m) + ")");
  if (norm.width != width || width % 16 != 0 || norm.parts != width / 16 || !(norm.eps >= 0.f))
    throw Error(name + ": split norm of width " + std::to_string(norm.width) + " and " + std::to_string(norm.parts) +
                " parts on a GEMV of width " + std::to_string(width) + " (a multiple of 16, parts width / 16)");
}

} // namespace pagoda::cuda
