// Decode GEMV for quantized weights (int4 GPTQ / AWQ, fp8 e4m3) at m = 1..8 tokens, over the
// layouts quant_gemm reads (quantized_weight.h; no second copy of the weights), built to keep
// HBM busy: every lane keeps a ring of D scale groups of 16-byte weight loads in flight in
// registers and refills a slot as soon as it has been decoded (no batch boundary where the
// pipeline drains), the first D groups are issued before griddepcontrol.wait (weights depend on
// no kernel), x and the CTA's scales / zero points are staged once in shared memory, and k is
// split across CTAs where the rows alone would not fill the GPU (a deterministic reduction: the
// last CTA of a row block sums the splits' f32 partials in split order).
//
// Arithmetic as quant_gemm: mma.sync m16n8k16 (weight rows as M, tokens as N), codes to bf16
// exactly (int4: nibble pair | 0x43004300 = 128 + q, minus 128 + z; e4m3: sign and 7 bits moved
// into a bf16, times 2^120), the group's f32 partial sum times the (group, row) scale, f32
// accumulation, one bf16 rounding at the end. fp8 skips quant_gemm's byte permutes: x is staged
// with each 4-column run stored as (0, 2, 1, 3), so the even / odd bytes of a lane's weight word
// (k 0, 2 / 1, 3) meet the x pair of the same k in the B fragment.
#include "backend/cuda/quant_kernels.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kWarps = 8;                   // a CTA: 256 threads
constexpr int kTiles = 4;                   // 16-row tiles a CTA owns (x staged once for 64 rows)
constexpr int kKParts = kWarps / kTiles;    // warps splitting the CTA's k range per tile
constexpr int kRows = kTiles * 16;          // weight rows of a CTA
constexpr int kMaxTokens = 8;               // one n8 tile of tokens
constexpr size_t kSmemLimit = 48 * 1024;    // no opt-in attribute needed, ever
constexpr int kMinBlocksPerSm = 3;          // __launch_bounds__: registers <= 85
constexpr int kMaxSplits = 32;

__device__ __forceinline__ float load_scale(const __half* s, int64_t i) { return __half2float(s[i]); }
__device__ __forceinline__ float load_scale(const float* s, int64_t i) { return s[i]; }

__device__ __forceinline__ uint32_t bf16x2_sub(uint32_t a, uint32_t b) {
  const __nv_bfloat162 r = __hsub2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}
__device__ __forceinline__ uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
  const __nv_bfloat162 r = __hmul2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}

// e4m3 bytes 0 and 2 (even) or 1 and 3 (odd) of w as an exact bf16 pair: sign to bit 15, the
// other 7 bits to bits 10..4 (value x 2^-120, representable, subnormals too), times 2^120.
constexpr uint32_t kBf16Pow2_120 = 0x7B807B80u;
__device__ __forceinline__ uint32_t e4m3_even(uint32_t w) {
  return bf16x2_mul(((w << 8) & 0x80008000u) | ((w << 4) & 0x07F007F0u), kBf16Pow2_120);
}
__device__ __forceinline__ uint32_t e4m3_odd(uint32_t w) {
  return bf16x2_mul((w & 0x80008000u) | ((w >> 4) & 0x07F007F0u), kBf16Pow2_120);
}

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

