// Decode GEMV for quantized weights (int4 GPTQ / AWQ, fp8 e4m3) at m = 1..8 that streams the weight
// through Hopper's bulk copy engine: bytes in flight live in a shared-memory ring, not registers.
//
// Persistent CTAs walk work items (a 16-row tile over all of k, or a fixed k-split of it). In each
// CTA one elected producer lane issues 1D bulk copies (cp.async.bulk, completion counted on a full
// mbarrier per stage) into an S-stage ring that runs on across the CTA's items; int4 tiles are
// contiguous (a stage is one copy), fp8 rows are k bytes apart (a stage is 16 row copies into a
// padded pitch, so the lanes' 16-byte reads of rows g and g + 8 hit distinct banks). The first
// stages go out before griddepcontrol.wait: weights depend on no earlier kernel. W consumer warps
// decode scale groups of a stage round robin, release the stage on its empty mbarrier, then sum
// their tile partials through shared memory in warp order; k-splits are summed by the tile's last
// CTA in split order (deterministic).
//
// Arithmetic as quant_gemm: mma.sync m16n8k16 (weight rows as M, tokens as N), codes to bf16
// exactly, the group's f32 partial times the (group, row) scale, f32 accumulation, + beta * y, one
// bf16 rounding at the end.
#include "backend/cuda/quant_kernels.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/wgmma.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kMaxTokens = 8;
// One split counter per tile at a fixed offset, so no weight's partials overwrite another's counters.
constexpr size_t kCounterBytes = 64 * 1024;
constexpr int kMaxTiles = static_cast<int>(kCounterBytes / sizeof(int));
constexpr int kBulkConfigs = 4;

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
template <QuantFormat F> __host__ __device__ constexpr int stage_chunks(int stage_bytes) {
  return F == QuantFormat::kInt4 ? stage_bytes / 512 : stage_bytes / 1024;
}
__host__ __device__ constexpr int fp8_pitch(int chunks) { return (chunks * 64 + 127) / 128 * 128 + 64; }
template <QuantFormat F> __host__ __device__ constexpr int stage_size(int stage_bytes) {
  return F == QuantFormat::kInt4 ? stage_bytes : 16 * fp8_pitch(stage_chunks<F>(stage_bytes));
}
// Shared memory: the ring, the cross-warp reduction [W][16][8] f32, the full / empty barriers, a flag.
template <QuantFormat F> constexpr size_t smem_bytes(int stages, int stage_bytes, int warps) {
  return size_t(stages) * stage_size<F>(stage_bytes) + size_t(warps) * 16 * kMaxTokens * 4 + 2 * size_t(stages) * 8 + 16;
}

