// quant_gemm's decode kernel for m <= 8 on fewer instructions a weight (PAGODA_QUANT_GEMM_LEAN=1):
// the same weight layouts, fragments, per-group f32 partials and summation order, so its output is bit-identical.
//
// What differs from quant_gemm_kernel<NT = 1> is only how the loop gets there:
//   - a warp's groups stream through a ring of D stages (weights, scales, zero points) indexed by
//     compile-time constants (the loop is unrolled by D), so no `cur = next` register copies, and
//     its x fragments through a ring of two (D is even, so a group's x slot is its parity);
//   - every address is a pointer bumped by a constant stride per group (no int64 multiply, no
//     clamp of the group index), and a stage is only loaded for a live group (a warp-uniform
//     branch), never as a zero-select;
//   - x rows past m read row 0 instead of a predicated zero: an mma column only feeds its own
//     output column, and columns past m are never stored;
//   - scales stay in registers for the whole call where they do not change with the group (fp8
//     per-channel), and the zero points are a constant where the weight has none (GPTQ sym);
//   - e4m3 pairs come from one prmt that sign-extends each byte to 16 bits (the sign lands on bit
//     11 and on bit 15 after the 4-bit shift), then one mask and the exact multiply by 2^120: the
//     same bf16 bits as e4m3_even / e4m3_odd in four instructions instead of five.
#include "backend/cuda/quant_gemm_lean.h"

#include <cuda_fp16.h>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"

namespace pagoda::cuda {

namespace {

__device__ __forceinline__ float lean_scale(const __half* s) { return __half2float(*s); }
__device__ __forceinline__ float lean_scale(const float* s) { return *s; }

// prmt.b32 in its default mode: a selector nibble with bit 3 set replicates the sign of the byte
// its low 3 bits name (what __byte_perm does not promise).
__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
  return d;
}

// Bytes lo and hi of w (e4m3 codes) as a bf16 pair: sel puts byte lo and its sign extension in the
// low half, byte hi and its sign extension in the high half.
template <uint32_t Sel> __device__ __forceinline__ uint32_t e4m3_pair(uint32_t w) {
  return bf16x2_mul((prmt(w, 0u, Sel) << 4) & 0x87F087F0u, kBf16Pow2_120);
}

template <QuantFormat F> struct LeanWords;
template <> struct LeanWords<QuantFormat::kInt4> { static constexpr int kCount = 1; };
template <> struct LeanWords<QuantFormat::kFp8> { static constexpr int kCount = 2; };

} // namespace

// F: format; G: 64-wide chunks per scale group; D: ring stages (even); W: warps of a CTA (chosen as
// quant_gemm chooses for m <= 8, since the split of k over warps fixes the summation order);
// Z: int4 zero points present; GS: the scale changes with the group (else loaded once); ScaleT:
// __half (int4) or float (fp8).
template <QuantFormat F, int G, int D, int W, bool Z, bool GS, typename ScaleT>
__global__ void __launch_bounds__(W * 32, W == 4 ? 5 : 2)
    quant_gemm_lean_kernel(const bf16* __restrict__ x, const QuantizedWeight w, bf16* __restrict__ y, int ldy, int m,
                           float beta) {
  static_assert(D % 2 == 0, "the x ring is indexed by a group's parity");
  constexpr int kW = LeanWords<F>::kCount;
  __shared__ float partial[W][8][16 + 4];

  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * 16;
  const int k = w.k;
  const int groups = k / (G * kQuantChunk);
  const int count = warp < groups ? (groups - warp + W - 1) / W : 0; // this warp's groups: warp, warp + W, ...

  // Cursors at this warp's first group; each load moves its cursor on by W groups.
  const uint4* wq = static_cast<const uint4*>(w.packed) + (int64_t(blockIdx.x) * (k / kQuantChunk) + warp * G) * 32 + lane;
  const uint8_t* wf = static_cast<const uint8_t*>(w.packed) + int64_t(row0 + g) * k + 16 * t + warp * G * kQuantChunk;
  const int64_t wf_h = int64_t(8) * k; // row g + 8
  const ScaleT* sp[2];
  const uint8_t* zp[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = row0 + g + 8 * h;
    sp[h] = static_cast<const ScaleT*>(w.scales) + warp * w.scale_index.group_stride +
            int64_t(row >> w.scale_index.row_shift) * w.scale_index.row_stride;
    zp[h] = Z ? w.zeros + int64_t(warp) * w.n + row : nullptr;
  }
  const int64_t s_step = W * w.scale_index.group_stride, z_step = int64_t(W) * w.n;

  struct Stage {
    uint4 words[G][kW];
    float scale[2];
    uint32_t zero2[2]; // int4 with zero points: the bf16 pair 128 + z of rows g and g + 8
  };
  float fixed_scale[2] = {0.f, 0.f};
  if constexpr (!GS) {
#pragma unroll
    for (int h = 0; h < 2; ++h) fixed_scale[h] = lean_scale(sp[h]);
  }
  auto load = [&](Stage& st) {
#pragma unroll
    for (int c = 0; c < G; ++c) {
      if constexpr (F == QuantFormat::kInt4) {
        st.words[c][0] = __ldcs(wq + c * 32);
      } else {
        st.words[c][0] = __ldcs(reinterpret_cast<const uint4*>(wf + c * kQuantChunk));
        st.words[c][1] = __ldcs(reinterpret_cast<const uint4*>(wf + wf_h + c * kQuantChunk));
      }
    }
    wq += W * G * 32;
    wf += W * G * kQuantChunk;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      if constexpr (GS) {
        st.scale[h] = lean_scale(sp[h]);
        sp[h] += s_step;
      }
      if constexpr (Z) {
        st.zero2[h] = uint32_t(*zp[h]) * 0x00010001u + 0x43004300u;
        zp[h] += z_step;
      }
    }
  };

  Stage ring[D];
