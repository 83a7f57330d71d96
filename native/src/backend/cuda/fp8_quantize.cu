// fp8 e4m3 quantization on the GPU: dynamic per-token (or per-token-group) activation scales
// for W8A8 GEMMs, and per-channel weight scales for `--quantization fp8` at load. One block
// per (row, group): the group's max |x| by a block reduction, then x / s rounded to nearest
// even with saturation (torch's float -> float8_e4m3fn cast after the clamp). The fake-
// quantizing form writes code * s back in the input's type, for the GEMMs that take bf16 or
// float32 activations (quant_gemm at decode sizes, the dequantized-weight GEMMs).
#include "backend/cuda/quant_kernels.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/fp8_fuse.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kThreads = 128;
constexpr float kE4m3Max = 448.f;

__device__ __forceinline__ uint8_t to_e4m3(float v) {
  v = fminf(fmaxf(v, -kE4m3Max), kE4m3Max);
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
}

// weights: scale = max / 448 (1 when the row is all zeros); activations: max(max, 1e-12) / 448.
template <bool kWeight>
__global__ void __launch_bounds__(kThreads) quantize_fp8_kernel(const bf16* x, uint8_t* __restrict__ q,
                                                                float* __restrict__ scales, int m, int k, int group,
                                                                bool token_major) {
  pdl_launch_dependents();
  pdl_wait();
  const int row = blockIdx.x, gi = blockIdx.y;
  const bf16* src = x + static_cast<int64_t>(row) * k + static_cast<int64_t>(gi) * group;
  uint8_t* dst = q + static_cast<int64_t>(row) * k + static_cast<int64_t>(gi) * group;
  float amax = 0.f;
  for (int i = threadIdx.x; i < group; i += kThreads) amax = fmaxf(amax, fabsf(__bfloat162float(src[i])));
  amax = block_max(amax);
  const float s = kWeight ? (amax > 0.f ? amax / kE4m3Max : 1.f) : fmaxf(amax, 1e-12f) / kE4m3Max;
  for (int i = threadIdx.x; i < group; i += kThreads) dst[i] = to_e4m3(__bfloat162float(src[i]) / s);
  if (threadIdx.x == 0) {
    const int groups = k / group;
    scales[token_major ? static_cast<int64_t>(row) * groups + gi : static_cast<int64_t>(gi) * m + row] = s;
  }
}

// The same quantization with 8 columns a thread (a 16-byte load, an 8-byte store of codes) and the group held in
// registers for up to kHeld passes of the block, so every load of a row is in flight at once and none is repeated.
// The kernel above walks a row in scalar loads of 128 threads, twice: at batch 64 each of a W8A8 decode step's four
// launches a layer took ~12 us on the H200 (14336-column rows), 13% of the step. Needs group % 8 == 0 and 16-byte
// aligned rows; the same arithmetic per element, so the same codes and scales.
constexpr int kHeld = 2;

__device__ __forceinline__ void store_codes8(uint8_t* dst, const float (&v)[8], float s) {
  uint32_t lo = 0, hi = 0;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    lo |= static_cast<uint32_t>(to_e4m3(v[e] / s)) << (8 * e);
    hi |= static_cast<uint32_t>(to_e4m3(v[4 + e] / s)) << (8 * e);
  }
  *reinterpret_cast<uint2*>(dst) = make_uint2(lo, hi);
}

template <bool kWeight>
__global__ void __launch_bounds__(1024) quantize_fp8_vec_kernel(const bf16* x, uint8_t* __restrict__ q,
                                                                 float* __restrict__ scales, int m, int k, int group,
                                                                 bool token_major) {
  pdl_launch_dependents();
  pdl_wait();
  const int row = blockIdx.x, gi = blockIdx.y;
  const int64_t first = static_cast<int64_t>(row) * k + static_cast<int64_t>(gi) * group;
  const bf16* src = x + first;
  uint8_t* dst = q + first;
  const int stride = static_cast<int>(blockDim.x) * 8;
  const bool held = group <= kHeld * stride;
  float v[kHeld][8];
  float amax = 0.f;
  if (held) {
#pragma unroll
    for (int h = 0; h < kHeld; ++h) {
      const int i = static_cast<int>(threadIdx.x) * 8 + h * stride;
      if (i < group) {
        load8(src + i, v[h]);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[h][e] = 0.f;
      }
#pragma unroll
      for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(v[h][e]));
    }
  } else {
    for (int i = static_cast<int>(threadIdx.x) * 8; i < group; i += stride) {
      float t[8];
      load8(src + i, t);
#pragma unroll
      for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(t[e]));
    }
  }
  amax = block_max(amax);
  const float s = kWeight ? (amax > 0.f ? amax / kE4m3Max : 1.f) : fmaxf(amax, 1e-12f) / kE4m3Max;
  if (held) {
#pragma unroll
    for (int h = 0; h < kHeld; ++h) {
      const int i = static_cast<int>(threadIdx.x) * 8 + h * stride;
      if (i < group) store_codes8(dst + i, v[h], s);
    }
  } else {
    for (int i = static_cast<int>(threadIdx.x) * 8; i < group; i += stride) {
      float t[8];
      load8(src + i, t);
      store_codes8(dst + i, t, s);
    }
  }
  if (threadIdx.x == 0) {
    const int groups = k / group;
    scales[token_major ? static_cast<int64_t>(row) * groups + gi : static_cast<int64_t>(gi) * m + row] = s;
  }
}

