// GEMM for few rows (decode): y[m, n] = x[m, k] · w[n, k]^T with m <= 8. Reading the weight
// once at full bandwidth is the whole cost, so each warp streams two weight rows with 16-byte
// loads (two groups in flight per lane), dots them with the m input rows (small,
// L1-resident), and reduces across the warp. Launched with PDL: the first weight loads depend
// on nothing, so they are issued before waiting for the kernel that writes x.
// f32 accumulation; output bf16 or f32, optionally added to y.
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 2;
constexpr int kUnroll = 4;

__device__ __forceinline__ void store_out(bf16* y, float v, float beta) {
  if (beta != 0.f) v += beta * __bfloat162float(*y);
  *y = __float2bfloat16(v);
}
__device__ __forceinline__ void store_out(float* y, float v, float beta) {
  if (beta != 0.f) v += beta * *y;
  *y = v;
}

__device__ __forceinline__ float dot8(const Bf16x8& a, const Bf16x8& b) {
  float fa[8], fb[8];
  unpack8(a, fa);
  unpack8(b, fb);
  float s = 0.f;
#pragma unroll
  for (int e = 0; e < 8; ++e) s += fa[e] * fb[e];
  return s;
}

} // namespace

template <int M, typename Out>
__global__ void __launch_bounds__(kWarps * 32)
    skinny_gemm_kernel(const bf16* __restrict__ x, const bf16* __restrict__ w, Out* __restrict__ y, int n, int k,
                       float beta) {
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int row0 = (blockIdx.x * kWarps + warp) * kRowsPerWarp;
  const int chunks = k / 8;
  const Bf16x8* xv = reinterpret_cast<const Bf16x8*>(x);
  const Bf16x8* wv[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)
    wv[r] = reinterpret_cast<const Bf16x8*>(w + static_cast<int64_t>(min(row0 + r, n - 1)) * k);
  // Chunks [0, full) go in groups of 32 * kUnroll (one 16-byte load per lane per row and
  // unroll step); the rest one chunk per lane at a time.
  const int full = row0 < n ? chunks / (32 * kUnroll) * (32 * kUnroll) : 0;
  auto load_group = [&](Bf16x8 (&dst)[kRowsPerWarp][kUnroll], int c) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int4 raw = __ldcs(reinterpret_cast<const int4*>(wv[r] + c + 32 * u)); // streamed, read once
        dst[r][u] = *reinterpret_cast<const Bf16x8*>(&raw);
      }
  };
  Bf16x8 cur[kRowsPerWarp][kUnroll];
  if (full > 0) load_group(cur, lane); // before the wait: the weights depend on no kernel
  pdl_wait();
  if (row0 >= n) return;

  float acc[kRowsPerWarp][M];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
    for (int i = 0; i < M; ++i) acc[r][i] = 0.f;

  for (int c = lane; c < full; c += 32 * kUnroll) {
    Bf16x8 next[kRowsPerWarp][kUnroll];
    const bool more = c + 32 * kUnroll < full;
    if (more) load_group(next, c + 32 * kUnroll); // in flight while this group is used
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int i = 0; i < M; ++i) {
        const Bf16x8 xi = xv[static_cast<int64_t>(i) * chunks + c + 32 * u];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) acc[r][i] += dot8(cur[r][u], xi);
      }
    if (more) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) cur[r][u] = next[r][u];
    }
  }
  for (int c = full + lane; c < chunks; c += 32) {
#pragma unroll
    for (int i = 0; i < M; ++i) {
      const Bf16x8 xi = xv[static_cast<int64_t>(i) * chunks + c];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) acc[r][i] += dot8(wv[r][c], xi);
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
    for (int i = 0; i < M; ++i) acc[r][i] = warp_sum(acc[r][i]);
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      if (row0 + r >= n) break;
#pragma unroll
      for (int i = 0; i < M; ++i) store_out(y + static_cast<int64_t>(i) * n + row0 + r, acc[r][i], beta);
    }
  }
}

namespace {

template <int M, typename Out>
void launch(const bf16* x, const bf16* w, Out* y, int n, int k, float beta, cudaStream_t stream) {
  const int rows_per_block = kWarps * kRowsPerWarp;
  launch_pdl("skinny_gemm_kernel", skinny_gemm_kernel<M, Out>, dim3((n + rows_per_block - 1) / rows_per_block),
             dim3(kWarps * 32), 0, stream, x, w, y, n, k, beta);
}

template <typename Out>
void dispatch(const bf16* x, const bf16* w, Out* y, int m, int n, int k, float beta, cudaStream_t stream) {
  switch (m) {
  case 1: return launch<1>(x, w, y, n, k, beta, stream);
  case 2: return launch<2>(x, w, y, n, k, beta, stream);
  case 3: return launch<3>(x, w, y, n, k, beta, stream);
  case 4: return launch<4>(x, w, y, n, k, beta, stream);
  case 5: return launch<5>(x, w, y, n, k, beta, stream);
  case 6: return launch<6>(x, w, y, n, k, beta, stream);
  case 7: return launch<7>(x, w, y, n, k, beta, stream);
  case 8: return launch<8>(x, w, y, n, k, beta, stream);
  }
}

} // namespace

bool skinny_gemm_supports(int m, int k, const void* x, const void* w) {
  return m >= 1 && m <= kSkinnyGemmMaxRows && k % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

void skinny_gemm(const bf16* x, const bf16* w, void* y, bool out_f32, int m, int n, int k, float beta,
                 cudaStream_t stream) {
  if (!skinny_gemm_supports(m, k, x, w))
    throw Error("skinny_gemm: needs 1 <= m <= 8, k a multiple of 8 and 16-byte aligned x and w (m " +
                std::to_string(m) + ", k " + std::to_string(k) + ")");
  if (n == 0) return;
  if (out_f32) dispatch(x, w, static_cast<float*>(y), m, n, k, beta, stream);
  else dispatch(x, w, static_cast<bf16*>(y), m, n, k, beta, stream);
}

} // namespace pagoda::cuda
