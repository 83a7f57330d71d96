// Decode GEMM for quantized weights at m = 1..16 (int4 GPTQ / AWQ repacked at load, fp8 e4m3
// row-major): y = x · dequant(W)^T, each weight byte read from DRAM once, near copy bandwidth.
//
// Why a kernel of its own (quant_gemm.cu serves any m): at decode the step is the weights'
// bytes, and holding enough of them in flight is what decides the speed. quant_gemm keeps its
// next loads in registers (~2 KB a warp, a short pipeline per CTA); here every lane streams its
// own fragments through a private ring in shared memory with cp.async (16 bytes a copy, no
// registers held, S slots of 128 bytes a lane in flight), so a CTA keeps 32-128 KB of weights
// on the way. A lane copies exactly the 16-byte words it later multiplies (the int4 layout is
// mma fragment order; fp8 rows g and g+8 at k 16t of each 64-wide chunk, as in quant_gemm), so
// no lane waits for another's copies and the ring needs no barrier. The first S slots are
// issued before the PDL wait: weights depend on no kernel, so they stream in under the
// previous kernel's tail.
//
// Arithmetic as quant_gemm (the same fragments, exact conversions): mma.sync m16n8k16 bf16 ->
// f32 with weight rows as M and input rows as N; a group's f32 partial sum times the (group,
// row) scale. A CTA owns T tiles of 16 weight rows (T = 2 halves the L2 reads of x per weight
// byte where the grid stays large) over all of k; its W warps take contiguous runs of slots
// and meet in shared memory (the ring, once drained) for the sum over k.
#include "backend/cuda/quant_kernels.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

__device__ __forceinline__ float gemv_scale(const __half* s, int64_t i) { return __half2float(s[i]); }
__device__ __forceinline__ float gemv_scale(const float* s, int64_t i) { return s[i]; }

__device__ __forceinline__ uint32_t sub_bf16x2(uint32_t a, uint32_t b) {
  const __nv_bfloat162 r = __hsub2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}
__device__ __forceinline__ uint32_t mul_bf16x2(uint32_t a, uint32_t b) {
  const __nv_bfloat162 r = __hmul2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}
// e4m3 bytes 0 and 2 of w as a bf16 pair (sign and 7 bits moved into place = value x 2^-120,
// exact in bf16, subnormals too; the multiply by 2^120 is exact).
__device__ __forceinline__ uint32_t e4m3_even(uint32_t w) {
  const uint32_t t = w & 0x00FF00FFu;
  return mul_bf16x2(((t & 0x00800080u) << 8) | ((t & 0x007F007Fu) << 4), 0x7B807B80u);
}

// c (16x8 f32) += a (16x16 f16) · b (16x8 f16): the W8A8 mode's operands, e4m3 codes exact in f16.
__device__ __forceinline__ void mma_f16_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                              uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 16-byte words a lane copies per (chunk, tile): int4 one (4 k-steps of rows g, g+8), fp8 two.
template <QuantFormat F> constexpr int kWordsPerChunk = F == QuantFormat::kInt4 ? 1 : 2;

} // namespace

