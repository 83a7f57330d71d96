// The ring machinery the bulk-copy decode GEMV kernels share (quant_gemv_bulk_kernel.cuh, bf16_gemv_bulk_kernel.cuh):
// the shared-memory layout, full / empty mbarriers, the item walk of producer and consumers, the tile's sums.
//
// Written over primitives its includer provides in namespace pagoda::cuda::bulk_ring (on the GPU
// bulk_gemv_device.cuh, in the host emulations host_emulation.h); the kernels' namespaces use this one.
// Expected: BULK_DEVICE, threadIdx, blockIdx, gridDim, __syncthreads, __syncwarp, __threadfence,
// atomicAdd, __ldcg, pdl_wait, smem_addr, mbarrier_init / _init_fence / _arrive / _wait,
// named_barrier_sync, and cuda_bf16.h.
#pragma once

#include <cstddef>
#include <cstdint>

// The layout's constexpr helpers serve host (plans, emulations) and device code alike.
#if defined(__CUDACC__)
#define BULK_HD __host__ __device__
#else
#define BULK_HD
#endif

namespace pagoda::cuda::bulk_ring {

constexpr int kMaxTokens = 8;  // tokens (m) a call multiplies at most: the mma's N
constexpr int kTileRows = 16;  // weight rows of a tile: the mma's M

// Shared memory past the ring: the cross-warp reduction [W][16][8] f32, the full / empty barriers, a flag.
constexpr size_t tail_bytes(int stages, int warps) {
  return size_t(warps) * kTileRows * kMaxTokens * 4 + 2 * size_t(stages) * 8 + 16;
}

// What the walk and the tile's sums need of a call (fields of the kernels' Args).
template <typename Out> struct Walk {
  Out* y; // [m] rows ldy apart
  int ldy, m, n;
  float beta;
  int items, splits, stages_per_tile;
  float* partials; // [splits][m][n] f32 when splits > 1
  int* counters;   // [tiles], zero between calls (the tile's last CTA resets its own)
};

// A work item: k-split sp of a tile, its stages [st0, st1).
struct Item {
  int tile, sp, st0, st1;
};
BULK_DEVICE Item item_at(int item, int splits, int spt) {
  const int tile = item / splits, sp = item - tile * splits;
  return {tile, sp, spt * sp / splits, spt * (sp + 1) / splits};
}

// v (+ beta times the prior y), rounded once to the output type.
BULK_DEVICE void store_out(__nv_bfloat16* y, float v, float beta) {
  if (beta != 0.f) v += beta * __bfloat162float(*y);
  *y = __float2bfloat16(v);
}
BULK_DEVICE void store_out(float* y, float v, float beta) {
  if (beta != 0.f) v += beta * *y;
  *y = v;
}

// The CTA's dynamic shared memory: S stages of kStage bytes, then tail_bytes' parts. Stage q of the
// CTA's walk sits in slot q % S; its fill of round q / S completes the slot's full barrier (phase
// parity (q / S) & 1), the W consumer warps' releases its empty one.
template <int S, int W, int kStage> struct Ring {
  unsigned char* ring;
  float* red;
  int* last_flag;
  uint32_t full0, empty0;

  BULK_DEVICE explicit Ring(unsigned char* smem) {
    ring = smem;
    red = reinterpret_cast<float*>(smem + size_t(S) * kStage);
    uint64_t* bars = reinterpret_cast<uint64_t*>(red + W * kTileRows * kMaxTokens);
    last_flag = reinterpret_cast<int*>(bars + 2 * S);
    full0 = smem_addr(bars);
    empty0 = smem_addr(bars + S);
  }
  BULK_DEVICE unsigned char* stage(int slot) const { return ring + size_t(slot) * kStage; }
  BULK_DEVICE uint32_t full(int slot) const { return full0 + 8 * slot; }
  BULK_DEVICE uint32_t empty(int slot) const { return empty0 + 8 * slot; }

  // Every thread of the CTA calls it: thread 0 initializes the barriers, all wait for that.
  BULK_DEVICE void init() const {
    if (threadIdx.x == 0) {
      for (int s = 0; s < S; ++s) {
        mbarrier_init(full(s), 1);
        mbarrier_init(empty(s), W);
      }
      mbarrier_init_fence();
    }
    __syncthreads();
  }
  // A consumer waits for the bytes of stage q (in slot q % S).
  BULK_DEVICE void wait_full(int slot, uint32_t q) const { mbarrier_wait(full(slot), (q / S) & 1); }

  // The producer warp: one lane streams every stage of the CTA's items in order; a slot is refilled
  // once all W consumer warps have released it. issue(tile, st, dst, bar) arms bar with the stage's
  // bytes and copies it to shared address dst. The weights depend on no earlier kernel, so the ring
  // fills before the PDL wait.
  template <typename Out, typename Issue> BULK_DEVICE void produce(const Walk<Out>& o, int lane, Issue&& issue) const {
    if (lane == 0) {
      uint32_t q = 0;
      for (int item = blockIdx.x; item < o.items; item += gridDim.x) {
        const Item it = item_at(item, o.splits, o.stages_per_tile);
        for (int st = it.st0; st < it.st1; ++st, ++q) {
          const int slot = q % S;
          if (q >= S) mbarrier_wait(empty(slot), ((q / S) - 1) & 1);
          issue(it.tile, st, smem_addr(stage(slot)), full(slot));
        }
      }
    }
    pdl_wait(); // the grid completes only after the kernels it depends on (keeps PDL chains transitive)
  }

  // A consumer warp: multiply(acc, row0, st, slot, q) adds the warp's share of stage st of the tile at row
  // row0 (ring stage q in slot; it calls wait_full(slot, q)) to the lane's mma accumulators; the warp then releases the stage, and after
  // each item the tile is summed (finish_tile).
  template <typename Out, typename Multiply>
  BULK_DEVICE void consume(const Walk<Out>& o, int warp, int lane, Multiply&& multiply) const {
    uint32_t q = 0;
    for (int item = blockIdx.x; item < o.items; item += gridDim.x) {
      const Item it = item_at(item, o.splits, o.stages_per_tile);
      const int row0 = it.tile * kTileRows;
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
      for (int st = it.st0; st < it.st1; ++st, ++q) {
        const int slot = q % S;
        multiply(acc, row0, st, slot, q);
        __syncwarp();
        if (lane == 0) mbarrier_arrive(empty(slot)); // this warp is done reading the stage
      }
      finish_tile(o, it, acc, warp, lane);
    }
  }

  // The tile's partials of the W warps, summed in warp order; with k-splits each split's sum goes to
  // partials and the tile's last CTA sums them in split order (deterministic) and resets the counter.
  template <typename Out>
  BULK_DEVICE void finish_tile(const Walk<Out>& o, const Item& it, const float (&acc)[4], int warp, int lane) const {
    const int g = lane >> 2, t = lane & 3;
    const int m = o.m, n = o.n, splits = o.splits, row0 = it.tile * kTileRows;
#pragma unroll
    for (int e = 0; e < 4; ++e) red[(warp * kTileRows + g + 8 * (e >> 1)) * kMaxTokens + 2 * t + (e & 1)] = acc[e];
    named_barrier_sync(1, W * 32);
    if (threadIdx.x < m * kTileRows) {
      const int tok = threadIdx.x >> 4, r = threadIdx.x & 15, row = row0 + r;
      float v = 0.f;
#pragma unroll
      for (int p = 0; p < W; ++p) v += red[(p * kTileRows + r) * kMaxTokens + tok];
      if (splits == 1) {
        store_out(o.y + int64_t(tok) * o.ldy + row, v, o.beta);
      } else {
        o.partials[(int64_t(it.sp) * m + tok) * n + row] = v;
        __threadfence(); // the partial is visible before this CTA's arrival is counted
      }
    }
    if (splits > 1) {
      named_barrier_sync(1, W * 32);
      if (threadIdx.x == 0) *last_flag = atomicAdd(&o.counters[it.tile], 1) == splits - 1;
      named_barrier_sync(1, W * 32);
      if (*last_flag && threadIdx.x < m * kTileRows) {
        __threadfence();
        const int tok = threadIdx.x >> 4, row = row0 + (threadIdx.x & 15);
        float v = 0.f;
        for (int p = 0; p < splits; ++p) v += __ldcg(o.partials + (int64_t(p) * m + tok) * n + row);
        store_out(o.y + int64_t(tok) * o.ldy + row, v, o.beta);
      }
      if (*last_flag && threadIdx.x == 0) o.counters[it.tile] = 0; // ready for the next call (graphs replay it)
    }
    named_barrier_sync(1, W * 32); // red and the flag are reused by the next item
  }
};

} // namespace pagoda::cuda::bulk_ring
