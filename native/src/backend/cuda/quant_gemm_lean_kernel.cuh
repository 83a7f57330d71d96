// The lean decode kernel quant_gemm_lean_kernel (see quant_gemm_lean.cu for its design) and its choice of
// template arguments, written over primitives its includer provides, so the same source runs on the GPU
// (quant_gemm_lean.cu) and in a host emulation (tests/cuda/quant_gemm_lean_emulation_test.cpp).
// Expected: LEAN_DEVICE (qualifiers of a device function), LEAN_KERNEL(threads, min_blocks) (the kernel's
// declaration), LEAN_SHARED_PARTIAL(name, W) (float name[W][8][20] in shared memory); threadIdx, blockIdx,
// __syncthreads, __ldcs, pdl_wait, pdl_launch_dependents, mma_bf16_16816, and cuda_bf16.h / cuda_fp16.h.
#pragma once

#include <cstdint>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/quantized_weight.h"

namespace pagoda::cuda::lean {

using bf16 = __nv_bfloat16;


LEAN_DEVICE float lean_scale(const __half* s) { return __half2float(*s); }
LEAN_DEVICE float lean_scale(const float* s) { return *s; }

// prmt.b32 in its default mode: a selector nibble with bit 3 set replicates the sign of the byte
// its low 3 bits name (what __byte_perm does not promise).
LEAN_DEVICE uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
  return d;
#else
  const uint64_t bytes = (uint64_t(b) << 32) | a;
  uint32_t d = 0;
  for (int i = 0; i < 4; ++i) {
    const uint32_t s = (sel >> (4 * i)) & 0xF, byte = uint32_t(bytes >> (8 * (s & 7))) & 0xFF;
    d |= ((s & 8) ? ((byte & 0x80) ? 0xFFu : 0u) : byte) << (8 * i);
  }
  return d;
#endif
}

// Bytes lo and hi of w (e4m3 codes) as a bf16 pair: sel puts byte lo and its sign extension in the
// low half, byte hi and its sign extension in the high half.
template <uint32_t Sel> LEAN_DEVICE uint32_t e4m3_pair(uint32_t w) {
  return bf16x2_mul((prmt(w, 0u, Sel) << 4) & 0x87F087F0u, kBf16Pow2_120);
}

template <QuantFormat F> struct LeanWords;
template <> struct LeanWords<QuantFormat::kInt4> { static constexpr int kCount = 1; };
template <> struct LeanWords<QuantFormat::kFp8> { static constexpr int kCount = 2; };

