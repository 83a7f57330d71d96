// Weight-streaming GEMM for quantized weights (int4 GPTQ / AWQ, fp8 e4m3): y = x · W^T with
// W dequantized in registers. Decode reads every weight once per step, so the cost is the
// weight's bytes; this kernel keeps them in flight and does the arithmetic on tensor cores
// (mma.sync m16n8k16 bf16 -> f32, weight rows as M, input rows as N), like skinny_gemm.
//
// Per lane and k-step the operands come straight from 16-byte loads: the int4 layout was
// repacked at load so a lane's word holds its fragment (quantized_weight.h); fp8 stays
// row-major and a lane takes 16 bytes of rows g and g+8 at k 16t of a 64-wide chunk, using
// k = 16t + 4s + {0..3} as its positions of k-step s, the same order as the x fragment it
// loads, so the dot product is unchanged. Codes become bf16 exactly: int4 as 128 + q minus
// 128 + z (integers), e4m3 by moving its bits into a bf16 and multiplying by 2^120. The scale
// of a (group, row) multiplies the group's f32 partial sum, so no rounding is added beyond x's.
//
// A CTA owns 16 weight rows; 8 warps take interleaved groups of k; partial sums meet in shared
// memory. m > 32 runs the k loop once per 32 input rows (the repeat reads come from L2).
#include "backend/cuda/quant_kernels.h"

#include <cuda_fp16.h>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quant_gemm_lean.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

__device__ __forceinline__ float load_scale(const __half* s, int64_t i) { return __half2float(s[i]); }
__device__ __forceinline__ float load_scale(const float* s, int64_t i) { return s[i]; }

__device__ __forceinline__ void store_out(bf16* y, float v, float beta) {
  if (beta != 0.f) v += beta * __bfloat162float(*y);
  *y = __float2bfloat16(v);
}

// The per-lane words of one 64-wide chunk: int4 one uint4 (4 k-steps), fp8 two (rows g, g+8).
template <QuantFormat F> struct ChunkWords;
template <> struct ChunkWords<QuantFormat::kInt4> { static constexpr int kCount = 1; };
template <> struct ChunkWords<QuantFormat::kFp8> { static constexpr int kCount = 2; };

} // namespace