// F: format; G: 64-wide chunks a scale group; D: ring depth in groups; ScaleT: __half / float.
template <QuantFormat F, int G, int D, typename ScaleT>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocksPerSm)
    quant_gemv2_kernel(const QuantizedWeight w, const Gemv2Args a) {
  extern __shared__ __align__(16) unsigned char smem[];
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
      uint4 q = *reinterpret_cast<const uint4*>(a.x + int64_t(r) * k + cg0 * kGroupCols + 8 * v);
      if constexpr (F == QuantFormat::kFp8) {
        // Columns 4j + (0, 1, 2, 3) stored as (0, 2, 1, 3): the order of the bytes a lane decodes.
        const uint4 p = q;
        q.x = __byte_perm(p.x, p.y, 0x5410);
        q.y = __byte_perm(p.x, p.y, 0x7632);
        q.z = __byte_perm(p.z, p.w, 0x5410);
        q.w = __byte_perm(p.z, p.w, 0x7632);
      }
      *reinterpret_cast<uint4*>(xs + r * xstride + 8 * v) = q;
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
              // Row g's word holds k 0..3 of this k-step, row g + 8's the same k: fragment
              // registers (g, k 0 2), (g + 8, k 0 2), (g, k 1 3), (g + 8, k 1 3) — x was staged
              // in that column order.
              const uint32_t rg = (&ring[j].w[c][0].x)[s], r8 = (&ring[j].w[c][1].x)[s];
              af[0] = e4m3_even(rg);
              af[1] = e4m3_even(r8);
              af[2] = e4m3_odd(rg);
              af[3] = e4m3_odd(r8);
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
  __shared__ bool last;
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

// x_perm[r, j] = x[r, perm[j]] for an act-order weight (its packed columns are grouped).
__global__ void gemv2_gather_kernel(const bf16* __restrict__ x, const int32_t* __restrict__ perm, bf16* __restrict__ out,
                                    int m, int k) {
  pdl_launch_dependents();
  pdl_wait();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < m * k; i += gridDim.x * blockDim.x) {
    const int r = i / k, j = i - r * k;
    out[i] = x[int64_t(r) * k + perm[j]];
  }
}

int sm_count() {
  static const int sms = [] {
    int device = 0, count = 0;
    PAGODA_CUDA_CHECK(cudaGetDevice(&device));
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  return sms;
}

using KernelFn = void (*)(QuantizedWeight, Gemv2Args);

// The instantiation for a weight: ring depths keep ~128 bytes of weights a lane in flight
// (int4 g128: 4 groups x 2 chunks x 16 B; g64: 8 x 1 x 16 B; fp8: 3 x 2 x 2 x 16 B = 192 B).
KernelFn kernel_for(const QuantizedWeight& w) {
  if (w.format == QuantFormat::kFp8) return quant_gemv2_kernel<QuantFormat::kFp8, 2, 3, float>;
  if (w.group_size == 128) return quant_gemv2_kernel<QuantFormat::kInt4, 2, 4, __half>;
  return quant_gemv2_kernel<QuantFormat::kInt4, 1, 8, __half>;
}

size_t smem_bytes(const QuantizedWeight& w, int m, int cta_groups_max) {
  const size_t x = (size_t(m) * (size_t(cta_groups_max) * w.group_size + 8) * 2 + 15) / 16 * 16;
  const size_t scales = size_t(cta_groups_max) * kRows * 4;
  const size_t zeros = w.format == QuantFormat::kInt4 ? size_t(cta_groups_max) * kRows : 0;
  const size_t reduction = size_t(kWarps) * 16 * kMaxTokens * 4;
  return std::max(x + scales + zeros, reduction);
}

struct Plan {
  int row_blocks = 0, splits = 1, cta_groups_max = 0;
  size_t smem = 0;
};

// Splits of k: at least enough that a split's x and scales fit 48 KB of shared memory; then
// the fewest that fill the resident CTA slots of every SM to >= 85% in the last wave (or the
// best of the first eight candidates), so no SM idles through a long tail.
Plan make_plan(const QuantizedWeight& w, int m, int forced_splits) {
  Plan p;
  p.row_blocks = (w.n / 16 + kTiles - 1) / kTiles;
  const int groups = w.k / w.group_size;
  auto fit = [&](int s) {
    p.splits = s;
    p.cta_groups_max = (groups + s - 1) / s;
    p.smem = smem_bytes(w, m, p.cta_groups_max);
    return p.smem <= kSmemLimit;
  };
  int s_min = 1;
  while (s_min < groups && !fit(s_min)) ++s_min;
  if (!fit(s_min)) throw Error("quant_gemv2: a scale group of x does not fit shared memory");
  if (forced_splits > 0) {
    if (!fit(std::min(std::max(forced_splits, s_min), groups))) throw Error("quant_gemv2: forced splits do not fit");
    return p;
  }
  int per_sm = 0;
  PAGODA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel_for(w), kWarps * 32, p.smem));
  const int64_t slots = int64_t(std::max(per_sm, 1)) * sm_count();
  int best = s_min;
  double best_fill = 0;
  for (int s = s_min; s <= std::min(groups, std::min(kMaxSplits, s_min + 7)); ++s) {
    const int64_t ctas = int64_t(p.row_blocks) * s;
    const int64_t waves = (ctas + slots - 1) / slots;
    const double fill = double(ctas) / double(waves * slots);
    if (fill > best_fill + 1e-9) best = s, best_fill = fill;
    if (fill >= 0.85) break;
  }
  fit(best);
  return p;
}