// F: format; G: 64-wide chunks per scale group; D: ring stages (even); W: warps of a CTA (chosen as
// quant_gemm chooses for m <= 8, since the split of k over warps fixes the summation order; the int4 fold also
// comes with W = 1 and 2: fewer warps split k, so each streams more groups over its fixed costs, in more CTAs an
// SM, B * 4 / W, at the same registers);
// Z: int4 zero points present; GS: the scale changes with the group (else loaded once); ScaleT:
// __half (int4) or float (fp8); B: CTAs of four warps an SM the registers must allow (5: 96 registers,
// 4: 128). D changes when loads are issued, never the arithmetic: every D gives the same bits.
// FOLD (int4 only, PAGODA_INT4_FOLD): the mma runs on the biased codes 128 + q as they come out of the LOP3, with no
// HSUB2 per pair, and a second mma a k-step on the same x fragment with the constant A fragment -(128 + z) (exact in
// bf16: 128 + z < 256 needs 8 significant bits) adds -(128 + z) * sum_k x into its own accumulator; the group's
// partial is the sum of both: sum (q - z) x. Two accumulator chains, so the second mma does not lengthen the
// dependent HMMA chain; 4 FADD a group join them. Not bit-identical to FOLD = false (f32 terms ~136|x| that cancel).
// x and y carry no __restrict__: the kernel before this one in a PDL chain writes x while this one runs,
// and const + restrict lets the compiler read x through the non-coherent path (ld.global.nc), which the
// memory model behind griddepcontrol.wait does not cover and ptxas may schedule before it (stale x).
// R (FOLD only): 16-row tiles a CTA, each warp streaming all R over its groups: R = 2 shares each x fragment
// (its loads, and for GPTQ sym the zero mma, whose -136 does not depend on the row) between two tiles and halves
// the fixed costs a weight (pointer setup, reduction); R = 1 is the kernel of before.
template <QuantFormat F, int G, int D, int W, bool Z, bool GS, typename ScaleT, int B = 5, bool FOLD = false, int R = 1>
LEAN_KERNEL(W * 32, W == 8 ? (B >= 4 ? 2 : 1) : B * 4 / W)
    quant_gemm_lean_kernel(const bf16* x, const QuantizedWeight w, bf16* y, int ldy, int m, float beta) {
  static_assert(D % 2 == 0, "the x ring is indexed by a group's parity");
  static_assert(!FOLD || F == QuantFormat::kInt4, "the fold is int4's");
  static_assert(R == 1 || (FOLD && GS), "two row tiles come with the fold");
  constexpr int kW = LeanWords<F>::kCount;
  constexpr int kZR = Z ? R : 1; // FOLD: zero-mma accumulators (sym: one for every tile)
  LEAN_SHARED_PARTIAL(partial, W * R); // float [W * R][8][16 + 4]: warp v's tile r at v * R + r

  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * 16 * R;
  const int k = w.k;
  const int groups = k / (G * kQuantChunk);
  const int count = warp < groups ? (groups - warp + W - 1) / W : 0; // this warp's groups: warp, warp + W, ...

  // Cursors at this warp's first group; each load moves its cursor on by W groups.
  const uint4* wq = static_cast<const uint4*>(w.packed) + (int64_t(blockIdx.x) * R * (k / kQuantChunk) + warp * G) * 32 + lane;
  const int64_t wq_tile = int64_t(k / kQuantChunk) * 32; // R = 2: the next 16-row tile's words
  const uint8_t* wf = static_cast<const uint8_t*>(w.packed) + int64_t(row0 + g) * k + 16 * t + warp * G * kQuantChunk;
  const int64_t wf_h = int64_t(8) * k; // row g + 8
  const ScaleT* sp[R][2];
  const uint8_t* zp[R][2];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = row0 + 16 * r + g + 8 * h;
      sp[r][h] = static_cast<const ScaleT*>(w.scales) + warp * w.scale_index.group_stride +
                 int64_t(row >> w.scale_index.row_shift) * w.scale_index.row_stride;
      zp[r][h] = Z ? w.zeros + int64_t(warp) * w.n + row : nullptr;
    }
  const int64_t s_step = W * w.scale_index.group_stride, z_step = int64_t(W) * w.n;

  struct Stage {
    uint4 words[G][kW * R]; // int4: [c][tile]; fp8: [c][row g / g + 8]
    float scale[R][2];
    uint32_t zero2[R][2]; // int4 with zero points: the bf16 pair 128 + z of rows g and g + 8 (FOLD: -(128 + z))
  };
  float fixed_scale[2] = {0.f, 0.f};
  if constexpr (!GS) {
#pragma unroll
    for (int h = 0; h < 2; ++h) fixed_scale[h] = lean_scale(sp[0][h]);
  }
  auto load = [&](Stage& st) {
#pragma unroll
    for (int c = 0; c < G; ++c) {
      if constexpr (F == QuantFormat::kInt4) {
#pragma unroll
        for (int r = 0; r < R; ++r) st.words[c][r] = __ldcs(wq + c * 32 + r * wq_tile);
      } else {
        st.words[c][0] = __ldcs(reinterpret_cast<const uint4*>(wf + c * kQuantChunk));
        st.words[c][1] = __ldcs(reinterpret_cast<const uint4*>(wf + wf_h + c * kQuantChunk));
      }
    }
    wq += W * G * 32;
    wf += W * G * kQuantChunk;
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if constexpr (GS) {
          st.scale[r][h] = lean_scale(sp[r][h]);
          sp[r][h] += s_step;
        }
        if constexpr (Z) {
          st.zero2[r][h] = uint32_t(*zp[r][h]) * 0x00010001u + (FOLD ? 0xC300C300u : 0x43004300u); // FOLD: -(128 + z)
          zp[r][h] += z_step;
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

  float acc[R][4] = {};
  for (int j0 = 0; j0 < count; j0 += D) {
#pragma unroll
    for (int d = 0; d < D; ++d) {
      const int j = j0 + d;
      if (j >= count) break; // warp-uniform; only the last round
      if (j + 1 < count) load_x(xr[(d + 1) & 1]);
      Stage& st = ring[d];
      const XFrag& xf = xr[d & 1];
      float part[R][4] = {};
      float zpart[kZR][4] = {}; // FOLD: -(128 + z) * sum_k x, rows g / g + 8
      uint32_t zneg[kZR][2]; // FOLD: bf16 pair -(128 + z) of rows g / g + 8 (sym: -136)
#pragma unroll
      for (int r = 0; r < kZR; ++r)
#pragma unroll
        for (int h = 0; h < 2; ++h) zneg[r][h] = FOLD && Z ? st.zero2[r][h] : 0xC308C308u;
#pragma unroll
      for (int c = 0; c < G; ++c) {
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          const uint4& xv = xf[c][s >> 1];
          const uint32_t b0 = (s & 1) ? xv.z : xv.x, b1 = (s & 1) ? xv.w : xv.y;
#pragma unroll
          for (int r = 0; r < R; ++r) {
            uint32_t a[4];
            if constexpr (F == QuantFormat::kInt4) {
              const uint32_t word = (&st.words[c][r].x)[s];
#pragma unroll
              for (int i = 0; i < 4; ++i) {
                const uint32_t biased = ((word >> (4 * i)) & 0x000F000Fu) | 0x43004300u; // 128 + q
                if constexpr (FOLD) a[i] = biased;
                else a[i] = bf16x2_sub(biased, Z ? st.zero2[0][i & 1] : 0x43084308u);
              }
            } else {
              const uint32_t rg = (&st.words[c][0].x)[s], r8 = (&st.words[c][1].x)[s];
              a[0] = e4m3_pair<0x9180u>(rg); // bytes 0, 1 of row g
              a[1] = e4m3_pair<0x9180u>(r8);
              a[2] = e4m3_pair<0xB3A2u>(rg); // bytes 2, 3
              a[3] = e4m3_pair<0xB3A2u>(r8);
            }
            mma_bf16_16816(part[r], a[0], a[1], a[2], a[3], b0, b1);
          }
          if constexpr (FOLD) {
#pragma unroll
            for (int r = 0; r < kZR; ++r) mma_bf16_16816(zpart[r], zneg[r][0], zneg[r][1], zneg[r][0], zneg[r][1], b0, b1);
          }
        }
      }
      // Accumulator element e: weight row g (+8 for e >= 2), input row 2t (+1 for odd e).
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          if constexpr (FOLD) part[r][e] += zpart[Z ? r : 0][e];
          acc[r][e] += part[r][e] * (GS ? st.scale[r][e >> 1] : fixed_scale[e >> 1]);
        }
      if (j + D < count) load(st);
    }
  }