// F: format; NT: n8 tiles of input rows (m <= 8 NT); T: 16-row weight tiles a CTA owns;
// SC: 64-wide chunks a slot holds (SC * T * words = 8 words = 128 bytes a lane); GC: chunks of
// a scale group (1 or 2); S: slots in flight a warp; W: warps. ScaleT: __half (int4) or float
// (fp8). AQ (fp8 only): the checkpoint's dynamic activation quantization, done here on the x
// fragments (W8A8: both operands e4m3 codes, exact in f16, on f16 tensor cores; the x scale
// per token, or per token and 128-wide group, multiplies the group's partial sum).
template <QuantFormat F, int NT, int T, int SC, int GC, int S, int W, Fp8ActivationQuant AQ, typename ScaleT>
__global__ void __launch_bounds__(W * 32)
    quant_gemv_kernel(const bf16* __restrict__ x, const QuantizedWeight w, bf16* __restrict__ y, int ldy, int m,
                      float beta) {
  constexpr int kWords = kWordsPerChunk<F>;
  constexpr int kSlotWords = SC * T * kWords; // 16-byte words a lane holds per slot
  constexpr bool kAq = AQ != Fp8ActivationQuant::kNone;
  static_assert(!kAq || F == QuantFormat::kFp8, "activation quantization is an fp8 (W8A8) mode");
  static_assert(SC % GC == 0, "a slot holds whole scale groups");
  extern __shared__ uint4 ring[]; // [W][S][kSlotWords][32 lanes]; then the partial sums
  __shared__ float token_amax[W][16], token_scale[16], token_inv[16]; // per-token activation scales

  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * T * 16;
  const int n = w.n, k = w.k;
  const int chunks = k / kQuantChunk;
  const int slots = (chunks + SC - 1) / SC;
  const int slot_begin = warp * slots / W, slot_end = (warp + 1) * slots / W;
  uint4* my_ring = ring + static_cast<size_t>(warp) * S * kSlotWords * 32 + lane;

  // Copies slot `s` (this lane's words of its chunks, all T tiles) into ring buffer s % S.
  auto issue = [&](int s) {
    if (s < slot_end) {
      uint4* dst = my_ring + (s % S) * kSlotWords * 32;
      const int c0 = s * SC, nc = min(SC, chunks - c0);
#pragma unroll
      for (int c = 0; c < SC; ++c) {
        if (c >= nc) break;
#pragma unroll
        for (int tt = 0; tt < T; ++tt) {
          if constexpr (F == QuantFormat::kInt4) {
            const uint4* src = static_cast<const uint4*>(w.packed) +
                               (static_cast<int64_t>(blockIdx.x * T + tt) * chunks + c0 + c) * 32 + lane;
            cp_async_16(smem_u32(dst + (c * T + tt) * 32), src, true);
          } else {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              const uint8_t* src = static_cast<const uint8_t*>(w.packed) +
                                   static_cast<int64_t>(row0 + tt * 16 + g + 8 * h) * k + (c0 + c) * kQuantChunk + 16 * t;
              cp_async_16(smem_u32(dst + ((c * T + tt) * 2 + h) * 32), src, true);
            }
          }
        }
      }
    }
    cp_async_commit(); // an empty group past the end keeps the count uniform for wait<S - 1>
  };
#pragma unroll
  for (int i = 0; i < S; ++i) issue(slot_begin + i);
  pdl_wait(); // x (and y when beta != 0) come from earlier kernels; the weights do not

  const bf16* xrow[NT];
  bool xlive[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int r = nt * 8 + g;
    xlive[nt] = r < m;
    xrow[nt] = x + static_cast<int64_t>(xlive[nt] ? r : 0) * k + 16 * t;
  }
  const ScaleT* scales = static_cast<const ScaleT*>(w.scales);

  if constexpr (AQ == Fp8ActivationQuant::kPerToken) {
    // max |x| of each row over all of k: each warp over the k its slots cover (the x it loads
    // below, so the second read is an L1 / L2 hit), then across the warps.
    const int k_begin = min(slot_begin * SC * kQuantChunk, k), k_end = min(slot_end * SC * kQuantChunk, k);
    for (int r = 0; r < m; ++r) {
      float amax = 0.f;
      for (int i = k_begin + 8 * lane; i < k_end; i += 8 * 32) {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(x + static_cast<int64_t>(r) * k + i));
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float2 f = unpack_bf16((&v.x)[j]);
          amax = fmaxf(amax, fmaxf(fabsf(f.x), fabsf(f.y)));
        }
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
      if (lane == 0) token_amax[warp][r] = amax;
    }
    __syncthreads();
    if (threadIdx.x < m) {
      float amax = 0.f;
#pragma unroll
      for (int u = 0; u < W; ++u) amax = fmaxf(amax, token_amax[u][threadIdx.x]);
      const float sc = fmaxf(amax, 1e-12f) / 448.f; // the checkpoint's scale, f32 as the README's
      token_scale[threadIdx.x] = sc;
      token_inv[threadIdx.x] = 1.f / sc;
    }
    __syncthreads();
  }

  float acc[T][NT][4];
