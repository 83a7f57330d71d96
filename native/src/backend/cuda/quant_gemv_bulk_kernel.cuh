// The bulk-copy decode GEMV kernel quant_gemv_bulk_kernel (see quant_gemv_bulk.cu for its design), its
// ring configurations and split choice: the consumer's decode and math over bulk_gemv_ring.cuh's ring,
// written over primitives its includer provides in namespace bulk_ring, so that the same source runs on
// the GPU (quant_gemv_bulk.cu, bulk_gemv_device.cuh) and in a host emulation
// (tests/cuda/quant_gemv_bulk_emulation_test.cpp). Expected: bulk_gemv_ring.cuh's list, and
//   BULK_KERNEL(threads, min_blocks) / BULK_DYNAMIC_SMEM(name) (the kernel's declaration with launch
//   bounds, the dynamic shared memory as unsigned char[]), __ldg, __byte_perm, min, pdl_launch_dependents,
//   mma_bf16_16816, mbarrier_arrive_expect_tx, bulk_copy_g2s (wgmma.cuh's signatures), and cuda_fp16.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/bulk_gemv_ring.cuh"
#include "backend/cuda/bulk_splits.h"
#include "backend/cuda/quantized_weight.h"

namespace pagoda::cuda::gemv_bulk {

using namespace bulk_ring;
using bf16 = __nv_bfloat16;

constexpr int kBulkConfigs = 6;

struct BulkArgs {
  const bf16* x; // [m][k] in the weight's packed column order (act-order: gathered)
  bf16* y;
  int ldy, m;
  float beta;
  int items, splits, stages_per_tile;
  float* partials; // [splits][m][n] f32 when splits > 1
  int* counters;   // [tiles], zero between calls (the tile's last CTA resets its own)
};

// Bytes one stage holds: int4 C chunks of 512 bytes; fp8 16 rows of C * 64 bytes at a pitch that
// is 64 mod 128 (rows g and g + 1 of a quarter warp then cover all 32 banks once).
template <QuantFormat F> BULK_HD constexpr int stage_chunks(int stage_bytes) {
  return F == QuantFormat::kInt4 ? stage_bytes / 512 : stage_bytes / 1024;
}
BULK_HD constexpr int fp8_pitch(int chunks) { return (chunks * 64 + 127) / 128 * 128 + 64; }
template <QuantFormat F> BULK_HD constexpr int stage_size(int stage_bytes) {
  return F == QuantFormat::kInt4 ? stage_bytes : 16 * fp8_pitch(stage_chunks<F>(stage_bytes));
}
// Shared memory: the ring, then bulk_gemv_ring.cuh's reduction, barriers and flag.
template <QuantFormat F> constexpr size_t smem_bytes(int stages, int stage_bytes, int warps) {
  return size_t(stages) * stage_size<F>(stage_bytes) + tail_bytes(stages, warps);
}

struct GroupParams {
  float s[2];
  uint32_t z[2];
};

BULK_DEVICE float load_scale(const __half* s, int64_t i) { return __half2float(s[i]); }
BULK_DEVICE float load_scale(const float* s, int64_t i) { return s[i]; }

// F: format; G: 64-wide chunks a scale group; ScaleT: __half / float; S: ring stages; B: nominal
// bytes a stage; W: consumer warps (one more warp produces); M: CTAs an SM the registers must allow.
template <QuantFormat F, int G, typename ScaleT, int S, int B, int W, int M>
BULK_KERNEL((W + 1) * 32, M) quant_gemv_bulk_kernel(const QuantizedWeight w, const BulkArgs a) {
  constexpr int kC = stage_chunks<F>(B);
  constexpr int kStage = stage_size<F>(B);
  constexpr int kPitch = fp8_pitch(kC); // fp8 only
  static_assert(kC % G == 0, "a stage holds whole scale groups");
  static_assert(kStage % 128 == 0, "stages stay 128-byte aligned");
  BULK_DYNAMIC_SMEM(smem);
  const Ring<S, W, kStage> ring(smem);

  pdl_launch_dependents();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = w.n, k = w.k, chunks = k / 64;
  ring.init();
  const Walk<bf16> walk{a.y, a.ldy, a.m, n, a.beta, a.items, a.splits, a.stages_per_tile, a.partials, a.counters};

  if (warp == W) {
    // Producer: int4 tiles are contiguous (a stage is one copy), fp8 a stage is 16 row copies.
    ring.produce(walk, lane, [&](int tile, int st, uint32_t dst, uint32_t bar) {
      const int c0 = st * kC, cn = min(kC, chunks - c0);
      if constexpr (F == QuantFormat::kInt4) {
        mbarrier_arrive_expect_tx(bar, cn * 512);
        bulk_copy_g2s(dst, static_cast<const unsigned char*>(w.packed) + (int64_t(tile) * chunks + c0) * 512, cn * 512, bar);
      } else {
        mbarrier_arrive_expect_tx(bar, 16 * cn * 64);
        const unsigned char* src = static_cast<const unsigned char*>(w.packed) + int64_t(tile) * 16 * k + c0 * 64;
#pragma unroll 1
        for (int r = 0; r < 16; ++r) bulk_copy_g2s(dst + r * kPitch, src + int64_t(r) * k, cn * 64, bar);
      }
    });
    return;
  }

  // Consumers.
  pdl_wait();
  const int g = lane >> 2, t = lane & 3;
  const int m = a.m;
  const ScaleT* scales = static_cast<const ScaleT*>(w.scales);
  const bf16* xl = a.x + int64_t(min(g, m - 1)) * k + 16 * t; // tokens past m repeat the last; dropped
  // Scale group gg's scales of rows g and g + 8 of the tile at row0, and (int4) their zero points.
  auto fetch = [&](int gg, int row0) {
    GroupParams p;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = row0 + g + 8 * h;
      p.s[h] = load_scale(scales, int64_t(gg) * w.scale_index.group_stride +
                                      int64_t(row >> w.scale_index.row_shift) * w.scale_index.row_stride);
      p.z[h] = F == QuantFormat::kInt4 && w.zeros ? w.zeros[int64_t(gg) * n + row] : 8u;
    }
    return p;
  };
  ring.consume(walk, warp, lane, [&](float(&acc)[4], int row0, int st, int slot, uint32_t q) {
    const int c0 = st * kC, ng = min(kC, chunks - c0) / G;
    const unsigned char* stage = ring.stage(slot);
    // A group's scales and zero points are read one group ahead (the first across the stage's
    // wait), so their latency stays off the decode chain.
    GroupParams next{};
    if (warp < ng) next = fetch(c0 / G + warp, row0);
    ring.wait_full(slot, q);
#pragma unroll 1
    for (int gi = warp; gi < ng; gi += W) {
      const GroupParams cur = next;
      if (gi + W < ng) next = fetch(c0 / G + gi + W, row0);
      uint32_t zero2[2] = {0, 0};
      if constexpr (F == QuantFormat::kInt4) {
        zero2[0] = (0x4300u + cur.z[0]) * 0x00010001u;
        zero2[1] = (0x4300u + cur.z[1]) * 0x00010001u;
      }
      float part[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int c = 0; c < G; ++c) {
        const int cl = gi * G + c; // the chunk in the stage
        const bf16* xc = xl + int64_t(c0 + cl) * 64;
        const uint4 xv[2] = {__ldg(reinterpret_cast<const uint4*>(xc)), __ldg(reinterpret_cast<const uint4*>(xc + 8))};
        uint4 wv[F == QuantFormat::kInt4 ? 1 : 2];
        if constexpr (F == QuantFormat::kInt4) {
          wv[0] = *reinterpret_cast<const uint4*>(stage + cl * 512 + lane * 16);
        } else {
          wv[0] = *reinterpret_cast<const uint4*>(stage + g * kPitch + cl * 64 + 16 * t);
          wv[1] = *reinterpret_cast<const uint4*>(stage + (g + 8) * kPitch + cl * 64 + 16 * t);
        }
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          uint32_t af[4];
          if constexpr (F == QuantFormat::kInt4) {
            const uint32_t word = (&wv[0].x)[s];
#pragma unroll
            for (int i = 0; i < 4; ++i) af[i] = bf16x2_sub(((word >> (4 * i)) & 0x000F000Fu) | 0x43004300u, zero2[i & 1]);
          } else {
            // Rows g and g + 8 at k 0..3 of the k-step interleaved into the fragment registers.
            const uint32_t rg = (&wv[0].x)[s], r8 = (&wv[1].x)[s];
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
      acc[0] += part[0] * cur.s[0];
      acc[1] += part[1] * cur.s[0];
      acc[2] += part[2] * cur.s[1];
      acc[3] += part[3] * cur.s[1];
    }
  });
}

// The ring configurations {stages, nominal stage bytes, consumer warps, CTAs an SM}: 0 is the
// default (a guess until a GPU run has measured them: quant_kernel_bench bulk sweeps them all).
constexpr int kConfig[kBulkConfigs][4] = {
    {4, 16384, 8, 2},  // two CTAs an SM: 128 KB in flight, 16 consumer warps
    {8, 16384, 8, 1},  // one CTA an SM: 128 KB, 8 consumer warps
    {8, 16384, 16, 1}, // one CTA an SM: 128 KB, 16 consumer warps
    {4, 16384, 4, 3},  // three CTAs an SM: 192 KB, 12 consumer warps
    {6, 8192, 8, 3},   // three CTAs an SM: 144 KB in 8 KB stages, 24 consumer warps
    {12, 8192, 8, 1},  // one CTA an SM: 96 KB in 8 KB stages
};

// A configuration's kernel for a weight kind, with its launch shape.
using KernelFn = void (*)(QuantizedWeight, BulkArgs);
struct KernelInfo {
  KernelFn fn;
  size_t smem;
  int threads, stage_chunks;
};
template <QuantFormat F, int G, typename ScaleT, int C> KernelInfo kernel_info() {
  constexpr int kS = kConfig[C][0], kB = kConfig[C][1], kW = kConfig[C][2], kM = kConfig[C][3];
  return {&quant_gemv_bulk_kernel<F, G, ScaleT, kS, kB, kW, kM>, smem_bytes<F>(kS, kB, kW), (kW + 1) * 32,
          stage_chunks<F>(kB)};
}
template <QuantFormat F, int G, typename ScaleT> KernelInfo kernel_info(int config) {
  static_assert(kBulkConfigs == 6, "one case a configuration");
  switch (config) {
  case 1: return kernel_info<F, G, ScaleT, 1>();
  case 2: return kernel_info<F, G, ScaleT, 2>();
  case 3: return kernel_info<F, G, ScaleT, 3>();
  case 4: return kernel_info<F, G, ScaleT, 4>();
  case 5: return kernel_info<F, G, ScaleT, 5>();
  default: return kernel_info<F, G, ScaleT, 0>();
  }
}
// int4 GPTQ / AWQ (group 128 or 64, __half scales) or fp8 (groups of 128, float scales).
inline KernelInfo kernel_for(const QuantizedWeight& w, int config) {
  if (w.format == QuantFormat::kFp8) return kernel_info<QuantFormat::kFp8, 2, float>(config);
  if (w.group_size == 128) return kernel_info<QuantFormat::kInt4, 2, __half>(config);
  return kernel_info<QuantFormat::kInt4, 1, __half>(config);
}

// The k-split (bulk_splits.h, shared with bf16_gemv_bulk).
inline int choose_splits(int tiles, int stages_per_tile, int64_t slots) {
  return bulk_gemv_splits(tiles, stages_per_tile, slots);
}

} // namespace pagoda::cuda::gemv_bulk
