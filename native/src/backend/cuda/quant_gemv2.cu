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
// accumulation, one bf16 rounding at the end; the fragments are quant_gemm's, byte for byte
// (fp8: rows g and g + 8 interleaved by two byte permutes a k-step).
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

// The kernel's primitives on the GPU: CUDA's own (see quant_gemv2_kernel.cuh).
#define GEMV2_DEVICE __device__ __forceinline__
#define GEMV2_KERNEL(threads, min_blocks) __global__ void __launch_bounds__(threads, min_blocks)
#define GEMV2_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#define GEMV2_SHARED __shared__
namespace pagoda::cuda::gemv2 {
using cuda::mma_bf16_16816;
using cuda::pdl_launch_dependents;
using cuda::pdl_wait;
} // namespace pagoda::cuda::gemv2
#include "backend/cuda/quant_gemv2_kernel.cuh"

namespace pagoda::cuda {

namespace {

using namespace gemv2;

using KernelFn = void (*)(QuantizedWeight, Gemv2Args);

struct Plan {
  int tiles = kDefaultTiles, row_blocks = 0, splits = 1, cta_groups_max = 0;
  size_t smem = 0;
};

int tiles_or_default(int tiles) {
  if (tiles == 0) return kDefaultTiles;
  if (tiles != 2 && tiles != 4 && tiles != 8) throw Error("quant_gemv2: tiles a CTA must be 2, 4 or 8");
  return tiles;
}

// Splits of k: at least enough that a split's x and scales fit the shared memory limit; then
// the fewest that fill the resident CTA slots of every SM to >= 85% in the last wave (or the
// best of the first eight candidates), so no SM idles through a long tail.
Plan make_plan(const QuantizedWeight& w, int m, int forced_splits, int tiles) {
  Plan p;
  p.tiles = tiles;
  p.row_blocks = (w.n / 16 + tiles - 1) / tiles;
  const int groups = w.k / w.group_size;
  auto fit = [&](int s) {
    p.splits = s;
    p.cta_groups_max = (groups + s - 1) / s;
    p.smem = gemv2_smem_bytes(w, m, p.cta_groups_max, tiles);
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
  PAGODA_CUDA_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, gemv2_kernel_for(w, tiles), kWarps * 32, p.smem));
  const int64_t slots = int64_t(std::max(per_sm, 1)) * device_sm_count();
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

// Plans by weight shape, m and tiles, made at load by quant_gemv2_prepare for the default tiles
// (the occupancy query is a host call; a plan first asked for later is made then).
Plan plan_for(const QuantizedWeight& w, int m, int forced_splits, int tiles_arg) {
  const int tiles = tiles_or_default(tiles_arg);
  if (forced_splits > 0) return make_plan(w, m, forced_splits, tiles);
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int, int, int, int>, Plan> plans;
  const auto key = std::make_tuple(static_cast<int>(w.format), w.n, w.k, w.group_size, m, tiles);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(key);
  if (it == plans.end()) it = plans.emplace(key, make_plan(w, m, 0, tiles)).first;
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
  if ((w.n / 16 + 1) / 2 > kMaxRowBlocks) // two tiles a CTA: the most row blocks
    throw Error("quant_gemv2: " + std::to_string(w.n) + " rows are more than the split counters cover");
}

} // namespace

void quant_gemv2_prepare(const QuantizedWeight& w) {
  for (int m = 1; m <= kMaxTokens; ++m) plan_for(w, m, 0, 0);
  // Loads the gather kernel's code now (lazy module loading), not at its first launch, which may
  // be inside a decode graph's capture; the GEMV's own code the occupancy query has loaded.
  if (w.perm) preload_gather_columns();
}

size_t quant_gemv2_workspace_bytes(const QuantizedWeight& w, int m, int splits, int tiles) {
  check_args(w, m, w.n);
  const Plan p = plan_for(w, m, splits, tiles);
  return kCounterBytes + (w.perm ? align256(size_t(m) * w.k * sizeof(bf16)) : 0) +
         (p.splits > 1 ? size_t(p.splits) * m * w.n * sizeof(float) : 0);
}

int quant_gemv2_splits(const QuantizedWeight& w, int m, int tiles) { return plan_for(w, m, 0, tiles).splits; }

void quant_gemv2(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, void* workspace,
                 size_t workspace_bytes, cudaStream_t stream, int splits, int tiles) {
  check_args(w, m, ldy);
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w.packed) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(workspace) % 256 != 0)
    throw Error("quant_gemv2: x and the packed weight must be 16-byte aligned, the workspace 256-byte aligned");
  const Plan p = plan_for(w, m, splits, tiles);
  const size_t needed = quant_gemv2_workspace_bytes(w, m, splits, tiles);
  if (workspace == nullptr || workspace_bytes < needed)
    throw Error("quant_gemv2: needs a zero-initialized workspace of " + std::to_string(needed) + " bytes");
  auto* bytes = static_cast<unsigned char*>(workspace);
  Gemv2Args args{};
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
  args.cta_groups_max = p.cta_groups_max;
  launch_pdl("quant_gemv2_kernel", gemv2_kernel_for(w, p.tiles), dim3(p.row_blocks, p.splits), dim3(kWarps * 32), p.smem,
             stream, w, args);
}

} // namespace pagoda::cuda