// Plans by weight shape and m, made at load by quant_gemv2_prepare (the occupancy query is
// a host call; a plan first asked for during a graph capture is made then, which is legal too).
Plan plan_for(const QuantizedWeight& w, int m, int forced_splits) {
  if (forced_splits > 0) return make_plan(w, m, forced_splits);
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int, int, int>, Plan> plans;
  const auto key = std::make_tuple(static_cast<int>(w.format), w.n, w.k, w.group_size, m);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(key);
  if (it == plans.end()) it = plans.emplace(key, make_plan(w, m, 0)).first;
  return it->second;
}

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

void check_args(const QuantizedWeight& w, int m, int ldy) {
  if (m < 1 || m > kMaxTokens) throw Error("quant_gemv2: m must be 1..8, got " + std::to_string(m));
  if (ldy < w.n) throw Error("quant_gemv2: the row stride of y is shorter than a row");
  if (w.n <= 0 || w.n % 16 != 0 || w.k <= 0 || w.k % kQuantChunk != 0)
    throw Error("quant_gemv2: weight shape " + std::to_string(w.n) + " x " + std::to_string(w.k) +
                " is not a multiple of 16 x 64");
  if (w.group_size != 64 && w.group_size != 128)
    throw Error("quant_gemv2: group size " + std::to_string(w.group_size) + " (64 or 128 are served)");
  if (w.format == QuantFormat::kFp8 && w.group_size != 128) throw Error("quant_gemv2: fp8 weights use 128-wide groups");
  if (w.k % w.group_size != 0) throw Error("quant_gemv2: k is not a whole number of groups");
}

} // namespace

void quant_gemv2_prepare(const QuantizedWeight& w) {
  for (int m = 1; m <= kMaxTokens; ++m) plan_for(w, m, 0);
}

size_t quant_gemv2_workspace_bytes(const QuantizedWeight& w, int m, int splits) {
  check_args(w, m, w.n);
  const Plan p = plan_for(w, m, splits);
  return align256(size_t(p.row_blocks) * sizeof(int)) + (w.perm ? align256(size_t(m) * w.k * sizeof(bf16)) : 0) +
         (p.splits > 1 ? size_t(p.splits) * m * w.n * sizeof(float) : 0);
}

int quant_gemv2_splits(const QuantizedWeight& w, int m) { return plan_for(w, m, 0).splits; }

void quant_gemv2(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, void* workspace,
                 size_t workspace_bytes, cudaStream_t stream, int splits) {
  check_args(w, m, ldy);
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w.packed) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(workspace) % 256 != 0)
    throw Error("quant_gemv2: x and the packed weight must be 16-byte aligned, the workspace 256-byte aligned");
  const Plan p = plan_for(w, m, splits);
  if (workspace == nullptr || workspace_bytes < quant_gemv2_workspace_bytes(w, m, splits))
    throw Error("quant_gemv2: needs a zero-initialized workspace of " +
                std::to_string(quant_gemv2_workspace_bytes(w, m, splits)) + " bytes");
  auto* bytes = static_cast<unsigned char*>(workspace);
  Gemv2Args args{};
  args.counters = reinterpret_cast<int*>(bytes);
  bytes += align256(size_t(p.row_blocks) * sizeof(int));
  args.x = x;
  if (w.perm) {
    bf16* gathered = reinterpret_cast<bf16*>(bytes);
    bytes += align256(size_t(m) * w.k * sizeof(bf16));
    const int blocks = std::min((m * w.k + 255) / 256, 1024);
    launch_pdl("gemv2_gather_kernel", gemv2_gather_kernel, dim3(blocks), dim3(256), 0, stream, x, w.perm, gathered, m, w.k);
    args.x = gathered;
  }
  args.partials = p.splits > 1 ? reinterpret_cast<float*>(bytes) : nullptr;
  args.y = y;
  args.ldy = ldy;
  args.m = m;
  args.cta_groups_max = p.cta_groups_max;
  launch_pdl("quant_gemv2_kernel", kernel_for(w), dim3(p.row_blocks, p.splits), dim3(kWarps * 32), p.smem, stream, w,
             args);
}

} // namespace pagoda::cuda
