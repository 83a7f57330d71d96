// The decode GEMV kernel quant_gemv2_kernel (see quant_gemv2.cu for its design), written over a
// few primitives its includer provides, so that the same source runs on the GPU (quant_gemv2.cu:
// CUDA's builtins, mma.cuh, pdl.cuh) and in a host emulation that checks its indexing without a GPU
// (tests/cuda/quant_gemv2_emulation_test.cpp: host threads, a warp-wide mma model). Expected:
//   GEMV2_DEVICE                        helper function qualifiers
//   GEMV2_KERNEL(threads, min_blocks)   the kernel's return type and launch bounds
//   GEMV2_DYNAMIC_SMEM(name)            declares the dynamic shared memory as unsigned char name[]
//   GEMV2_SHARED                        a per-CTA variable
//   threadIdx, blockIdx, gridDim, __syncthreads, __threadfence, atomicAdd, __ldcs, __ldcg,
//   __byte_perm, min, pdl_wait, pdl_launch_dependents, mma_bf16_16816 (mma.cuh's signature), and
//   cuda_bf16.h / cuda_fp16.h (host-capable).
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/quantized_weight.h"

namespace pagoda::cuda::gemv2 {

using bf16 = __nv_bfloat16;

constexpr int kWarps = 8;                   // a CTA: 256 threads
// 16-row tiles a CTA owns (x staged once for them all; the 8 warps split each tile's k-range in
// 8 / tiles parts): 4 by default, 2 and 8 for tuning (quant_kernel_bench gemv sweeps them).
constexpr int kDefaultTiles = 4;
constexpr int kMaxTokens = 8;               // one n8 tile of tokens
// Dynamic shared memory stays under 48 KB with room for the static part (the split flag): static
// + dynamic past 48 KB needs the opt-in attribute (what failed the first cp.async ring's launch).
constexpr size_t kSmemLimit = 47 * 1024;
constexpr int kMinBlocksPerSm = 3;          // __launch_bounds__: registers <= 85
constexpr int kMaxSplits = 32;
// The workspace starts with one split counter per row block at a fixed size, so the counters of
// every weight sit where no other weight's partials or gathered x are ever written.
constexpr size_t kCounterBytes = 64 * 1024;
constexpr int kMaxRowBlocks = static_cast<int>(kCounterBytes / sizeof(int));

GEMV2_DEVICE float load_scale(const __half* s, int64_t i) { return __half2float(s[i]); }
GEMV2_DEVICE float load_scale(const float* s, int64_t i) { return s[i]; }

// One ring slot: a lane's words of one scale group (G chunks of 64 k) of its tile: int4 one
// uint4 a chunk (4 k-steps), fp8 two (rows g and g + 8, 16 bytes each).
template <QuantFormat F, int G> struct Slot;
template <int G> struct Slot<QuantFormat::kInt4, G> { uint4 w[G][1]; };
template <int G> struct Slot<QuantFormat::kFp8, G> { uint4 w[G][2]; };

struct Gemv2Args {
  const bf16* x; // [m][k], in the weight's packed column order (act-order: gathered)
  bf16* y;
  int ldy, m;
  int cta_groups_max; // most scale groups one split holds (sizes the shared memory)
  float* partials;    // [splits][m][n] f32, splits > 1
  int* counters;      // [row blocks], zero between calls (the last CTA of a block resets its own)
};

// Dynamic shared memory of a CTA: x [m][cta_groups_max * group + 8] bf16, the scales (f32) and
// int4 zero points (bytes) of cta_groups_max groups x 16 tiles rows; at least the reduction's.
inline size_t gemv2_smem_bytes(const QuantizedWeight& w, int m, int cta_groups_max, int tiles) {
  const size_t x = (size_t(m) * (size_t(cta_groups_max) * w.group_size + 8) * 2 + 15) / 16 * 16;
  const size_t scales = size_t(cta_groups_max) * tiles * 16 * 4;
  const size_t zeros = w.format == QuantFormat::kInt4 ? size_t(cta_groups_max) * tiles * 16 : 0;
  const size_t reduction = size_t(kWarps) * 16 * kMaxTokens * 4;
  return x + scales + zeros > reduction ? x + scales + zeros : reduction;
}

// F: format; G: 64-wide chunks a scale group; D: ring depth in groups; T: 16-row tiles a CTA;
// ScaleT: __half / float.
template <QuantFormat F, int G, int D, int T, typename ScaleT>
GEMV2_KERNEL(kWarps * 32, kMinBlocksPerSm) quant_gemv2_kernel(const QuantizedWeight w, const Gemv2Args a) {
  static_assert(kWarps % T == 0, "the warps split every tile's k-range alike");
  constexpr int kTiles = T, kKParts = kWarps / T, kRows = T * 16;
  GEMV2_DYNAMIC_SMEM(smem);
  pdl_launch_dependents();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int n = w.n, k = w.k, m = a.m;
  constexpr int kGroupCols = G * 64;
  const int groups = k / kGroupCols, chunks = k / 64;
  const int splits = gridDim.y, split = blockIdx.y, block = blockIdx.x;
  const int cg0 = static_cast<int>(int64_t(groups) * split / splits);
  const int cg1 = static_cast<int>(int64_t(groups) * (split + 1) / splits);
  const int lt = warp / kKParts, kp = warp % kKParts;
  const int tile = block * kTiles + lt;
  const int row0 = tile * 16;
  const bool tile_live = row0 < n;
  const int wg0 = cg0 + (cg1 - cg0) * kp / kKParts, wg1 = cg0 + (cg1 - cg0) * (kp + 1) / kKParts;
  const int ng = tile_live ? wg1 - wg0 : 0; // groups this warp streams

  const uint4* int4_base = static_cast<const uint4*>(w.packed) + (tile_live ? int64_t(tile) * chunks * 32 : 0) + lane;
  const uint8_t* fp8_row[2] = {
      static_cast<const uint8_t*>(w.packed) + int64_t(tile_live ? row0 + g : 0) * k + 16 * t,
      static_cast<const uint8_t*>(w.packed) + int64_t(tile_live ? row0 + g + 8 : 0) * k + 16 * t};
  using SlotT = Slot<F, G>;
  auto load = [&](SlotT& s, int group) {
#pragma unroll
    for (int c = 0; c < G; ++c) {
      const int chunk = group * G + c;
      if constexpr (F == QuantFormat::kInt4) {
        s.w[c][0] = __ldcs(int4_base + int64_t(chunk) * 32);
      } else {
#pragma unroll
        for (int h = 0; h < 2; ++h) s.w[c][h] = __ldcs(reinterpret_cast<const uint4*>(fp8_row[h] + int64_t(chunk) * 64));
      }
    }
  };

  // The ring's first D groups go out before the wait: the previous kernel's tail hides them.
  SlotT ring[D];
#pragma unroll
  for (int j = 0; j < D; ++j)
    if (j < ng) load(ring[j], wg0 + j);
  pdl_wait();

  // Shared memory: x [m][xstride] bf16 (the CTA's columns), scales [cta_groups_max][kRows] f32,
  // zero points [cta_groups_max][kRows] bytes (int4). The reduction reuses it from offset 0.
  const int xstride = a.cta_groups_max * kGroupCols + 8; // + 16 bytes: rows 4 banks apart
  bf16* xs = reinterpret_cast<bf16*>(smem);
  const size_t x_bytes = (size_t(m) * xstride * 2 + 15) / 16 * 16;
  float* sc = reinterpret_cast<float*>(smem + x_bytes);
  uint8_t* zs = reinterpret_cast<uint8_t*>(sc + a.cta_groups_max * kRows);
  {
    const int cols = (cg1 - cg0) * kGroupCols, vecs = cols / 8;
    for (int i = threadIdx.x; i < m * vecs; i += kWarps * 32) {
      const int r = i / vecs, v = i - r * vecs;
      *reinterpret_cast<uint4*>(xs + r * xstride + 8 * v) =
          *reinterpret_cast<const uint4*>(a.x + int64_t(r) * k + cg0 * kGroupCols + 8 * v);
    }
    const ScaleT* scales = static_cast<const ScaleT*>(w.scales);
    const int row_base = block * kRows;
    for (int i = threadIdx.x; i < (cg1 - cg0) * kRows; i += kWarps * 32) {
      const int gl = i / kRows, rr = i - gl * kRows, row = row_base + rr, gg = cg0 + gl;
      float s = 0.f;
      uint8_t z = 8;
      if (row < n) {
        s = load_scale(scales, int64_t(gg) * w.scale_index.group_stride +
                                   int64_t(row >> w.scale_index.row_shift) * w.scale_index.row_stride);
        if (F == QuantFormat::kInt4 && w.zeros) z = w.zeros[int64_t(gg) * n + row];
      }
      sc[i] = s;
      if constexpr (F == QuantFormat::kInt4) zs[i] = z;
    }
  }
  __syncthreads();

  // Lane (g, t) reads token g's x (tokens past m read the last one; their columns are dropped).
  const bf16* xl = xs + min(g, m - 1) * xstride + 16 * t;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int base = 0; base < ng; base += D) {
#pragma unroll
    for (int j = 0; j < D; ++j) {
      const int gi = base + j;
      if (gi < ng) { // warp-uniform
        const int gl = wg0 + gi - cg0; // the group's index in the CTA
        uint32_t zero2[2] = {0, 0};
        if constexpr (F == QuantFormat::kInt4) {
#pragma unroll
          for (int h = 0; h < 2; ++h) zero2[h] = (0x4300u + zs[gl * kRows + lt * 16 + g + 8 * h]) * 0x00010001u;
        }
        float part[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int c = 0; c < G; ++c) {
          const bf16* xc = xl + (gl * G + c) * 64;
          const uint4 xv[2] = {*reinterpret_cast<const uint4*>(xc), *reinterpret_cast<const uint4*>(xc + 8)};
#pragma unroll
          for (int s = 0; s < 4; ++s) {
            uint32_t af[4];
            if constexpr (F == QuantFormat::kInt4) {
              const uint32_t word = (&ring[j].w[c][0].x)[s];
#pragma unroll
              for (int i = 0; i < 4; ++i)
                af[i] = bf16x2_sub(((word >> (4 * i)) & 0x000F000Fu) | 0x43004300u, zero2[i & 1]);
            } else {
              // Rows g and g + 8 at k 0..3 of this k-step, interleaved into fragment registers
              // (g, k 0 1), (g + 8, k 0 1), (g, k 2 3), (g + 8, k 2 3).
              const uint32_t rg = (&ring[j].w[c][0].x)[s], r8 = (&ring[j].w[c][1].x)[s];
              const uint32_t w0 = __byte_perm(rg, r8, 0x5140), w1 = __byte_perm(rg, r8, 0x7362);
              af[0] = e4m3_even(w0);
              af[1] = e4m3_odd(w0);
              af[2] = e4m3_even(w1);
              af[3] = e4m3_odd(w1);
            }
            const uint4& xh = xv[s >> 1];
            mma_bf16_16816(part, af[0], af[1], af[2], af[3], (s & 1) ? xh.z : xh.x, (s & 1) ? xh.w : xh.y);
          }
        }
        if (gi + D < ng) load(ring[j], wg0 + gi + D); // the slot is decoded: refill it now
        const float s0 = sc[gl * kRows + lt * 16 + g], s1 = sc[gl * kRows + lt * 16 + g + 8];
        acc[0] += part[0] * s0;
        acc[1] += part[1] * s0;
        acc[2] += part[2] * s1;
        acc[3] += part[3] * s1;
      }
    }
  }