#pragma unroll
  for (int tt = 0; tt < T; ++tt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[tt][nt][e] = 0.f;

  for (int s = slot_begin; s < slot_end; ++s) {
    cp_async_wait<S - 1>(); // slot s has landed (each lane waits for its own copies)
    const uint4* src = my_ring + (s % S) * kSlotWords * 32;
    const int c0 = s * SC, nc = min(SC, chunks - c0);
#pragma unroll
    for (int cg = 0; cg < SC; cg += GC) {
      if (cg >= nc) break; // warp-uniform; a partial slot holds whole groups
      const int gi = (c0 + cg) / GC;
      // The group's x fragments: 16 bf16 of row g per chunk and n8 tile (L1 / L2 hits).
      uint4 xv[GC][NT][2];
#pragma unroll
      for (int c = 0; c < GC; ++c)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int h = 0; h < 2; ++h)
            xv[c][nt][h] = xlive[nt] ? __ldg(reinterpret_cast<const uint4*>(xrow[nt] + (c0 + cg + c) * kQuantChunk + 8 * h))
                                     : make_uint4(0, 0, 0, 0);
      // The group's weight scales (and int4 zero points) for rows g and g + 8 of each tile.
      float sc[T][2];
      uint32_t zero2[T][2];
#pragma unroll
      for (int tt = 0; tt < T; ++tt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = row0 + tt * 16 + g + 8 * h;
          sc[tt][h] = gemv_scale(scales, static_cast<int64_t>(gi) * w.scale_index.group_stride +
                                             static_cast<int64_t>(row >> w.scale_index.row_shift) * w.scale_index.row_stride);
          if constexpr (F == QuantFormat::kInt4) {
            const uint32_t z = w.zeros ? w.zeros[static_cast<int64_t>(gi) * n + row] : 8u;
            zero2[tt][h] = (0x4300u + z) * 0x00010001u; // bf16 pair 128 + z
          }
        }
      // W8A8: x -> e4m3(x / s) codes as f16 pairs; xs[nt][j]: the scale of input row 2t + j.
      float xs[NT][2];
      if constexpr (kAq) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          float inv;
          if constexpr (AQ == Fp8ActivationQuant::kPerToken) {
            inv = token_inv[min(nt * 8 + g, m - 1)];
#pragma unroll
            for (int j = 0; j < 2; ++j) xs[nt][j] = token_scale[min(nt * 8 + 2 * t + j, m - 1)];
          } else {
            // max |x| of row g over the group's 128 columns: this lane's 32, then its 4 lanes'.
            float amax = 0.f;
#pragma unroll
            for (int c = 0; c < GC; ++c)
#pragma unroll
              for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                  const float2 f = unpack_bf16((&xv[c][nt][h].x)[j]);
                  amax = fmaxf(amax, fmaxf(fabsf(f.x), fabsf(f.y)));
                }
            amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 1));
            amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 2));
            const float gs = fmaxf(amax, 1e-12f) / 448.f;
            inv = 1.f / gs;
#pragma unroll
            for (int j = 0; j < 2; ++j) xs[nt][j] = __shfl_sync(0xFFFFFFFFu, gs, (2 * t + j) * 4);
          }
#pragma unroll
          for (int c = 0; c < GC; ++c)
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
              for (int j = 0; j < 4; ++j) {
                uint32_t& word = (&xv[c][nt][h].x)[j];
                const float2 f = unpack_bf16(word);
                const __nv_fp8x2_storage_t q =
                    __nv_cvt_float2_to_fp8x2(make_float2(f.x * inv, f.y * inv), __NV_SATFINITE, __NV_E4M3);
                const __half2_raw hq = __nv_cvt_fp8x2_to_halfraw2(q, __NV_E4M3);
                word = uint32_t(hq.x) | (uint32_t(hq.y) << 16);
              }
        }
      }
      float part[T][NT][4];
#pragma unroll
      for (int tt = 0; tt < T; ++tt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) part[tt][nt][e] = 0.f;
#pragma unroll
      for (int c = 0; c < GC; ++c) {
#pragma unroll
        for (int tt = 0; tt < T; ++tt) {
          uint4 wv[kWords];
#pragma unroll
          for (int h = 0; h < kWords; ++h) wv[h] = src[(((cg + c) * T + tt) * kWords + h) * 32];
#pragma unroll
          for (int ks = 0; ks < 4; ++ks) {
            uint32_t a[4];
            if constexpr (F == QuantFormat::kInt4) {
              const uint32_t word = (&wv[0].x)[ks];
#pragma unroll
              for (int i = 0; i < 4; ++i) // (128 + q) - (128 + z)
                a[i] = sub_bf16x2(((word >> (4 * i)) & 0x000F000Fu) | 0x43004300u, zero2[tt][i & 1]);
            } else if constexpr (kAq) {
              // Rows g / g + 8, k {0, 1} in the low half of each word, k {2, 3} in the high half.
              const uint32_t rg = (&wv[0].x)[ks], r8 = (&wv[1].x)[ks];
              const uint32_t halves[4] = {rg & 0xFFFFu, r8 & 0xFFFFu, rg >> 16, r8 >> 16};
#pragma unroll
              for (int i = 0; i < 4; ++i) {
                const __half2_raw hw = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(halves[i]), __NV_E4M3);
                a[i] = uint32_t(hw.x) | (uint32_t(hw.y) << 16);
              }
            } else {
              const uint32_t rg = (&wv[0].x)[ks], r8 = (&wv[1].x)[ks];
              const uint32_t w0 = __byte_perm(rg, r8, 0x5140), w1 = __byte_perm(rg, r8, 0x7362);
              a[0] = e4m3_even(w0);
              a[1] = e4m3_even(w0 >> 8);
              a[2] = e4m3_even(w1);
              a[3] = e4m3_even(w1 >> 8);
            }
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
              const uint4& xq = xv[c][nt][ks >> 1];
              const uint32_t b0 = (ks & 1) ? xq.z : xq.x, b1 = (ks & 1) ? xq.w : xq.y;
              if constexpr (kAq) mma_f16_16816(part[tt][nt], a[0], a[1], a[2], a[3], b0, b1);
              else mma_bf16_16816(part[tt][nt], a[0], a[1], a[2], a[3], b0, b1);
            }
          }
        }
      }
      // Accumulator element e: weight row g (+8 for e >= 2), input row 2t (+1 for odd e).