__device__ __forceinline__ float load_scale(const __half* s, int64_t i) { return __half2float(s[i]); }
__device__ __forceinline__ float load_scale(const float* s, int64_t i) { return s[i]; }

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// F: format; G: 64-wide chunks a scale group; ScaleT: __half / float; S: ring stages; B: nominal
// bytes a stage; W: consumer warps (one more warp produces).
template <QuantFormat F, int G, typename ScaleT, int S, int B, int W>
__global__ void __launch_bounds__((W + 1) * 32, 1) quant_gemv_bulk_kernel(const QuantizedWeight w, const BulkArgs a) {
  constexpr int kC = stage_chunks<F>(B);
  constexpr int kStage = stage_size<F>(B);
  constexpr int kPitch = fp8_pitch(kC); // fp8 only
  static_assert(kC % G == 0, "a stage holds whole scale groups");
  static_assert(kStage % 128 == 0, "stages stay 128-byte aligned");
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* ring = smem;
  float* red = reinterpret_cast<float*>(smem + size_t(S) * kStage);
  uint64_t* bars = reinterpret_cast<uint64_t*>(red + W * 16 * kMaxTokens);
  int* last_flag = reinterpret_cast<int*>(bars + 2 * S);
  const uint32_t full0 = smem_addr(bars), empty0 = smem_addr(bars + S);

  pdl_launch_dependents();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = w.n, k = w.k, chunks = k / 64;
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
    // Producer: one lane streams every stage of the CTA's items in order; a slot is refilled once
    // all W consumer warps have released it.
    if (lane == 0) {
      uint32_t q = 0;
      for (int item = blockIdx.x; item < a.items; item += gridDim.x) {
        const int tile = item / splits, sp = item - tile * splits;
        const int st0 = spt * sp / splits, st1 = spt * (sp + 1) / splits;
        for (int st = st0; st < st1; ++st, ++q) {
          const int slot = q % S;
          if (q >= S) mbarrier_wait(empty0 + 8 * slot, ((q / S) - 1) & 1);
          const int c0 = st * kC, cn = min(kC, chunks - c0);
          const uint32_t dst = smem_addr(ring + size_t(slot) * kStage), bar = full0 + 8 * slot;
          if constexpr (F == QuantFormat::kInt4) {
            mbarrier_arrive_expect_tx(bar, cn * 512);
            bulk_copy_g2s(dst, static_cast<const unsigned char*>(w.packed) + (int64_t(tile) * chunks + c0) * 512, cn * 512,
                          bar);
          } else {
            mbarrier_arrive_expect_tx(bar, 16 * cn * 64);
            const unsigned char* src = static_cast<const unsigned char*>(w.packed) + int64_t(tile) * 16 * k + c0 * 64;
#pragma unroll 1
            for (int r = 0; r < 16; ++r) bulk_copy_g2s(dst + r * kPitch, src + int64_t(r) * k, cn * 64, bar);
          }
        }
      }
    }
    pdl_wait(); // the grid completes only after the kernels it depends on (keeps PDL chains transitive)
    return;
  }

  // Consumers.
  pdl_wait();
  const int g = lane >> 2, t = lane & 3;
  const int m = a.m;
  const ScaleT* scales = static_cast<const ScaleT*>(w.scales);
  const bf16* xl = a.x + int64_t(min(g, m - 1)) * k + 16 * t; // tokens past m repeat the last; dropped
  uint32_t q = 0;
  for (int item = blockIdx.x; item < a.items; item += gridDim.x) {
    const int tile = item / splits, sp = item - tile * splits;
    const int st0 = spt * sp / splits, st1 = spt * (sp + 1) / splits;
    const int row0 = tile * 16;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int st = st0; st < st1; ++st, ++q) {
      const int slot = q % S;
      const int c0 = st * kC, ng = min(kC, chunks - c0) / G;
      const unsigned char* stage = ring + size_t(slot) * kStage;
      mbarrier_wait(full0 + 8 * slot, (q / S) & 1);
#pragma unroll 1
      for (int gi = warp; gi < ng; gi += W) {
        const int gg = c0 / G + gi; // the scale group
        const float s0 = load_scale(scales, int64_t(gg) * w.scale_index.group_stride +
                                                int64_t((row0 + g) >> w.scale_index.row_shift) * w.scale_index.row_stride);
        const float s1 = load_scale(scales, int64_t(gg) * w.scale_index.group_stride +
                                                int64_t((row0 + g + 8) >> w.scale_index.row_shift) * w.scale_index.row_stride);
        uint32_t zero2[2] = {0, 0};
        if constexpr (F == QuantFormat::kInt4) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const uint32_t z = w.zeros ? w.zeros[int64_t(gg) * n + row0 + g + 8 * h] : 8u;
            zero2[h] = (0x4300u + z) * 0x00010001u;
          }
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
        acc[0] += part[0] * s0;
        acc[1] += part[1] * s0;
        acc[2] += part[2] * s1;
        acc[3] += part[3] * s1;
      }
      __syncwarp();
      if (lane == 0) mbarrier_arrive(empty0 + 8 * slot); // this warp is done reading the stage
    }

    // The tile's partials of the W warps, summed in warp order.
#pragma unroll
    for (int e = 0; e < 4; ++e) red[(warp * 16 + g + 8 * (e >> 1)) * kMaxTokens + 2 * t + (e & 1)] = acc[e];
    named_barrier_sync(1, W * 32);
    if (threadIdx.x < m * 16) {
      const int tok = threadIdx.x >> 4, r = threadIdx.x & 15, row = row0 + r;
      float v = 0.f;
#pragma unroll
      for (int p = 0; p < W; ++p) v += red[(p * 16 + r) * kMaxTokens + tok];
      if (splits == 1) {
        bf16* out = a.y + int64_t(tok) * a.ldy + row;
        if (a.beta != 0.f) v += a.beta * __bfloat162float(*out);
        *out = __float2bfloat16(v);
      } else {
        a.partials[(int64_t(sp) * m + tok) * n + row] = v;
        __threadfence(); // the partial is visible before this CTA's arrival is counted
      }
    }
    if (splits > 1) {
      named_barrier_sync(1, W * 32);
      if (threadIdx.x == 0) *last_flag = atomicAdd(&a.counters[tile], 1) == splits - 1;
      named_barrier_sync(1, W * 32);
      if (*last_flag && threadIdx.x < m * 16) {
        __threadfence();
        const int tok = threadIdx.x >> 4, row = row0 + (threadIdx.x & 15);
        float v = 0.f;
        for (int p = 0; p < splits; ++p) v += __ldcg(a.partials + (int64_t(p) * m + tok) * n + row);
        bf16* out = a.y + int64_t(tok) * a.ldy + row;
        if (a.beta != 0.f) v += a.beta * __bfloat162float(*out);
        *out = __float2bfloat16(v);
      }
      if (*last_flag && threadIdx.x == 0) a.counters[tile] = 0; // ready for the next call (graphs replay it)
    }
    named_barrier_sync(1, W * 32); // red and the flag are reused by the next item
  }
}

