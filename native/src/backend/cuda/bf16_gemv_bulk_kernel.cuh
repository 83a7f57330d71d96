// The bulk-copy decode GEMV kernel for bf16 weights, bf16_gemv_bulk_kernel (see bf16_gemv_bulk.cu for its
// design), its ring configurations and launch facts, written over primitives its includer provides so that
// the same source runs on the GPU (bf16_gemv_bulk.cu) and in a host emulation
// (tests/cuda/bf16_gemv_bulk_emulation_test.cpp). Expected, as for quant_gemv_bulk_kernel.cuh:
//   BULK_DEVICE / BULK_KERNEL(threads, min_blocks) / BULK_DYNAMIC_SMEM(name), threadIdx, blockIdx,
//   gridDim, __syncthreads, __syncwarp, __threadfence, atomicAdd, __ldg, __ldcg, min, pdl_wait,
//   pdl_launch_dependents, mma_bf16_16816, smem_addr, mbarrier_init / _init_fence / _arrive /
//   _arrive_expect_tx / _wait, bulk_copy_g2s, named_barrier_sync, and cuda_bf16.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cuda/bulk_splits.h"

#if defined(__CUDACC__)
#define BF16_BULK_HD __host__ __device__
#else
#define BF16_BULK_HD
#endif

namespace pagoda::cuda::bf16_bulk {

using bf16 = __nv_bfloat16;

constexpr int kMaxTokens = 8;
constexpr int kUnit = 32;      // k elements of a unit: 64 bytes of a row, two mma k-steps
constexpr int kTileRows = 16;  // weight rows of a tile (the mma's M)
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
BF16_BULK_HD constexpr int stage_units(int stage_bytes) { return stage_bytes / (kTileRows * 64); }
BF16_BULK_HD constexpr int row_pitch(int units) { return (units * 64 + 127) / 128 * 128 + 64; }
BF16_BULK_HD constexpr int stage_size(int stage_bytes) { return kTileRows * row_pitch(stage_units(stage_bytes)); }
// Shared memory: the ring, the cross-warp reduction [W][16][8] f32, the full / empty barriers, a flag.
constexpr size_t smem_bytes(int stages, int stage_bytes, int warps) {
  return size_t(stages) * stage_size(stage_bytes) + size_t(warps) * kTileRows * kMaxTokens * 4 + 2 * size_t(stages) * 8 +
         16;
}

BULK_DEVICE void store_out(bf16* y, float v, float beta) {
  if (beta != 0.f) v += beta * __bfloat162float(*y);
  *y = __float2bfloat16(v);
}
BULK_DEVICE void store_out(float* y, float v, float beta) {
  if (beta != 0.f) v += beta * *y;
  *y = v;
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
  unsigned char* ring = smem;
  float* red = reinterpret_cast<float*>(smem + size_t(S) * kStage);
  uint64_t* bars = reinterpret_cast<uint64_t*>(red + W * kTileRows * kMaxTokens);
  int* last_flag = reinterpret_cast<int*>(bars + 2 * S);
  const uint32_t full0 = smem_addr(bars), empty0 = smem_addr(bars + S);

  pdl_launch_dependents();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = a.n, k = a.k, units = k / kUnit;
  const int splits = a.splits, spt = a.stages_per_tile;
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      mbarrier_init(full0 + 8 * s, 1);
      mbarrier_init(empty0 + 8 * s, W);
    }
    mbarrier_init_fence();
  }
  __syncthreads();

  if (warp == W) {
    // Producer: one lane streams every stage of the CTA's items in order, a stage as 16 row copies;
    // a slot is refilled once all W consumer warps have released it. The weights depend on no
    // earlier kernel, so the ring fills before the PDL wait.
    if (lane == 0) {
      uint32_t q = 0;
      for (int item = blockIdx.x; item < a.items; item += gridDim.x) {
        const int tile = item / splits, sp = item - tile * splits;
        const int st0 = spt * sp / splits, st1 = spt * (sp + 1) / splits;
        for (int st = st0; st < st1; ++st, ++q) {
          const int slot = q % S;
          if (q >= S) mbarrier_wait(empty0 + 8 * slot, ((q / S) - 1) & 1);
          const int u0 = st * kU, un = min(kU, units - u0);
          const uint32_t dst = smem_addr(ring + size_t(slot) * kStage), bar = full0 + 8 * slot;
          mbarrier_arrive_expect_tx(bar, kTileRows * un * 64);
          const bf16* src = a.w + int64_t(tile) * kTileRows * k + int64_t(u0) * kUnit;
#pragma unroll 1
          for (int r = 0; r < kTileRows; ++r) bulk_copy_g2s(dst + r * kPitch, src + int64_t(r) * k, un * 64, bar);
        }
      }
    }
    pdl_wait(); // the grid completes only after the kernels it depends on (keeps PDL chains transitive)
    return;
  }

  // Consumers: lane (g, t) multiplies 8 bf16 at offset 8t of a unit of rows g and g + 8 with the
  // same 8 of input row g, elements 0-3 as its fragment of k-step 0 and 4-7 of k-step 1: skinny_gemm's
  // pairing (both operands agree on the order, so the sum is the plain dot product).
  pdl_wait();
  const int g = lane >> 2, t = lane & 3;
  const int m = a.m;
  const bf16* xl = a.x + int64_t(min(g, m - 1)) * k + 8 * t; // tokens past m repeat the last; dropped
  uint32_t q = 0;
  for (int item = blockIdx.x; item < a.items; item += gridDim.x) {
    const int tile = item / splits, sp = item - tile * splits;
    const int st0 = spt * sp / splits, st1 = spt * (sp + 1) / splits;
    const int row0 = tile * kTileRows;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int st = st0; st < st1; ++st, ++q) {
      const int slot = q % S;
      const int u0 = st * kU, un = min(kU, units - u0);
      // x first (L2 / L1 hits, independent of the stage), so its latency overlaps the wait.
      uint4 xv[kPer];
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const int ul = warp + i * W;
        xv[i] = ul < un ? __ldg(reinterpret_cast<const uint4*>(xl + int64_t(u0 + ul) * kUnit)) : uint4{0, 0, 0, 0};
      }
      const unsigned char* rows = ring + size_t(slot) * kStage + g * kPitch + 16 * t; // row g, lane's 16 B
      mbarrier_wait(full0 + 8 * slot, (q / S) & 1);
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
      __syncwarp();
      if (lane == 0) mbarrier_arrive(empty0 + 8 * slot); // this warp is done reading the stage
    }

    // The tile's partials of the W warps, summed in warp order.
