// The lean decode kernel quant_gemm_lean_kernel (see quant_gemm_lean.cu for its design) and its choice of
// template arguments, written over primitives its includer provides, so the same source runs on the GPU
// (quant_gemm_lean.cu) and in a host emulation (tests/cuda/quant_gemm_lean_emulation_test.cpp).
// Expected: LEAN_DEVICE (qualifiers of a device function), LEAN_KERNEL(threads, min_blocks) (the kernel's
// declaration), LEAN_SHARED_PARTIAL(name, W) (float name[W][8][20] in shared memory), LEAN_SHARED_NORM(name, W) (a
// SplitNormPartials in shared memory); threadIdx, blockIdx,
// __syncthreads, __ldcs, pdl_wait, pdl_launch_dependents, mma_bf16_16816, and cuda_bf16.h / cuda_fp16.h.
#pragma once

#include <cstdint>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/qkv_rope.cuh"
#include "backend/cuda/quantized_weight.h"
#include "backend/cuda/split_norm.cuh"

namespace pagoda::cuda::lean {

using bf16 = __nv_bfloat16;


LEAN_DEVICE float lean_scale(__half s) { return __half2float(s); }
LEAN_DEVICE float lean_scale(float s) { return s; }

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

// Output (i, r) of S's epilogue from the W warps' partial sums: gate (column r) and up (column r + 8), each
// rounded to bf16 as the unfused GEMM's output is, then silu(gate) * up.
// scale: row i's 1 / rms where the kernel consumes a split norm (else 1), applied before the roundings.
template <int W> LEAN_DEVICE float silu_product(const float (&partial)[W][8][16 + 4], int i, int r, float scale = 1.f) {
  float gs = 0.f, us = 0.f;
#pragma unroll
  for (int v = 0; v < W; ++v) {
    gs += partial[v][i][r];
    us += partial[v][i][r + 8];
  }
  gs *= scale;
  us *= scale;
  const float gv = __bfloat162float(__float2bfloat16(gs)), uv = __bfloat162float(__float2bfloat16(us));
  return gv / (1.f + __expf(-gv)) * uv;
}

template <QuantFormat F> struct LeanWords;
template <> struct LeanWords<QuantFormat::kInt4> { static constexpr int kCount = 1; };
template <> struct LeanWords<QuantFormat::kFp8> { static constexpr int kCount = 2; };

// F: format; G: 64-wide chunks per scale group; D: ring stages (even); W: warps of a CTA (chosen as
// quant_gemm chooses for m <= 8, since the split of k over warps fixes the summation order);
// Z: int4 zero points present; GS: the scale changes with the group (else loaded once); ScaleT:
// __half (int4) or float (fp8); B: CTAs of four warps an SM the registers must allow (5: 96 registers,
// 4: 128). D changes when loads are issued, never the arithmetic: every D gives the same bits.
// S (gate_up with its rows interleaved by 8, quant_gemm_silu; int4 or fp8 per channel): the CTA's rows 0-7 are
// gate rows 8b..8b+7 and rows 8-15 the up rows of the same outputs, so the epilogue writes silu(gate) * up to
// y[i * ldy + 8b + r] (ldy: the intermediate size; beta unused), each of gate and up rounded to bf16
// first as the GEMM's output is, then silu_mul_kernel's float formula: the bits of the unfused pair.
// A (with S; W8A8 per token, quant_gemm_silu_fp8): y is float32 staging instead, the product unrounded at
// ((float*)y)[i * ldy + 8b + r], and row i's largest |product| among the CTA's 8 at ((float*)y)[8 * ldy + i *
// gridDim.x + b], so a later kernel finds the row's amax without a grid-wide barrier here.
// R (fp8, the fused qkv weight; qkv_rope.cuh): the CTA takes its q / k rows in RoPE pairs and the epilogue rotates
// them and writes k and v to the KV cache (rope unused otherwise).
// norm (SplitNorm; not with A): as a consumer, every output of input row i times row i's 1 / rms before its
// epilogue's roundings; as a producer (the plain epilogue, beta 0), the residual add, the scaled row and the tile's
// sums instead of y.
// x and y carry no __restrict__: the kernel before this one in a PDL chain writes x while this one runs,
// and const + restrict lets the compiler read x through the non-coherent path (ld.global.nc), which the
// memory model behind griddepcontrol.wait does not cover and ptxas may schedule before it (stale x).
template <QuantFormat F, int G, int D, int W, bool Z, bool GS, typename ScaleT, int B = 5, bool S = false,
          bool A = false, bool R = false, bool C = false>
LEAN_KERNEL(W * 32, W == 4 ? B : 2)
    quant_gemm_lean_kernel(const bf16* x, const QuantizedWeight w, bf16* y, int ldy, int m, float beta,
                           const QkvRope rope, const SplitNorm norm) {
  static_assert(D % 2 == 0, "the x ring is indexed by a group's parity");
  static_assert(!A || S, "float32 staging with row maxima: the gate_up + SiLU epilogue only");
  static_assert(!R || (F == QuantFormat::kFp8 && !S), "qkv + RoPE: fp8 rows, read where they lie");
  static_assert(!C || (F == QuantFormat::kInt4 && !S && !R), "qkv + RoPE through the cluster: int4 tiles");
  constexpr int kW = LeanWords<F>::kCount;
  LEAN_SHARED_PARTIAL(partial, W); // float [W][8][16 + 4]
  LEAN_SHARED_NORM(norm_part, W);  // SplitNormPartials
  // Which side of a split norm this kernel can be (compiled out elsewhere: fp8 qkv + RoPE at 96 registers spilled
  // with it): int4 kernels consume, plain epilogues produce.
  constexpr bool kConsumes = F == QuantFormat::kInt4;
  constexpr bool kProduces = !S && !A && !R && !C;

  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * 16;
  const QkvTile tile = R ? qkv_tile(blockIdx.x, rope) : QkvTile{{row0, row0 + 8}, false};
  const int k = w.k;
  const int groups = k / (G * kQuantChunk);
  const int count = warp < groups ? (groups - warp + W - 1) / W : 0; // this warp's groups: warp, warp + W, ...

  // Cursors at this warp's first group; each load moves its cursor on by W groups.
  const uint4* wq = static_cast<const uint4*>(w.packed) + (int64_t(blockIdx.x) * (k / kQuantChunk) + warp * G) * 32 + lane;
  const uint8_t* wf = static_cast<const uint8_t*>(w.packed) + int64_t(tile.base[0] + g) * k + 16 * t + warp * G * kQuantChunk;
  const int64_t wf_h = int64_t(tile.base[1] - tile.base[0]) * k; // row g of the second 8-row block (g + 8 unless R)
  const ScaleT* sp[2];
  const uint8_t* zp[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = tile.base[h] + g;
    sp[h] = static_cast<const ScaleT*>(w.scales) + warp * w.scale_index.group_stride +
            int64_t(row >> w.scale_index.row_shift) * w.scale_index.row_stride;
    zp[h] = Z ? w.zeros + int64_t(warp) * w.n + row : nullptr;
  }
  const int64_t s_step = W * w.scale_index.group_stride, z_step = int64_t(W) * w.n;

  // A stage holds what its loads return, unconverted: an op on a loaded value inside load() would stall the warp
  // there for the whole memory round trip (Nsight: the half -> float of the group scales held 49.5% of int4
  // gate_up's stall samples), where a conversion at the use finds the value long arrived.
  struct Stage {
    uint4 words[G][kW];
    ScaleT scale[2];
    uint8_t zero[2]; // int4 with zero points: z of rows g and g + 8
  };
  float fixed_scale[2] = {0.f, 0.f};
  if constexpr (!GS) {
#pragma unroll
    for (int h = 0; h < 2; ++h) fixed_scale[h] = lean_scale(*sp[h]);
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
        st.scale[h] = *sp[h];
        sp[h] += s_step;
      }
      if constexpr (Z) {
        st.zero[h] = *zp[h];
        zp[h] += z_step;
      }
    }
  };

  Stage ring[D];