// Launches the vector kernel where the shape and alignment allow it, else the scalar one.
template <bool kWeight>
void launch_quantize(const char* who, const bf16* x, uint8_t* q, float* scales, int m, int k, int group,
                     bool token_major, cudaStream_t stream) {
  const bool vector = group % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(q) % 8 == 0;
  if (!vector) {
    launch_pdl(who, quantize_fp8_kernel<kWeight>, dim3(m, k / group), dim3(kThreads), 0, stream, x, q, scales, m, k,
               group, token_major);
    return;
  }
  const int vectors = group / 8;
  const int threads = std::min(1024, std::max(32, (vectors + 31) / 32 * 32));
  launch_pdl(who, quantize_fp8_vec_kernel<kWeight>, dim3(m, k / group), dim3(threads), 0, stream, x, q, scales, m, k,
             group, token_major);
}

// out = e4m3(x / s) * s per (row, group), in x's type (bf16: rounded once, from the exact product).
// kBlock threads a (row, group): 512 for whole rows (a decode step's one row is one block, so its
// latency is what counts), 128 for groups of 128 columns.
template <typename T, int kBlock>
__global__ void __launch_bounds__(kBlock) fake_quantize_fp8_kernel(const T* x, T* __restrict__ out,
                                                                   int k, int group) {
  pdl_launch_dependents();
  pdl_wait();
  const int row = blockIdx.x, gi = blockIdx.y;
  const int64_t first = static_cast<int64_t>(row) * k + static_cast<int64_t>(gi) * group;
  const T* src = x + first;
  T* dst = out + first;
  float amax = 0.f;
  for (int i = threadIdx.x; i < group; i += kBlock) amax = fmaxf(amax, fabsf(static_cast<float>(src[i])));
  amax = block_max(amax);
  const float s = fmaxf(amax, 1e-12f) / kE4m3Max;
  for (int i = threadIdx.x; i < group; i += kBlock) {
    const float code = __half2float(__half(__nv_cvt_fp8_to_halfraw(to_e4m3(static_cast<float>(src[i]) / s), __NV_E4M3)));
    dst[i] = static_cast<T>(code * s);
  }
}

// The same for bf16 rows of at most two passes of 8 columns a thread (store_row_fp8's register-held form): each
// thread's loads are 16 bytes and all in flight at once, and nothing is read twice (the scalar loop above pays a
// dependent L2 round trip a pass, then re-reads the row). The same s and codes, so the same bits.
__global__ void __launch_bounds__(512) fake_quantize_fp8_row_kernel(const bf16* x, bf16* __restrict__ out, int k,
                                                                     int group) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t first = static_cast<int64_t>(blockIdx.x) * k + static_cast<int64_t>(blockIdx.y) * group;
  const bf16* src = x + first;
  store_row_fp8<Fp8Fuse::kPerToken>(out + first, group, [&](int i, float (&y)[8]) { load8(src + i, y); });
}

template <typename T> void launch_fake_quantize(const T* x, T* out, int m, int k, int group, cudaStream_t stream) {
  if (m < 1 || k < 1 || group < 1 || k % group != 0)
    throw Error("fake_quantize_fp8_rows: group " + std::to_string(group) + " must divide k " + std::to_string(k));
  if (k / group > 65535) throw Error("fake_quantize_fp8_rows: too many groups per row");
  if constexpr (std::is_same_v<T, bf16>) {
    if (group >= 2048 && group <= 2 * 512 * 8 && group % 8 == 0 && k % 8 == 0 &&
        reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0) {
      launch_pdl("fake_quantize_fp8_row_kernel", fake_quantize_fp8_row_kernel, dim3(m, k / group), dim3(512), 0, stream,
                 x, out, k, group);
      return;
    }
  }
  if (group >= 2048)
    launch_pdl("fake_quantize_fp8_kernel", fake_quantize_fp8_kernel<T, 512>, dim3(m, k / group), dim3(512), 0, stream,
               x, out, k, group);
  else
    launch_pdl("fake_quantize_fp8_kernel", fake_quantize_fp8_kernel<T, kThreads>, dim3(m, k / group), dim3(kThreads), 0,
               stream, x, out, k, group);
}

} // namespace

void fake_quantize_fp8_rows(const bf16* x, bf16* out, int m, int k, int group, cudaStream_t stream) {
  launch_fake_quantize(x, out, m, k, group, stream);
}
void fake_quantize_fp8_rows(const float* x, float* out, int m, int k, int group, cudaStream_t stream) {
  launch_fake_quantize(x, out, m, k, group, stream);
}

void quantize_fp8_rows(const bf16* x, uint8_t* q, float* scales, int m, int k, int group, bool token_major,
                       cudaStream_t stream) {
  if (m < 1 || k < 1 || group < 1 || k % group != 0)
    throw Error("quantize_fp8_rows: group " + std::to_string(group) + " must divide k " + std::to_string(k));
  if (k / group > 65535) throw Error("quantize_fp8_rows: too many groups per row");
  launch_quantize<false>("quantize_fp8_kernel", x, q, scales, m, k, group, token_major, stream);
}

void quantize_fp8_weight_per_channel(const bf16* w, uint8_t* q, float* scales, int n, int k, cudaStream_t stream) {
  if (n < 1 || k < 1) throw Error("quantize_fp8_weight_per_channel: empty weight");
  launch_quantize<true>("quantize_fp8_kernel", w, q, scales, n, k, k, true, stream);
}

} // namespace pagoda::cuda
