// The bulk-copy decode GEMV kernel for bf16 weights, bf16_gemv_bulk_kernel (see bf16_gemv_bulk.cu for its
// design), its ring configurations and launch facts: the consumer's math over bulk_gemv_ring.cuh's ring,
// written over the primitives its includer provides in namespace bulk_ring, so that the same source runs
// on the GPU (bf16_gemv_bulk.cu, bulk_gemv_device.cuh) and in a host emulation
// (tests/cuda/bf16_gemv_bulk_emulation_test.cpp). Expected: bulk_gemv_ring.cuh's list, and
// BULK_KERNEL(threads, min_blocks) / BULK_DYNAMIC_SMEM(name), __ldg, min, pdl_launch_dependents,
// mma_bf16_16816, mbarrier_arrive_expect_tx, bulk_copy_g2s.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cuda/bulk_gemv_ring.cuh"
#include "backend/cuda/bulk_splits.h"

namespace pagoda::cuda::bf16_bulk {

using namespace bulk_ring;
using bf16 = __nv_bfloat16;

constexpr int kUnit = 32; // k elements of a unit: 64 bytes of a row, two mma k-steps
constexpr int kConfigs = 10;

struct Args {
  const bf16* x; // [m][k]
  const bf16* w; // [n][k]
  void* y;       // [m] rows ldy apart, bf16 or f32 (the kernel's Out)
  int ldy, m, n, k;
  float beta;
  int items, splits, stages_per_tile;
  float* partials; // [splits][m][n] f32 when splits > 1
  int* counters;   // [tiles], zero between calls (the tile's last CTA resets its own)
};

// A stage: 16 rows of U units (B / 1024: 64 bytes a row each) at a pitch that is 64 mod 128, so rows
// g and g + 1 of a quarter warp's 16-byte reads cover the 32 banks once.
BULK_HD constexpr int stage_units(int stage_bytes) { return stage_bytes / (kTileRows * 64); }
BULK_HD constexpr int row_pitch(int units) { return (units * 64 + 127) / 128 * 128 + 64; }
BULK_HD constexpr int stage_size(int stage_bytes) { return kTileRows * row_pitch(stage_units(stage_bytes)); }
// Shared memory: the ring, then bulk_gemv_ring.cuh's reduction, barriers and flag.
constexpr size_t smem_bytes(int stages, int stage_bytes, int warps) {
  return size_t(stages) * stage_size(stage_bytes) + tail_bytes(stages, warps);
}

// Out: bf16 / float; S: ring stages; B: nominal bytes a stage; W: consumer warps (one more warp
// produces); M: CTAs an SM the registers must allow.
template <typename Out, int S, int B, int W, int M>
BULK_KERNEL((W + 1) * 32, M) bf16_gemv_bulk_kernel(const Args a) {
  constexpr int kU = stage_units(B);
  constexpr int kPitch = row_pitch(kU);
  constexpr int kStage = stage_size(B);
  constexpr int kPer = (kU + W - 1) / W; // units of a full stage a warp multiplies
  static_assert(kStage % 128 == 0, "stages stay 128-byte aligned");
  BULK_DYNAMIC_SMEM(smem);
  const Ring<S, W, kStage> ring(smem);

  pdl_launch_dependents();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int k = a.k, units = k / kUnit;
  const Walk<Out> walk{static_cast<Out*>(a.y), a.ldy, a.m, a.n, a.beta, a.items, a.splits, a.stages_per_tile,
                       a.partials, a.counters};
  ring.init();

  if (warp == W) {
    // Producer: a stage as 16 row copies.
    ring.produce(walk, lane, [&](int tile, int st, uint32_t dst, uint32_t bar) {
      const int u0 = st * kU, un = min(kU, units - u0);
      mbarrier_arrive_expect_tx(bar, kTileRows * un * 64);
      const bf16* src = a.w + int64_t(tile) * kTileRows * k + int64_t(u0) * kUnit;
#pragma unroll 1
      for (int r = 0; r < kTileRows; ++r) bulk_copy_g2s(dst + r * kPitch, src + int64_t(r) * k, un * 64, bar);
    });
    return;
  }

  // Consumers: lane (g, t) multiplies 8 bf16 at offset 8t of a unit of rows g and g + 8 with the
  // same 8 of input row g, elements 0-3 as its fragment of k-step 0 and 4-7 of k-step 1: skinny_gemm's
  // pairing (both operands agree on the order, so the sum is the plain dot product).
  pdl_wait();
  const int g = lane >> 2, t = lane & 3;
  const bf16* xl = a.x + int64_t(min(g, a.m - 1)) * k + 8 * t; // tokens past m repeat the last; dropped
  ring.consume(walk, warp, lane, [&](float(&acc)[4], int, int st, int slot, uint32_t q) {
    const int u0 = st * kU, un = min(kU, units - u0);
    // x first (L2 / L1 hits, independent of the stage), so its latency overlaps the wait.
    uint4 xv[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int ul = warp + i * W;
      xv[i] = ul < un ? __ldg(reinterpret_cast<const uint4*>(xl + int64_t(u0 + ul) * kUnit)) : uint4{0, 0, 0, 0};
    }
    const unsigned char* rows = ring.stage(slot) + g * kPitch + 16 * t; // row g, lane's 16 B
    ring.wait_full(slot, q);
    uint4 lo[kPer] = {}, hi[kPer] = {};
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int ul = warp + i * W;
      if (ul < un) {
        lo[i] = *reinterpret_cast<const uint4*>(rows + ul * 64);
        hi[i] = *reinterpret_cast<const uint4*>(rows + 8 * kPitch + ul * 64);
      }
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      if (warp + i * W < un) {
        mma_bf16_16816(acc, lo[i].x, hi[i].x, lo[i].y, hi[i].y, xv[i].x, xv[i].y); // k-step 0
        mma_bf16_16816(acc, lo[i].z, hi[i].z, lo[i].w, hi[i].w, xv[i].z, xv[i].w); // k-step 1
      }
    }
  });
}

