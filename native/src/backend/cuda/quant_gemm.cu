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

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

__device__ __forceinline__ float load_scale(const __half* s, int64_t i) { return __half2float(s[i]); }
__device__ __forceinline__ float load_scale(const float* s, int64_t i) { return s[i]; }

__device__ __forceinline__ uint32_t bf16x2_sub(uint32_t a, uint32_t b) {
  const __nv_bfloat162 r = __hsub2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}
__device__ __forceinline__ uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
  const __nv_bfloat162 r = __hmul2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}

// Bytes 0 and 2 (even) or 1 and 3 (odd) of w, e4m3, as a bf16 pair: the sign and the 7 other
// bits moved into place give the value times 2^-120, and bf16 holds that (also subnormals)
// exactly; the multiply by 2^120 is exact too.
constexpr uint32_t kBf16Pow2_120 = 0x7B807B80u;
__device__ __forceinline__ uint32_t e4m3_pair_even(uint32_t w) {
  const uint32_t t = w & 0x00FF00FFu;
  return bf16x2_mul(((t & 0x00800080u) << 8) | ((t & 0x007F007Fu) << 4), kBf16Pow2_120);
}
__device__ __forceinline__ uint32_t e4m3_pair_odd(uint32_t w) { return e4m3_pair_even(w >> 8); }

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
// group; S: pipeline stages (groups of weight codes in flight per warp, held in shared memory
// by cp.async so they cost no registers); W: warps of a CTA (the launcher takes 4 when 8 would
// need more than one wave); ScaleT: __half or float.
//
// Each lane copies its own 16-byte slots of a group into its warp's stage and reads back only
// those, so a wait on its own cp.async groups is all the synchronisation a stage needs. The
// CTA's scales (and zero points) for every group are staged in shared memory once.
template <QuantFormat F, int G, int S, int W> struct QuantGemmSmem {
  static constexpr int kW = ChunkWords<F>::kCount;
  static constexpr int kStageWords = G * kW * 32; // uint4 per warp and stage
  static constexpr size_t stage_bytes() { return size_t(W) * S * kStageWords * sizeof(uint4); }
};