// F: format; NT: n8 tiles of input rows per pass (m <= 8 NT); G: 64-wide chunks per scale
// group; P: groups per weight load batch (bytes in flight per warp); W: warps of a CTA (the
// launcher takes 4 when 8 would need more than one wave); ScaleT: __half or float.
// x and y carry no __restrict__ (as in quant_gemm_lean_kernel.cuh): x is written by the kernel before in the
// PDL chain, and const + restrict would read it through ld.global.nc, outside what griddepcontrol.wait orders.
template <QuantFormat F, int NT, int G, int P, int W, typename ScaleT>
__global__ void __launch_bounds__(W * 32, (NT <= 2 ? 16 : 8) / W)
    quant_gemm_kernel(const bf16* x, const QuantizedWeight w, bf16* y, int ldy, int m, float beta) {
  constexpr int kW = ChunkWords<F>::kCount;
  constexpr int kRowsPerPass = NT * 8;
  __shared__ float partial[W][kRowsPerPass][16 + 4];

  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int tile = blockIdx.x, row0 = tile * 16;
  const int n = w.n, k = w.k;
  const int chunks = k / kQuantChunk, groups = k / (G * kQuantChunk);
  const int batches = warp < groups ? (groups - warp + W * P - 1) / (W * P) : 0;
  auto group_of = [&](int b, int p) { return (b * P + p) * W + warp; };
  const ScaleT* scales = static_cast<const ScaleT*>(w.scales);

  const uint4* int4_base = static_cast<const uint4*>(w.packed) + static_cast<int64_t>(tile) * chunks * 32 + lane;
  const uint8_t* fp8_rows[2] = {static_cast<const uint8_t*>(w.packed) + static_cast<int64_t>(row0 + g) * k + 16 * t,
                                static_cast<const uint8_t*>(w.packed) + static_cast<int64_t>(row0 + g + 8) * k + 16 * t};

  struct Batch {
    uint4 words[P][G][kW];
    float scale[P][2];
    uint32_t zero2[P][2]; // int4: bf16 pair 128 + z of rows g and g+8
  };
  auto load = [&](Batch& dst, int b) {
#pragma unroll
    for (int p = 0; p < P; ++p) {
      const int gi = group_of(b, p);
      const bool valid = gi < groups;
      const int gc = valid ? gi : 0;
#pragma unroll
      for (int c = 0; c < G; ++c) {
        const int chunk = gc * G + c;
        if constexpr (F == QuantFormat::kInt4) {
          dst.words[p][c][0] = valid ? __ldcs(int4_base + static_cast<int64_t>(chunk) * 32) : make_uint4(0, 0, 0, 0);
        } else {
#pragma unroll
          for (int h = 0; h < 2; ++h)
            dst.words[p][c][h] = valid ? __ldcs(reinterpret_cast<const uint4*>(fp8_rows[h] + chunk * kQuantChunk))
                                       : make_uint4(0, 0, 0, 0);
        }
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = row0 + g + 8 * h;
        const int64_t si = static_cast<int64_t>(gc) * w.scale_index.group_stride +
                           static_cast<int64_t>(row >> w.scale_index.row_shift) * w.scale_index.row_stride;
        dst.scale[p][h] = load_scale(scales, si);
        if constexpr (F == QuantFormat::kInt4) {
          const uint32_t z = w.zeros ? w.zeros[static_cast<int64_t>(gc) * n + row] : 8u;
          dst.zero2[p][h] = (0x4300u + z) * 0x00010001u;
        }
      }
    }
  };

  for (int tb = 0; tb < m; tb += kRowsPerPass) {
    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[nt][e] = 0.f;

    Batch cur;
    if (batches > 0) load(cur, 0);
    if (tb == 0) pdl_wait(); // the weights depend on no kernel; x does

    const bf16* xrow[NT];
    bool xlive[NT];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int r = tb + nt * 8 + g;
      xlive[nt] = r < m;
      xrow[nt] = x + static_cast<int64_t>(xlive[nt] ? r : 0) * k + 16 * t;
    }
    // A group's x fragments (L1 / L2 hits): 16 bf16 per row and chunk. With one n8 tile the
    // next group's are loaded while the current one is multiplied, hiding their latency too
    // (with more tiles the registers for that spill, so they load at the group's start).
    constexpr bool kPrefetchX = NT == 1;
    using XFrag = uint4[G][NT][2];
    auto load_x = [&](XFrag& dst, int gi) {
#pragma unroll
      for (int c = 0; c < G; ++c)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int h = 0; h < 2; ++h)
            dst[c][nt][h] = xlive[nt] ? *reinterpret_cast<const uint4*>(xrow[nt] + (gi * G + c) * kQuantChunk + 8 * h)
                                      : make_uint4(0, 0, 0, 0);
    };
    XFrag xf;
    if (kPrefetchX && batches > 0) load_x(xf, warp);

    for (int b = 0; b < batches; ++b) {
      Batch next;
      const bool more = b + 1 < batches;
      if (more) load(next, b + 1); // in flight while this batch is multiplied
#pragma unroll
      for (int p = 0; p < P; ++p) {
        const int gi = group_of(b, p);
        if (gi >= groups) continue; // warp-uniform
        if constexpr (!kPrefetchX) load_x(xf, gi);
        XFrag xn;
        const bool x_more = kPrefetchX && gi + W < groups;
        if (x_more) load_x(xn, gi + W);
        float part[NT][4];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) part[nt][e] = 0.f;
#pragma unroll
        for (int c = 0; c < G; ++c) {
#pragma unroll
          for (int s = 0; s < 4; ++s) {
            uint32_t a[4];
            if constexpr (F == QuantFormat::kInt4) {
              const uint32_t word = (&cur.words[p][c][0].x)[s];
#pragma unroll
              for (int i = 0; i < 4; ++i) {
                const uint32_t biased = int4_pair_biased(word >> (4 * i)); // 128 + q
                a[i] = bf16x2_sub(biased, cur.zero2[p][i & 1]);
              }
            } else {
              const uint32_t rg = (&cur.words[p][c][0].x)[s], r8 = (&cur.words[p][c][1].x)[s];
              const uint32_t w0 = __byte_perm(rg, r8, 0x5140), w1 = __byte_perm(rg, r8, 0x7362);
              a[0] = e4m3_even(w0);
              a[1] = e4m3_odd(w0);
              a[2] = e4m3_even(w1);
              a[3] = e4m3_odd(w1);
            }
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
              const uint4& xv = xf[c][nt][s >> 1];
              const uint32_t b0 = (s & 1) ? xv.z : xv.x, b1 = (s & 1) ? xv.w : xv.y;
              mma_bf16_16816(part[nt], a[0], a[1], a[2], a[3], b0, b1);
            }
          }
        }
        // Accumulator element e: weight row g (+8 for e >= 2), input row 2t (+1 for odd e).
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[nt][e] += part[nt][e] * cur.scale[p][e >> 1];
        if (x_more) {
#pragma unroll
          for (int c = 0; c < G; ++c)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
              for (int h = 0; h < 2; ++h) xf[c][nt][h] = xn[c][nt][h];
        }
      }
      if (more) cur = next;
    }