#pragma unroll
      for (int tt = 0; tt < T; ++tt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            float v = part[tt][nt][e] * sc[tt][e >> 1];
            if constexpr (kAq) v *= xs[nt][e & 1];
            acc[tt][nt][e] += v;
          }
    }
    issue(s + S); // this lane's reads of buffer s % S were consumed above
  }

  // The ring becomes the partial sums [W][NT * 8 input rows][T * 16 weight rows] once every
  // copy has landed and every warp is past its reads.
  cp_async_wait<0>();
  __syncthreads();
  float* partial = reinterpret_cast<float*>(ring);
  constexpr int kRows = T * 16;
#pragma unroll
  for (int tt = 0; tt < T; ++tt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        partial[(warp * NT * 8 + nt * 8 + 2 * t + (e & 1)) * kRows + tt * 16 + g + (e >> 1) * 8] = acc[tt][nt][e];
  __syncthreads();
  for (int idx = threadIdx.x; idx < m * kRows; idx += W * 32) {
    const int i = idx / kRows, r = idx % kRows;
    float v = 0.f;
#pragma unroll
    for (int u = 0; u < W; ++u) v += partial[(u * NT * 8 + i) * kRows + r];
    bf16* out = y + static_cast<int64_t>(i) * ldy + row0 + r;
    if (beta != 0.f) v += beta * __bfloat162float(*out);
    *out = __float2bfloat16(v);
  }
}

namespace {

int gemv_num_sms() {
  static const int sms = [] {
    int device = 0, count = 0;
    PAGODA_CUDA_CHECK(cudaGetDevice(&device));
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  return sms;
}

template <QuantFormat F, int NT, int T, int SC, int GC, int S, int W, Fp8ActivationQuant AQ, typename ScaleT>
void launch_gemv(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, cudaStream_t stream) {
  constexpr int kSlotWords = SC * T * kWordsPerChunk<F>;
  constexpr size_t kRingBytes = size_t(W) * S * kSlotWords * 32 * 16;
  constexpr size_t kPartialBytes = size_t(W) * NT * 8 * T * 16 * sizeof(float);
  constexpr size_t kSmem = kRingBytes > kPartialBytes ? kRingBytes : kPartialBytes;
  static_assert(kSmem + 1024 <= 227 * 1024, "quant_gemv: shared memory past the per-block limit");
  auto kernel = quant_gemv_kernel<F, NT, T, SC, GC, S, W, AQ, ScaleT>;
  // Static plus dynamic shared memory past 48 KB needs the opt-in: set it for every instantiation.
  static const bool opted_in = [&] {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmem)));
    return true;
  }();
  (void)opted_in;
  launch_pdl("quant_gemv_kernel", kernel, dim3(w.n / (16 * T)), dim3(W * 32), kSmem, stream, x, w, y, ldy, m, beta);
}

// Rings: 8 warps x S slots x 4 KB. T = 2 where the grid still fills the SMs twice over.
template <QuantFormat F, int NT, int GC, Fp8ActivationQuant AQ, typename ScaleT>
void gemv_by_config(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, QuantGemvConfig cfg,
                    cudaStream_t stream) {
  constexpr int kSc1 = F == QuantFormat::kInt4 ? 8 : 4, kSc2 = kSc1 / 2;
  const bool two = (w.n / 16) % 2 == 0 && w.n / 32 >= 2 * gemv_num_sms();
  // The W8A8 modes are built in the default configuration only.
  if (AQ != Fp8ActivationQuant::kNone || cfg == QuantGemvConfig::kW8S2)
    return two ? launch_gemv<F, NT, 2, kSc2, GC, 2, 8, AQ, ScaleT>(x, w, y, ldy, m, beta, stream)
               : launch_gemv<F, NT, 1, kSc1, GC, 2, 8, AQ, ScaleT>(x, w, y, ldy, m, beta, stream);
  if constexpr (AQ == Fp8ActivationQuant::kNone) {
    if (cfg == QuantGemvConfig::kW8S4)
      return two ? launch_gemv<F, NT, 2, kSc2, GC, 4, 8, AQ, ScaleT>(x, w, y, ldy, m, beta, stream)
                 : launch_gemv<F, NT, 1, kSc1, GC, 4, 8, AQ, ScaleT>(x, w, y, ldy, m, beta, stream);
  }
  throw Error("quant_gemv: unknown configuration");
}