// The ring configurations {stages, nominal stage bytes, consumer warps, CTAs an SM}, 96-192 KB in
// flight an SM: 0 is the default (a guess until a GPU run has measured them: quant_kernel_bench
// bf16bulk sweeps them all; PAGODA_BF16_GEMV_BULK_CONFIG picks one for the engine).
constexpr int kConfig[kConfigs][4] = {
    {4, 16384, 8, 2},  // two CTAs an SM: 128 KB, 16 consumer warps
    {8, 16384, 8, 1},  // one CTA an SM: 128 KB, 8 consumer warps
    {8, 16384, 16, 1}, // one CTA an SM: 128 KB, 16 consumer warps
    {5, 16384, 8, 2},  // two CTAs an SM: 160 KB, 16 consumer warps
    {6, 8192, 8, 3},   // three CTAs an SM: 144 KB in 8 KB stages, 24 consumer warps
    {12, 8192, 8, 1},  // one CTA an SM: 96 KB in 8 KB stages
    {3, 16384, 4, 3},  // three CTAs an SM: 144 KB, 12 consumer warps
    {10, 16384, 8, 1}, // one CTA an SM: 160 KB
    // Under half an SM's 228 KB of shared memory a kernel (with the 1 KB an SM reserves a CTA), so the
    // next GEMV's CTAs (PDL) are resident and streaming while this one drains:
    {6, 16384, 8, 1}, // one CTA an SM: 96 KB
    {5, 8192, 8, 2},  // two CTAs an SM: 80 KB in 8 KB stages
};

// A configuration's kernel for an output type, with its launch shape.
using KernelFn = void (*)(Args);
struct KernelInfo {
  KernelFn fn;
  size_t smem;
  int threads, stage_units;
};
template <typename Out, int C> KernelInfo kernel_info() {
  constexpr int kS = kConfig[C][0], kB = kConfig[C][1], kW = kConfig[C][2], kM = kConfig[C][3];
  return {&bf16_gemv_bulk_kernel<Out, kS, kB, kW, kM>, smem_bytes(kS, kB, kW), (kW + 1) * 32, stage_units(kB)};
}
template <typename Out> KernelInfo kernel_info(int config) {
  static_assert(kConfigs == 10, "one case a configuration");
  switch (config) {
  case 1: return kernel_info<Out, 1>();
  case 2: return kernel_info<Out, 2>();
  case 3: return kernel_info<Out, 3>();
  case 4: return kernel_info<Out, 4>();
  case 5: return kernel_info<Out, 5>();
  case 6: return kernel_info<Out, 6>();
  case 7: return kernel_info<Out, 7>();
  case 8: return kernel_info<Out, 8>();
  case 9: return kernel_info<Out, 9>();
  default: return kernel_info<Out, 0>();
  }
}
inline KernelInfo kernel_for(bool out_f32, int config) {
  return out_f32 ? kernel_info<float>(config) : kernel_info<bf16>(config);
}

// Stages of a tile over k (the last may be partial).
inline int stages_per_tile(int k, int stage_units) { return (k / kUnit + stage_units - 1) / stage_units; }

} // namespace pagoda::cuda::bf16_bulk