#pragma unroll
  for (int d = 0; d < D; ++d)
    if (d < count) load(ring[d]);
  QkvRopeLane rope_lane; // step inputs only, so before the wait too, behind the first weight loads
  if constexpr (R) rope_lane = qkv_rope_angle(rope, tile, threadIdx.x, m);
  if constexpr (C) rope_lane = qkv_rope_cluster_angle(rope, row0, threadIdx.x, m);
  pdl_wait(); // the weights depend on no kernel; x does
  SplitNormOperands norm_ops;
  if constexpr (kProduces) norm_ops = split_norm_preload(norm, m, threadIdx.x, row0);
  // Row i's 1 / rms where this kernel consumes a split norm, else 1.
  auto norm_scale = [&](int i) { return kConsumes ? split_norm_scale(norm, norm_part, i) : 1.f; };

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
  if constexpr (kConsumes) split_norm_gather(norm, m, threadIdx.x, W * 32, norm_part);

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
      uint32_t zero2[2] = {0u, 0u}; // the bf16 pair 128 + z of rows g and g + 8
      if constexpr (Z) {
#pragma unroll
        for (int h = 0; h < 2; ++h) zero2[h] = uint32_t(st.zero[h]) * 0x00010001u + 0x43004300u;
      }
#pragma unroll
      for (int c = 0; c < G; ++c) {
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          uint32_t a[4];
          if constexpr (F == QuantFormat::kInt4) {
            const uint32_t word = (&st.words[c][0].x)[s];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              const uint32_t biased = int4_pair_biased(word >> (4 * i)); // 128 + q
              a[i] = bf16x2_sub(biased, Z ? zero2[i & 1] : 0x43084308u);
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
      for (int e = 0; e < 4; ++e) acc[e] += part[e] * (GS ? lean_scale(st.scale[e >> 1]) : fixed_scale[e >> 1]);
      if (j + D < count) load(st);
    }
  }