// The ring configurations {stages, nominal stage bytes, consumer warps}: 0 is the default, the
// others are for the bench's sweep.
constexpr int kConfig[kBulkConfigs][3] = {
    {8, 16384, 8}, // 128 KB in flight, one CTA an SM
    {4, 16384, 4}, // 64 KB a CTA, two or three an SM
    {8, 8192, 4},  // 64 KB in 8 KB stages
    {12, 8192, 8}, // 96 KB in 8 KB stages
};

using KernelFn = void (*)(QuantizedWeight, BulkArgs);
struct KernelInfo {
  KernelFn fn;
  size_t smem;
  int threads, stage_chunks;
};

template <QuantFormat F, int G, typename ScaleT, int Config> KernelInfo info() {
  constexpr int kS = kConfig[Config][0], kB = kConfig[Config][1], kW = kConfig[Config][2];
  return {&quant_gemv_bulk_kernel<F, G, ScaleT, kS, kB, kW>, smem_bytes<F>(kS, kB, kW), (kW + 1) * 32, stage_chunks<F>(kB)};
}
template <QuantFormat F, int G, typename ScaleT> KernelInfo info_for(int config) {
  switch (config) {
  case 1: return info<F, G, ScaleT, 1>();
  case 2: return info<F, G, ScaleT, 2>();
  case 3: return info<F, G, ScaleT, 3>();
  default: return info<F, G, ScaleT, 0>();
  }
}
KernelInfo kernel_for(const QuantizedWeight& w, int config) {
  if (w.format == QuantFormat::kFp8) return info_for<QuantFormat::kFp8, 2, float>(config);
  if (w.group_size == 128) return info_for<QuantFormat::kInt4, 2, __half>(config);
  return info_for<QuantFormat::kInt4, 1, __half>(config);
}

struct Plan {
  KernelInfo kernel{};
  int grid = 0, items = 0, splits = 1, stages_per_tile = 0;
};

// Splits of a tile's stages: the fewest that minimise the busiest CTA's stage count (items dealt
// round robin to min(items, resident slots) persistent CTAs).
Plan make_plan(const QuantizedWeight& w, int config) {
  Plan p;
  p.kernel = kernel_for(w, config);
  PAGODA_CUDA_CHECK(cudaFuncSetAttribute(p.kernel.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, int(p.kernel.smem)));
  int per_sm = 0;
  PAGODA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, p.kernel.fn, p.kernel.threads, p.kernel.smem));
  if (per_sm < 1) throw Error("quant_gemv_bulk: the kernel does not fit an SM");
  const int64_t slots = int64_t(per_sm) * device_sm_count();
  const int tiles = w.n / 16, chunks = w.k / 64;
  p.stages_per_tile = (chunks + p.kernel.stage_chunks - 1) / p.kernel.stage_chunks;
  int64_t best_cost = -1;
  for (int s = 1; s <= p.stages_per_tile; ++s) {
    const int64_t items = int64_t(tiles) * s, grid = std::min(items, slots);
    const int64_t cost = (items + grid - 1) / grid * ((p.stages_per_tile + s - 1) / s);
    if (best_cost < 0 || cost < best_cost) best_cost = cost, p.splits = s;
  }
  p.items = tiles * p.splits;
  p.grid = static_cast<int>(std::min<int64_t>(p.items, slots));
  return p;
}

std::mutex& plans_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::tuple<int, int, int, int, int>, Plan>& plans() {
  static std::map<std::tuple<int, int, int, int, int>, Plan> p;
  return p;
}
auto plan_key(const QuantizedWeight& w, int config) {
  return std::make_tuple(static_cast<int>(w.format), w.n, w.k, w.group_size, config);
}