  // Reduction: [warp][16 rows][8 tokens] f32 over the staged data; the k parts of a tile are
  // summed in a fixed order, then the splits (in split order) by the row block's last CTA.
  __syncthreads();
  float* red = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int e = 0; e < 4; ++e) red[(warp * 16 + g + 8 * (e >> 1)) * kMaxTokens + 2 * t + (e & 1)] = acc[e];
  __syncthreads();
  const int row_base = block * kRows;
  for (int i = threadIdx.x; i < m * kRows; i += kWarps * 32) {
    const int tok = i / kRows, rr = i - tok * kRows, row = row_base + rr;
    if (row >= n) continue;
    const int tl = rr / 16, r = rr % 16;
    float s = 0.f;
#pragma unroll
    for (int p = 0; p < kKParts; ++p) s += red[((tl * kKParts + p) * 16 + r) * kMaxTokens + tok];
    if (splits == 1) a.y[int64_t(tok) * a.ldy + row] = __float2bfloat16(s);
    else a.partials[(int64_t(split) * m + tok) * n + row] = s;
  }
  if (splits == 1) return;
  GEMV2_SHARED bool last;
  __threadfence(); // this CTA's partials are visible before its arrival is counted
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&a.counters[block], 1) == splits - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  for (int i = threadIdx.x; i < m * kRows; i += kWarps * 32) {
    const int tok = i / kRows, row = row_base + i - tok * kRows;
    if (row >= n) continue;
    float s = 0.f;
    for (int p = 0; p < splits; ++p) s += __ldcg(a.partials + (int64_t(p) * m + tok) * n + row);
    a.y[int64_t(tok) * a.ldy + row] = __float2bfloat16(s);
  }
  if (threadIdx.x == 0) a.counters[block] = 0; // ready for the next call (graphs replay this)
}

// The instantiation for a weight: ring depths keep ~128 bytes of weights a lane in flight
// (int4 g128: 4 groups x 2 chunks x 16 B; g64: 8 x 1 x 16 B; fp8: 3 x 2 x 2 x 16 B = 192 B).
template <int T> inline auto gemv2_kernel_for_tiles(const QuantizedWeight& w) {
  if (w.format == QuantFormat::kFp8) return &quant_gemv2_kernel<QuantFormat::kFp8, 2, 3, T, float>;
  if (w.group_size == 128) return &quant_gemv2_kernel<QuantFormat::kInt4, 2, 4, T, __half>;
  return &quant_gemv2_kernel<QuantFormat::kInt4, 1, 8, T, __half>;
}
// tiles: 2, 4 or 8 (anything else: the default).
inline auto gemv2_kernel_for(const QuantizedWeight& w, int tiles) {
  if (tiles == 2) return gemv2_kernel_for_tiles<2>(w);
  if (tiles == 8) return gemv2_kernel_for_tiles<8>(w);
  return gemv2_kernel_for_tiles<kDefaultTiles>(w);
}

} // namespace pagoda::cuda::gemv2