#pragma unroll
  for (int e = 0; e < 4; ++e) partial[warp][2 * t + (e & 1)][g + (e >> 1) * 8] = acc[e];
  __syncthreads();
  if constexpr (A) {
    // One thread an output (m * 8 <= 64 < W * 32). The 8 |products| of row i meet in partial's padding
    // columns (16..19 of warps 0 and 1, read by no one above), and its first thread writes their max.
    float* yf = reinterpret_cast<float*>(y);
    const int idx = threadIdx.x, i = idx / 8, r = idx % 8;
    const bool live = idx < m * 8;
    if (live) {
      const float product = silu_product<W>(partial, i, r);
      yf[int64_t(i) * ldy + blockIdx.x * 8 + r] = product;
      partial[r >> 2][i][16 + (r & 3)] = fabsf(product);
    }
    __syncthreads();
    if (live && r == 0) {
      float amax = 0.f;
#pragma unroll
      for (int q = 0; q < 8; ++q) amax = fmaxf(amax, partial[q >> 2][i][16 + (q & 3)]);
      yf[int64_t(8) * ldy + int64_t(i) * gridDim.x + blockIdx.x] = amax;
    }
  } else if constexpr (C) {
#if defined(__CUDACC__)
    __shared__ float xchg[8][16];
    qkv_rope_cluster_epilogue(rope, row0, m, y, ldy, rope_lane, xchg, [&](int i, int r) {
      float s = 0.f;
#pragma unroll
      for (int v = 0; v < W; ++v) s += partial[v][i][r];
      return s * norm_scale(i);
    });
#endif
  } else if constexpr (R) {
    qkv_rope_epilogue(rope, tile, m, y, ldy, rope_lane, threadIdx.x, W * 32, [&](int i, int r) {
      float s = 0.f;
#pragma unroll
      for (int v = 0; v < W; ++v) s += partial[v][i][r];
      return s * norm_scale(i);
    });
  } else if constexpr (S) {
    for (int idx = threadIdx.x; idx < m * 8; idx += W * 32) {
      const int i = idx / 8, r = idx % 8;
      y[int64_t(i) * ldy + blockIdx.x * 8 + r] =
          __float2bfloat16(silu_product<W>(partial, i, r, norm_scale(i)));
    }
  } else {
    for (int idx = threadIdx.x; idx < m * 16; idx += W * 32) {
      const int i = idx / 16, r = idx % 16;
      float s = 0.f;
#pragma unroll
      for (int v = 0; v < W; ++v) s += partial[v][i][r];
      s *= norm_scale(i);
      if (kProduces && norm.residual != nullptr) {
        norm_part[i][r] = split_norm_add(norm, i, row0 + r, s, norm_ops); // idx == tid: m * 16 <= W * 32
        continue;
      }
      bf16* out = y + int64_t(i) * ldy + row0 + r;
      if (beta != 0.f) s += beta * __bfloat162float(*out);
      *out = __float2bfloat16(s);
    }
    if (kProduces && norm.residual != nullptr) {
      __syncthreads();
      split_norm_store_sums(norm, m, threadIdx.x, blockIdx.x, norm_part);
    }
  }
}