template <QuantFormat F, int NT, int G, int S, int W, typename ScaleT>
__global__ void __launch_bounds__(W * 32, (NT <= 2 ? 16 : 8) / W)
    quant_gemm_kernel(const bf16* __restrict__ x, const QuantizedWeight w, bf16* __restrict__ y, int ldy, int m,
                      float beta) {
  using Smem = QuantGemmSmem<F, G, S, W>;
  constexpr int kW = Smem::kW;
  constexpr int kRowsPerPass = NT * 8;
  extern __shared__ uint4 smem[];
  __shared__ float partial[W][kRowsPerPass][16 + 4];

  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int tile = blockIdx.x, row0 = tile * 16;
  const int n = w.n, k = w.k;
  const int chunks = k / kQuantChunk, groups = k / (G * kQuantChunk);
  const int my_groups = warp < groups ? (groups - warp + W - 1) / W : 0; // group j of this warp: j * W + warp
  uint4* stages = smem + static_cast<size_t>(warp) * S * Smem::kStageWords;
  float* scale_smem = reinterpret_cast<float*>(smem + static_cast<size_t>(W) * S * Smem::kStageWords); // [groups][16]
  uint8_t* zero_smem = reinterpret_cast<uint8_t*>(scale_smem + static_cast<size_t>(groups) * 16);   // [groups][16]

  const uint4* int4_base = static_cast<const uint4*>(w.packed) + static_cast<int64_t>(tile) * chunks * 32 + lane;
  const uint8_t* fp8_rows[2] = {static_cast<const uint8_t*>(w.packed) + static_cast<int64_t>(row0 + g) * k + 16 * t,
                                static_cast<const uint8_t*>(w.packed) + static_cast<int64_t>(row0 + g + 8) * k + 16 * t};
  // Issues group j's codes into stage j % S (always commits, so the wait counts stay uniform).
  auto issue = [&](int j) {
    if (j < my_groups) {
      const int gi = j * W + warp;
      uint4* stage = stages + (j % S) * Smem::kStageWords;
#pragma unroll
      for (int c = 0; c < G; ++c) {
        const int chunk = gi * G + c;
        if constexpr (F == QuantFormat::kInt4) {
          cp_async_16(smem_u32(stage + c * 32 + lane), int4_base + static_cast<int64_t>(chunk) * 32, true);
        } else {
#pragma unroll
          for (int h = 0; h < 2; ++h)
            cp_async_16(smem_u32(stage + (c * 2 + h) * 32 + lane), fp8_rows[h] + chunk * kQuantChunk, true);
        }
      }
    }
    cp_async_commit();
  };

  const ScaleT* scales = static_cast<const ScaleT*>(w.scales);
  for (int tb = 0; tb < m; tb += kRowsPerPass) {
#pragma unroll
    for (int j = 0; j < S - 1; ++j) issue(j); // the weights depend on no kernel: before the wait
    if (tb == 0) {
      // Scales and zero points of the CTA's 16 rows for every group, once.
      for (int idx = threadIdx.x; idx < groups * 16; idx += W * 32) {
        const int gi = idx / 16, row = row0 + idx % 16;
        const int64_t si = static_cast<int64_t>(gi) * w.scale_index.group_stride +
                           static_cast<int64_t>(row >> w.scale_index.row_shift) * w.scale_index.row_stride;
        scale_smem[idx] = load_scale(scales, si);
        if constexpr (F == QuantFormat::kInt4) zero_smem[idx] = w.zeros ? w.zeros[static_cast<int64_t>(gi) * n + row] : 8;
      }
      __syncthreads();
      pdl_wait(); // x is written by the kernel before
    }

    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[nt][e] = 0.f;
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
    if (kPrefetchX && my_groups > 0) load_x(xf, warp);

    for (int j = 0; j < my_groups; ++j) {
      const int gi = j * W + warp;
      issue(j + S - 1);
      if constexpr (!kPrefetchX) load_x(xf, gi);
      XFrag xn;
      const bool x_more = kPrefetchX && j + 1 < my_groups;
      if (x_more) load_x(xn, gi + W);
      cp_async_wait<S - 1>(); // group j's codes are in its stage
      const uint4* stage = stages + (j % S) * Smem::kStageWords;
      float scale[2];
      uint32_t zero2[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        scale[h] = scale_smem[gi * 16 + g + 8 * h];
        if constexpr (F == QuantFormat::kInt4) zero2[h] = (0x4300u + zero_smem[gi * 16 + g + 8 * h]) * 0x00010001u;
      }
      float part[NT][4];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) part[nt][e] = 0.f;
#pragma unroll
      for (int c = 0; c < G; ++c) {
        uint4 words[kW];
#pragma unroll
        for (int h = 0; h < kW; ++h) words[h] = stage[(c * kW + h) * 32 + lane];
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          uint32_t a[4];
          if constexpr (F == QuantFormat::kInt4) {
            const uint32_t word = (&words[0].x)[s];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              const uint32_t biased = ((word >> (4 * i)) & 0x000F000Fu) | 0x43004300u; // 128 + q
              a[i] = bf16x2_sub(biased, zero2[i & 1]);
            }
          } else {
            const uint32_t rg = (&words[0].x)[s], r8 = (&words[kW - 1].x)[s];
            const uint32_t w0 = __byte_perm(rg, r8, 0x5140), w1 = __byte_perm(rg, r8, 0x7362);
            a[0] = e4m3_pair_even(w0);
            a[1] = e4m3_pair_odd(w0);
            a[2] = e4m3_pair_even(w1);
            a[3] = e4m3_pair_odd(w1);
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
        for (int e = 0; e < 4; ++e) acc[nt][e] += part[nt][e] * scale[e >> 1];
      if (x_more) {
#pragma unroll
        for (int c = 0; c < G; ++c)
#pragma unroll
          for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int h = 0; h < 2; ++h) xf[c][nt][h] = xn[c][nt][h];
      }
    }
    cp_async_wait<0>(); // nothing of this pass left in flight before the stages are reused

#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) partial[warp][nt * 8 + 2 * t + (e & 1)][g + (e >> 1) * 8] = acc[nt][e];
    __syncthreads();
    const int rows = min(kRowsPerPass, m - tb);
    for (int idx = threadIdx.x; idx < rows * 16; idx += W * 32) {
      const int i = idx / 16, r = idx % 16;
      float sum = 0.f;
#pragma unroll
      for (int v = 0; v < W; ++v) sum += partial[v][i][r];
      store_out(y + static_cast<int64_t>(tb + i) * ldy + row0 + r, sum, beta);
    }
    __syncthreads(); // partial is reused by the next pass
  }
}

// x_perm[r, j] = x[r, perm[j]]: an act-order weight's columns are grouped, so x follows.
__global__ void gather_columns_kernel(const bf16* __restrict__ x, const int32_t* __restrict__ perm,
                                      bf16* __restrict__ out, int m, int k) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t total = static_cast<int64_t>(m) * k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / k;
    const int j = static_cast<int>(i - r * k);
    out[i] = x[r * k + perm[j]];
  }
}