#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) partial[warp][nt * 8 + 2 * t + (e & 1)][g + (e >> 1) * 8] = acc[nt][e];
    __syncthreads();
    const int rows = min(kRowsPerPass, m - tb);
    for (int idx = threadIdx.x; idx < rows * 16; idx += W * 32) {
      const int i = idx / 16, r = idx % 16;
      float s = 0.f;
#pragma unroll
      for (int v = 0; v < W; ++v) s += partial[v][i][r];
      store_out(y + static_cast<int64_t>(tb + i) * ldy + row0 + r, s, beta);
    }
    __syncthreads(); // partial is reused by the next pass
  }
}

// x_perm[r, j] = x[r, perm[j]]: an act-order weight's columns are grouped, so x follows. No __restrict__
// (see quant_gemm_kernel): x is written by the kernel before, and no PDL kernel here reads through
// ld.global.nc (ptx_pdl_check.py checks it), perm included, so the rule has no exceptions.
__global__ void gather_columns_kernel(const bf16* x, const int32_t* perm, bf16* out, int m, int k) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t total = static_cast<int64_t>(m) * k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / k;
    const int j = static_cast<int>(i - r * k);
    out[i] = x[r * k + perm[j]];
  }
}

void gather_columns(const bf16* x, const int32_t* perm, bf16* out, int m, int k, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(m) * k;
  const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 4096));
  launch_pdl("gather_columns_kernel", gather_columns_kernel, dim3(blocks), dim3(256), 0, stream, x, perm, out, m, k);
}

void preload_gather_columns() {
  cudaFuncAttributes attributes{};
  PAGODA_CUDA_CHECK(cudaFuncGetAttributes(&attributes, gather_columns_kernel));
}

int device_sm_count() {
  static const int sms = [] {
    int device = 0, count = 0;
    PAGODA_CUDA_CHECK(cudaGetDevice(&device));
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  return sms;
}

namespace {

template <QuantFormat F, int NT, int G, int P, int W, typename ScaleT>
void launch(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, cudaStream_t stream) {
  launch_pdl("quant_gemm_kernel", quant_gemm_kernel<F, NT, G, P, W, ScaleT>, dim3(w.n / 16), dim3(W * 32), 0, stream,
             x, w, y, ldy, m, beta);
}

// Eight warps split k while the CTAs fit one wave (16 warps an SM); beyond, four (fewer
// partial waves, longer pipelines per warp).
template <QuantFormat F, int NT, int G, int P, typename ScaleT>
void by_warps(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, cudaStream_t stream) {
  const int64_t warps_per_wave = int64_t(device_sm_count()) * (NT <= 2 ? 16 : 8);
  if (int64_t(w.n / 16) * 8 <= warps_per_wave) return launch<F, NT, G, P, 8, ScaleT>(x, w, y, ldy, m, beta, stream);
  return launch<F, NT, G, P, 4, ScaleT>(x, w, y, ldy, m, beta, stream);
}

template <QuantFormat F, int G, int P, typename ScaleT>
void by_rows(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, cudaStream_t stream) {
  if (m <= 8) return by_warps<F, 1, G, P, ScaleT>(x, w, y, ldy, m, beta, stream);
  if (m <= 16) return by_warps<F, 2, G, P, ScaleT>(x, w, y, ldy, m, beta, stream);
  return by_warps<F, 4, G, P, ScaleT>(x, w, y, ldy, m, beta, stream);
}

} // namespace

size_t quant_gemm_workspace_bytes(const QuantizedWeight& w, int m) {
  return w.perm ? static_cast<size_t>(m) * w.k * sizeof(bf16) : 0;
}

namespace {

// quant_gemm's argument checks; returns the x to multiply (act-order: gathered into workspace).
const bf16* checked_input(const char* who, const bf16* x, const QuantizedWeight& w, int ldy, int m, void* workspace,
                          size_t workspace_bytes, cudaStream_t stream) {
  const std::string name(who);
  if (m < 1) throw Error(name + ": m must be at least 1");
  if (ldy < w.n) throw Error(name + ": the row stride of y is shorter than a row");
  if (w.n <= 0 || w.n % 16 != 0 || w.k <= 0 || w.k % kQuantChunk != 0)
    throw Error(name + ": weight shape " + std::to_string(w.n) + " x " + std::to_string(w.k) +
                " is not a multiple of 16 x 64");
  if (w.group_size != 64 && w.group_size != 128)
    throw Error(name + ": group size " + std::to_string(w.group_size) + " (64 or 128 are served)");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w.packed) % 16 != 0)
    throw Error(name + ": x and the packed weight must be 16-byte aligned");
  if (w.format == QuantFormat::kFp8 && w.group_size != 128)
    throw Error(name + ": fp8 weights use 128-wide scale groups");
  if (w.perm) {
    if (workspace == nullptr || workspace_bytes < quant_gemm_workspace_bytes(w, m))
      throw Error(name + ": an act-order weight needs a workspace of " +
                  std::to_string(quant_gemm_workspace_bytes(w, m)) + " bytes");
    gather_columns(x, w.perm, static_cast<bf16*>(workspace), m, w.k, stream);
    x = static_cast<const bf16*>(workspace);
  }
  return x;
}

} // namespace