// The kernel quant_gemm_lean runs for w with W warps a CTA (the launcher picks W as quant_gemm does).
using LeanKernel = void (*)(const bf16*, const QuantizedWeight, bf16*, int, int, float, const QkvRope, const SplitNorm);
// deep: int4 g128 and fp8 stream four stages of a group instead of two (twice the bytes in flight a warp)
// at 128 registers (4 CTAs of four warps an SM instead of 5); int4 g64 has four stages either way.
// S: the gate_up + SiLU·mul variant (int4, fp8 per channel; null for fp8 blocks, whose 128-row scale blocks do
// not survive the interleave), the same choice of G, D and B as S = false, so the same summation order.
// A (fp8 only, with S; null otherwise): float32 staging and row maxima for a per-token fake quantization after.
// R (fp8 only, not with S; null otherwise): the qkv + RoPE + KV write epilogue.
// C (int4 only, not with S; null otherwise): the qkv + RoPE + KV write epilogue through a cluster of CTAs.
template <int W, bool S = false, bool A = false, bool R = false, bool C = false>
LeanKernel lean_kernel_for(const QuantizedWeight& w, bool deep) {
  static_assert(!A || S, "A needs S");
  static_assert(!R || !S, "R and S are different epilogues");
  static_assert(!C || (!S && !R), "C is an epilogue of its own");
  if (w.format == QuantFormat::kFp8) {
    if constexpr (C) return nullptr;
    if (w.scale_index.group_stride != 0) {
      if constexpr (S) {
        return nullptr;
      } else {
        if (deep) return quant_gemm_lean_kernel<QuantFormat::kFp8, 2, 4, W, false, true, float, 4, false, false, R>;
        return quant_gemm_lean_kernel<QuantFormat::kFp8, 2, 2, W, false, true, float, 5, false, false, R>;
      }
    }
    if (deep) return quant_gemm_lean_kernel<QuantFormat::kFp8, 2, 4, W, false, false, float, 4, S, A, R>;
    return quant_gemm_lean_kernel<QuantFormat::kFp8, 2, 2, W, false, false, float, 5, S, A, R>;
  }
  if constexpr (A || R) return nullptr;
  // int4 g128: two stages of 2 chunks by default (four spill at 96 registers); g64: four of one.
  if (w.group_size == 128) {
    if (w.zeros) {
      if (deep) return quant_gemm_lean_kernel<QuantFormat::kInt4, 2, 4, W, true, true, __half, 4, S, false, false, C>;
      return quant_gemm_lean_kernel<QuantFormat::kInt4, 2, 2, W, true, true, __half, 5, S, false, false, C>;
    }
    if (deep) return quant_gemm_lean_kernel<QuantFormat::kInt4, 2, 4, W, false, true, __half, 4, S, false, false, C>;
    return quant_gemm_lean_kernel<QuantFormat::kInt4, 2, 2, W, false, true, __half, 5, S, false, false, C>;
  }
  if (w.zeros) return quant_gemm_lean_kernel<QuantFormat::kInt4, 1, 4, W, true, true, __half, 5, S, false, false, C>;
  return quant_gemm_lean_kernel<QuantFormat::kInt4, 1, 4, W, false, true, __half, 5, S, false, false, C>;
}

} // namespace pagoda::cuda::lean