#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int e = 0; e < 4; ++e) partial[warp * R + r][2 * t + (e & 1)][g + (e >> 1) * 8] = acc[r][e];
  __syncthreads();
  for (int idx = threadIdx.x; idx < m * 16 * R; idx += W * 32) {
    const int i = idx / (16 * R), r = idx % (16 * R); // input row i, row r of the CTA's 16 * R
    float s = 0.f;
#pragma unroll
    for (int v = 0; v < W; ++v) s += partial[v * R + r / 16][i][r % 16];
    bf16* out = y + int64_t(i) * ldy + row0 + r;
    if (beta != 0.f) s += beta * __bfloat162float(*out);
    *out = __float2bfloat16(s);
  }
}

// The kernel quant_gemm_lean runs for w with W warps a CTA (the launcher picks W as quant_gemm does).
using LeanKernel = void (*)(const bf16*, const QuantizedWeight, bf16*, int, int, float);
// deep: int4 g128 and fp8 stream four stages of a group instead of two (twice the bytes in flight a warp)
// at 128 registers (4 CTAs of four warps an SM instead of 5); int4 g64 has four stages either way.
// fold (int4 only): the FOLD variants, same stages and registers budget as their non-fold twins; W 1, 2, 4, 8.
// tiles 2: two 16-row tiles a CTA (n a multiple of 32), two stages for g128 and four for g64 (deep ignored), at
// 128 registers (B 4) without zero points; with them 168 (B 3: at 128 they spill 128-228 bytes, ptxas -v).
template <int W> LeanKernel lean_fold_kernel_for(const QuantizedWeight& w, bool deep, int tiles = 1) {
  using F = QuantFormat;
  if (tiles == 2) {
    if (w.group_size == 128) {
      if (w.zeros) return quant_gemm_lean_kernel<F::kInt4, 2, 2, W, true, true, __half, 3, true, 2>;
      return quant_gemm_lean_kernel<F::kInt4, 2, 2, W, false, true, __half, 4, true, 2>;
    }
    if (w.zeros) return quant_gemm_lean_kernel<F::kInt4, 1, 4, W, true, true, __half, 3, true, 2>;
    return quant_gemm_lean_kernel<F::kInt4, 1, 4, W, false, true, __half, 4, true, 2>;
  }
  if (w.group_size == 128) {
    if (w.zeros) {
      if (deep) return quant_gemm_lean_kernel<F::kInt4, 2, 4, W, true, true, __half, 4, true>;
      return quant_gemm_lean_kernel<F::kInt4, 2, 2, W, true, true, __half, 5, true>;
    }
    if (deep) return quant_gemm_lean_kernel<F::kInt4, 2, 4, W, false, true, __half, 4, true>;
    return quant_gemm_lean_kernel<F::kInt4, 2, 2, W, false, true, __half, 5, true>;
  }
  if (w.zeros) return quant_gemm_lean_kernel<F::kInt4, 1, 4, W, true, true, __half, 5, true>;
  return quant_gemm_lean_kernel<F::kInt4, 1, 4, W, false, true, __half, 5, true>;
}