#pragma unroll
  for (int d = 0; d < D; ++d)
    if (d < count) load(ring[d]);
  pdl_wait(); // the weights depend on no kernel; x does

  // x fragments of a group: 16 bf16 per chunk at k = 16t.., input row g (row 0 where g >= m).
  using XFrag = uint4[G][2];
  const bf16* xp = x + int64_t(g < m ? g : 0) * k + 16 * t + warp * G * kQuantChunk;
  auto load_x = [&](XFrag& dst) {
#pragma unroll
    for (int c = 0; c < G; ++c)
#pragma unroll
      for (int h = 0; h < 2; ++h) dst[c][h] = *reinterpret_cast<const uint4*>(xp + c * kQuantChunk + 8 * h);
    xp += W * G * kQuantChunk;
  };
  XFrag xr[2];
  if (count > 0) load_x(xr[0]);

  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int j0 = 0; j0 < count; j0 += D) {
#pragma unroll
    for (int d = 0; d < D; ++d) {
      const int j = j0 + d;
      if (j >= count) break; // warp-uniform; only the last round
      if (j + 1 < count) load_x(xr[(d + 1) & 1]);
      Stage& st = ring[d];
      const XFrag& xf = xr[d & 1];
      float part[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int c = 0; c < G; ++c) {
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          uint32_t a[4];
          if constexpr (F == QuantFormat::kInt4) {
            const uint32_t word = (&st.words[c][0].x)[s];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              const uint32_t biased = ((word >> (4 * i)) & 0x000F000Fu) | 0x43004300u; // 128 + q
              a[i] = bf16x2_sub(biased, Z ? st.zero2[i & 1] : 0x43084308u);
            }
          } else {
            const uint32_t rg = (&st.words[c][0].x)[s], r8 = (&st.words[c][1].x)[s];
            a[0] = e4m3_pair<0x9180u>(rg); // bytes 0, 1 of row g
            a[1] = e4m3_pair<0x9180u>(r8);
            a[2] = e4m3_pair<0xB3A2u>(rg); // bytes 2, 3
            a[3] = e4m3_pair<0xB3A2u>(r8);
          }
          const uint4& xv = xf[c][s >> 1];
          mma_bf16_16816(part, a[0], a[1], a[2], a[3], (s & 1) ? xv.z : xv.x, (s & 1) ? xv.w : xv.y);
        }
      }
      // Accumulator element e: weight row g (+8 for e >= 2), input row 2t (+1 for odd e).
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[e] += part[e] * (GS ? st.scale[e >> 1] : fixed_scale[e >> 1]);
      if (j + D < count) load(st);
    }
  }

#pragma unroll
  for (int e = 0; e < 4; ++e) partial[warp][2 * t + (e & 1)][g + (e >> 1) * 8] = acc[e];
  __syncthreads();
  for (int idx = threadIdx.x; idx < m * 16; idx += W * 32) {
    const int i = idx / 16, r = idx % 16;
    float s = 0.f;
#pragma unroll
    for (int v = 0; v < W; ++v) s += partial[v][i][r];
    bf16* out = y + int64_t(i) * ldy + row0 + r;
    if (beta != 0.f) s += beta * __bfloat162float(*out);
    *out = __float2bfloat16(s);
  }
}

namespace {

template <QuantFormat F, int G, int D, bool Z, bool GS, typename ScaleT>
void lean_by_warps(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, cudaStream_t stream) {
  // quant_gemm's rule for one n8 tile: eight warps while the CTAs fit one wave of 16 warps an SM.
  const bool eight = int64_t(w.n / 16) * 8 <= int64_t(device_sm_count()) * 16;
  if (eight)
    return launch_pdl("quant_gemm_lean_kernel", quant_gemm_lean_kernel<F, G, D, 8, Z, GS, ScaleT>, dim3(w.n / 16),
                      dim3(256), 0, stream, x, w, y, ldy, m, beta);
  launch_pdl("quant_gemm_lean_kernel", quant_gemm_lean_kernel<F, G, D, 4, Z, GS, ScaleT>, dim3(w.n / 16), dim3(128), 0,
             stream, x, w, y, ldy, m, beta);
}

} // namespace

bool quant_gemm_lean_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_QUANT_GEMM_LEAN");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

void launch_quant_gemm_lean(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta,
                            cudaStream_t stream) {
  if (w.format == QuantFormat::kFp8) {
    if (w.scale_index.group_stride != 0) return lean_by_warps<QuantFormat::kFp8, 2, 2, false, true, float>(x, w, y, ldy, m, beta, stream);
    return lean_by_warps<QuantFormat::kFp8, 2, 2, false, false, float>(x, w, y, ldy, m, beta, stream);
  }
  if (w.group_size == 128) {
    if (w.zeros) return lean_by_warps<QuantFormat::kInt4, 2, 2, true, true, __half>(x, w, y, ldy, m, beta, stream);
    return lean_by_warps<QuantFormat::kInt4, 2, 2, false, true, __half>(x, w, y, ldy, m, beta, stream);
  }
  if (w.zeros) return lean_by_warps<QuantFormat::kInt4, 1, 4, true, true, __half>(x, w, y, ldy, m, beta, stream);
  return lean_by_warps<QuantFormat::kInt4, 1, 4, false, true, __half>(x, w, y, ldy, m, beta, stream);
}

} // namespace pagoda::cuda