template <int NT>
void gemv_by_format(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, QuantGemvConfig cfg,
                    Fp8ActivationQuant aq, cudaStream_t stream) {
  if (w.format == QuantFormat::kFp8) {
    switch (aq) {
    case Fp8ActivationQuant::kNone:
      return gemv_by_config<QuantFormat::kFp8, NT, 2, Fp8ActivationQuant::kNone, float>(x, w, y, ldy, m, beta, cfg, stream);
    case Fp8ActivationQuant::kPerToken:
      return gemv_by_config<QuantFormat::kFp8, NT, 2, Fp8ActivationQuant::kPerToken, float>(x, w, y, ldy, m, beta, cfg,
                                                                                           stream);
    case Fp8ActivationQuant::kPerTokenGroup128:
      return gemv_by_config<QuantFormat::kFp8, NT, 2, Fp8ActivationQuant::kPerTokenGroup128, float>(x, w, y, ldy, m, beta,
                                                                                                   cfg, stream);
    }
  }
  if (aq != Fp8ActivationQuant::kNone) throw Error("quant_gemv: activation quantization is served for fp8 weights only");
  if (w.group_size == 64)
    return gemv_by_config<QuantFormat::kInt4, NT, 1, Fp8ActivationQuant::kNone, __half>(x, w, y, ldy, m, beta, cfg, stream);
  return gemv_by_config<QuantFormat::kInt4, NT, 2, Fp8ActivationQuant::kNone, __half>(x, w, y, ldy, m, beta, cfg, stream);
}

} // namespace

QuantGemvConfig default_quant_gemv_config() {
  static const QuantGemvConfig cfg = [] {
    const char* v = std::getenv("PAGODA_QUANT_GEMV_RING");
    return v != nullptr && std::string(v) == "w8s4" ? QuantGemvConfig::kW8S4 : QuantGemvConfig::kW8S2;
  }();
  return cfg;
}

const char* quant_gemv_config_name(QuantGemvConfig cfg) { return cfg == QuantGemvConfig::kW8S4 ? "w8s4" : "w8s2"; }

void quant_gemv(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, void* workspace,
                size_t workspace_bytes, cudaStream_t stream, QuantGemvConfig cfg, Fp8ActivationQuant aq) {
  if (m < 1 || m > kQuantGemvMaxRows)
    throw Error("quant_gemv: m " + std::to_string(m) + " is outside 1.." + std::to_string(kQuantGemvMaxRows));
  if (ldy < w.n) throw Error("quant_gemv: the row stride of y is shorter than a row");
  if (w.n <= 0 || w.n % 16 != 0 || w.k <= 0 || w.k % kQuantChunk != 0)
    throw Error("quant_gemv: weight shape " + std::to_string(w.n) + " x " + std::to_string(w.k) +
                " is not a multiple of 16 x 64");
  if (w.group_size != 64 && w.group_size != 128)
    throw Error("quant_gemv: group size " + std::to_string(w.group_size) + " (64 or 128 are served)");
  if (w.k % w.group_size != 0)
    throw Error("quant_gemv: k " + std::to_string(w.k) + " is not a multiple of the group size");
  if (w.format == QuantFormat::kFp8 && w.group_size != 128)
    throw Error("quant_gemv: fp8 weights use 128-wide scale groups");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w.packed) % 16 != 0)
    throw Error("quant_gemv: x and the packed weight must be 16-byte aligned");
  if (w.perm) {
    if (workspace == nullptr || workspace_bytes < quant_gemm_workspace_bytes(w, m))
      throw Error("quant_gemv: an act-order weight needs a workspace of " +
                  std::to_string(quant_gemm_workspace_bytes(w, m)) + " bytes");
    gather_columns(x, w.perm, static_cast<bf16*>(workspace), m, w.k, stream);
    x = static_cast<const bf16*>(workspace);
  }
  if (m <= 8) return gemv_by_format<1>(x, w, y, ldy, m, beta, cfg, aq, stream);
  return gemv_by_format<2>(x, w, y, ldy, m, beta, cfg, aq, stream);
}

} // namespace pagoda::cuda