void quant_gemm_lean(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream, int deep, const SplitNorm& norm) {
  if (m > 8) throw Error("quant_gemm_lean: m " + std::to_string(m) + " (1..8 are served)");
  x = checked_input("quant_gemm_lean", x, w, ldy, m, workspace, workspace_bytes, stream);
  launch_quant_gemm_lean(x, w, y, ldy, m, beta, stream, deep, norm);
}

void quant_gemm_silu(const bf16* x, const QuantizedWeight& w, bf16* out, int m, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream, int deep, const SplitNorm& norm) {
  if (m > 8) throw Error("quant_gemm_silu: m " + std::to_string(m) + " (1..8 are served)");
  x = checked_input("quant_gemm_silu", x, w, w.n, m, workspace, workspace_bytes, stream);
  launch_quant_gemm_lean_silu(x, w, out, m, stream, deep, false, norm);
}

size_t quant_gemm_silu_fp8_staging_bytes(const QuantizedWeight& w) {
  return (size_t(8) * (w.n / 2) + size_t(8) * (w.n / 16)) * sizeof(float);
}

void quant_gemm_silu_fp8(const bf16* x, const QuantizedWeight& w, bf16* out, int m, void* staging,
                         size_t staging_bytes, cudaStream_t stream, int deep) {
  if (m > 8) throw Error("quant_gemm_silu_fp8: m " + std::to_string(m) + " (1..8 are served)");
  if (staging == nullptr || staging_bytes < quant_gemm_silu_fp8_staging_bytes(w) ||
      reinterpret_cast<uintptr_t>(staging) % 16 != 0)
    throw Error("quant_gemm_silu_fp8: a 16-byte aligned staging buffer of " +
                std::to_string(quant_gemm_silu_fp8_staging_bytes(w)) + " bytes is needed");
  x = checked_input("quant_gemm_silu_fp8", x, w, w.n, m, nullptr, 0, stream);
  const int parts = launch_quant_gemm_lean_silu(x, w, staging, m, stream, deep, true);
  silu_mul_fp8_finish(static_cast<const float*>(staging), parts, out, m, w.n / 2, stream);
}

void quant_gemm(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, void* workspace,
                size_t workspace_bytes, cudaStream_t stream) {
  x = checked_input("quant_gemm", x, w, ldy, m, workspace, workspace_bytes, stream);
  if (m <= 8 && quant_gemm_lean_enabled()) return launch_quant_gemm_lean(x, w, y, ldy, m, beta, stream);
  if (w.format == QuantFormat::kFp8) return by_rows<QuantFormat::kFp8, 2, 1, float>(x, w, y, ldy, m, beta, stream);
  if (w.group_size == 128) return by_rows<QuantFormat::kInt4, 2, 2, __half>(x, w, y, ldy, m, beta, stream);
  return by_rows<QuantFormat::kInt4, 1, 2, __half>(x, w, y, ldy, m, beta, stream);
}

} // namespace pagoda::cuda