template <int W> LeanKernel lean_kernel_for(const QuantizedWeight& w, bool deep, bool fold = false) {
  if (fold && w.format == QuantFormat::kInt4) return lean_fold_kernel_for<W>(w, deep);
  if (w.format == QuantFormat::kFp8) {
    if (w.scale_index.group_stride != 0) {
      if (deep) return quant_gemm_lean_kernel<QuantFormat::kFp8, 2, 4, W, false, true, float, 4>;
      return quant_gemm_lean_kernel<QuantFormat::kFp8, 2, 2, W, false, true, float>;
    }
    if (deep) return quant_gemm_lean_kernel<QuantFormat::kFp8, 2, 4, W, false, false, float, 4>;
    return quant_gemm_lean_kernel<QuantFormat::kFp8, 2, 2, W, false, false, float>;
  }
  // int4 g128: two stages of 2 chunks by default (four spill at 96 registers); g64: four of one.
  if (w.group_size == 128) {
    if (w.zeros) {
      if (deep) return quant_gemm_lean_kernel<QuantFormat::kInt4, 2, 4, W, true, true, __half, 4>;
      return quant_gemm_lean_kernel<QuantFormat::kInt4, 2, 2, W, true, true, __half>;
    }
    if (deep) return quant_gemm_lean_kernel<QuantFormat::kInt4, 2, 4, W, false, true, __half, 4>;
    return quant_gemm_lean_kernel<QuantFormat::kInt4, 2, 2, W, false, true, __half>;
  }
  if (w.zeros) return quant_gemm_lean_kernel<QuantFormat::kInt4, 1, 4, W, true, true, __half>;
  return quant_gemm_lean_kernel<QuantFormat::kInt4, 1, 4, W, false, true, __half>;
}

} // namespace pagoda::cuda::lean