#pragma unroll
    for (int e = 0; e < 4; ++e) red[(warp * kTileRows + g + 8 * (e >> 1)) * kMaxTokens + 2 * t + (e & 1)] = acc[e];
    named_barrier_sync(1, W * 32);
    Out* y = static_cast<Out*>(a.y);
    if (threadIdx.x < m * kTileRows) {
      const int tok = threadIdx.x >> 4, r = threadIdx.x & 15, row = row0 + r;
      float v = 0.f;
#pragma unroll
      for (int p = 0; p < W; ++p) v += red[(p * kTileRows + r) * kMaxTokens + tok];
      if (splits == 1) {
        store_out(y + int64_t(tok) * a.ldy + row, v, a.beta);
      } else {
        a.partials[(int64_t(sp) * m + tok) * n + row] = v;
        __threadfence(); // the partial is visible before this CTA's arrival is counted
      }
    }
    if (splits > 1) {
      named_barrier_sync(1, W * 32);
      if (threadIdx.x == 0) *last_flag = atomicAdd(&a.counters[tile], 1) == splits - 1;
      named_barrier_sync(1, W * 32);
      if (*last_flag && threadIdx.x < m * kTileRows) {
        __threadfence();
        const int tok = threadIdx.x >> 4, row = row0 + (threadIdx.x & 15);
        float v = 0.f;
        for (int p = 0; p < splits; ++p) v += __ldcg(a.partials + (int64_t(p) * m + tok) * n + row);
        store_out(y + int64_t(tok) * a.ldy + row, v, a.beta);
      }
      if (*last_flag && threadIdx.x == 0) a.counters[tile] = 0; // ready for the next call (graphs replay it)
    }
    named_barrier_sync(1, W * 32); // red and the flag are reused by the next item
  }
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