int config_or_default(int config) {
  if (config < -1 || config >= kBulkConfigs) throw Error("quant_gemv_bulk: config must be 0.." + std::to_string(kBulkConfigs - 1));
  return config < 0 ? 0 : config;
}

// Plans exist only after quant_gemv_bulk_prepare (it sets the shared-memory attribute, which must
// not happen inside a graph capture).
Plan plan_for(const QuantizedWeight& w, int config) {
  std::lock_guard<std::mutex> lock(plans_mutex());
  auto it = plans().find(plan_key(w, config_or_default(config)));
  if (it == plans().end()) throw Error("quant_gemv_bulk: call quant_gemv_bulk_prepare for this weight at load");
  return it->second;
}

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

void check_args(const QuantizedWeight& w, int m, int ldy) {
  if (m < 1 || m > kMaxTokens) throw Error("quant_gemv_bulk: m must be 1..8, got " + std::to_string(m));
  if (ldy < w.n) throw Error("quant_gemv_bulk: the row stride of y is shorter than a row");
  if (w.n <= 0 || w.n % 16 != 0 || w.k <= 0 || w.k % kQuantChunk != 0)
    throw Error("quant_gemv_bulk: weight shape " + std::to_string(w.n) + " x " + std::to_string(w.k) +
                " is not a multiple of 16 x 64");
  if (w.group_size != 64 && w.group_size != 128)
    throw Error("quant_gemv_bulk: group size " + std::to_string(w.group_size) + " (64 or 128 are served)");
  if (w.format == QuantFormat::kFp8 && w.group_size != 128) throw Error("quant_gemv_bulk: fp8 weights use 128-wide groups");
  if (w.k % w.group_size != 0) throw Error("quant_gemv_bulk: k is not a whole number of groups");
  if (w.n / 16 > kMaxTiles) throw Error("quant_gemv_bulk: " + std::to_string(w.n) + " rows are more than the split counters cover");
}

} // namespace

void quant_gemv_bulk_prepare(const QuantizedWeight& w) {
  check_args(w, 1, w.n);
  for (int config = 0; config < kBulkConfigs; ++config) {
    std::lock_guard<std::mutex> lock(plans_mutex());
    const auto key = plan_key(w, config);
    if (plans().find(key) == plans().end()) plans().emplace(key, make_plan(w, config));
  }
  if (w.perm) preload_gather_columns(); // its first launch may otherwise fall inside a capture
}

int quant_gemv_bulk_configs() { return kBulkConfigs; }

size_t quant_gemv_bulk_workspace_bytes(const QuantizedWeight& w, int m, int config) {
  check_args(w, m, w.n);
  const Plan p = plan_for(w, config);
  return kCounterBytes + (w.perm ? align256(size_t(m) * w.k * sizeof(bf16)) : 0) +
         (p.splits > 1 ? size_t(p.splits) * m * w.n * sizeof(float) : 0);
}

int quant_gemv_bulk_splits(const QuantizedWeight& w, int config) { return plan_for(w, config).splits; }

void quant_gemv_bulk(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream, int config) {
  check_args(w, m, ldy);
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w.packed) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(workspace) % 256 != 0)
    throw Error("quant_gemv_bulk: x and the packed weight must be 16-byte aligned, the workspace 256-byte aligned");
  const Plan p = plan_for(w, config);
  const size_t needed = quant_gemv_bulk_workspace_bytes(w, m, config);
  if (workspace == nullptr || workspace_bytes < needed)
    throw Error("quant_gemv_bulk: needs a zero-initialized workspace of " + std::to_string(needed) + " bytes");
  auto* bytes = static_cast<unsigned char*>(workspace);
  BulkArgs args{};
  args.counters = reinterpret_cast<int*>(bytes);
  bytes += kCounterBytes;
  args.x = x;
  if (w.perm) {
    bf16* gathered = reinterpret_cast<bf16*>(bytes);
    bytes += align256(size_t(m) * w.k * sizeof(bf16));
    gather_columns(x, w.perm, gathered, m, w.k, stream);
    args.x = gathered;
  }
  args.partials = p.splits > 1 ? reinterpret_cast<float*>(bytes) : nullptr;
  args.y = y;
  args.ldy = ldy;
  args.m = m;
  args.beta = beta;
  args.items = p.items;
  args.splits = p.splits;
  args.stages_per_tile = p.stages_per_tile;
  launch_pdl("quant_gemv_bulk_kernel", p.kernel.fn, dim3(p.grid), dim3(p.kernel.threads), p.kernel.smem, stream, w, args);
}

} // namespace pagoda::cuda