namespace {

int num_sms() {
  static const int sms = [] {
    int device = 0, count = 0;
    PAGODA_CUDA_CHECK(cudaGetDevice(&device));
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  return sms;
}

template <QuantFormat F, int NT, int G, int S, int W, typename ScaleT>
void launch(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, cudaStream_t stream) {
  using Smem = QuantGemmSmem<F, G, S, W>;
  const size_t smem = Smem::stage_bytes() + size_t(w.k / (G * kQuantChunk)) * 16 * (sizeof(float) + 1);
  auto kernel = quant_gemm_kernel<F, NT, G, S, W, ScaleT>;
  static size_t allowed = 48 << 10; // per instantiation: raised once, as far as needed
  if (smem > allowed) {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    allowed = smem;
  }
  launch_pdl("quant_gemm_kernel", kernel, dim3(w.n / 16), dim3(W * 32), smem, stream, x, w, y, ldy, m, beta);
}

// Eight warps split k while the CTAs fit one wave (16 warps an SM); beyond, four (fewer
// partial waves, longer pipelines per warp).
template <QuantFormat F, int NT, int G, int S, typename ScaleT>
void by_warps(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, cudaStream_t stream) {
  const int64_t warps_per_wave = int64_t(num_sms()) * (NT <= 2 ? 16 : 8);
  if (int64_t(w.n / 16) * 8 <= warps_per_wave) return launch<F, NT, G, S, 8, ScaleT>(x, w, y, ldy, m, beta, stream);
  return launch<F, NT, G, S, 4, ScaleT>(x, w, y, ldy, m, beta, stream);
}

template <QuantFormat F, int G, int S, typename ScaleT>
void by_rows(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, cudaStream_t stream) {
  if (m <= 8) return by_warps<F, 1, G, S, ScaleT>(x, w, y, ldy, m, beta, stream);
  if (m <= 16) return by_warps<F, 2, G, S, ScaleT>(x, w, y, ldy, m, beta, stream);
  return by_warps<F, 4, G, S, ScaleT>(x, w, y, ldy, m, beta, stream);
}

} // namespace

size_t quant_gemm_workspace_bytes(const QuantizedWeight& w, int m) {
  return w.perm ? static_cast<size_t>(m) * w.k * sizeof(bf16) : 0;
}

void quant_gemm(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, void* workspace,
                size_t workspace_bytes, cudaStream_t stream) {
  if (m < 1) throw Error("quant_gemm: m must be at least 1");
  if (ldy < w.n) throw Error("quant_gemm: the row stride of y is shorter than a row");
  if (w.n <= 0 || w.n % 16 != 0 || w.k <= 0 || w.k % kQuantChunk != 0)
    throw Error("quant_gemm: weight shape " + std::to_string(w.n) + " x " + std::to_string(w.k) +
                " is not a multiple of 16 x 64");
  if (w.group_size != 64 && w.group_size != 128)
    throw Error("quant_gemm: group size " + std::to_string(w.group_size) + " (64 or 128 are served)");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w.packed) % 16 != 0)
    throw Error("quant_gemm: x and the packed weight must be 16-byte aligned");
  if (w.format == QuantFormat::kFp8 && w.group_size != 128)
    throw Error("quant_gemm: fp8 weights use 128-wide scale groups");
  if (w.perm) {
    if (workspace == nullptr || workspace_bytes < quant_gemm_workspace_bytes(w, m))
      throw Error("quant_gemm: an act-order weight needs a workspace of " +
                  std::to_string(quant_gemm_workspace_bytes(w, m)) + " bytes");
    const int64_t total = static_cast<int64_t>(m) * w.k;
    const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 4096));
    launch_pdl("gather_columns_kernel", gather_columns_kernel, dim3(blocks), dim3(256), 0, stream, x, w.perm,
               static_cast<bf16*>(workspace), m, w.k);
    x = static_cast<const bf16*>(workspace);
  }
  if (w.format == QuantFormat::kFp8) return by_rows<QuantFormat::kFp8, 2, 4, float>(x, w, y, ldy, m, beta, stream);
  if (w.group_size == 128) return by_rows<QuantFormat::kInt4, 2, 4, __half>(x, w, y, ldy, m, beta, stream);
  return by_rows<QuantFormat::kInt4, 1, 6, __half>(x, w, y, ldy, m, beta, stream);
}

} // namespace pagoda::cuda
