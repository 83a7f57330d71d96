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
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "backend/cuda/cuda_check.h"
#include "error.h"

#include "backend/cuda/bulk_gemv_device.cuh" // before the kernel source: its primitives
#include "backend/cuda/quant_gemv_bulk_kernel.cuh"

namespace pagoda::cuda {

namespace {

using namespace gemv_bulk;

// One split counter per tile at a fixed offset, so no weight's partials overwrite another's counters.
constexpr size_t kCounterBytes = 64 * 1024;
constexpr int kMaxTiles = static_cast<int>(kCounterBytes / sizeof(int));

struct Plan {
  KernelInfo kernel{};
  int grid = 0, items = 0, splits = 1, stages_per_tile = 0;
};

// The plan: the occupancy query's resident CTAs, the split of choose_splits.
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
  p.splits = choose_splits(tiles, p.stages_per_tile, slots);
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

// The ring a call takes when it names none: PAGODA_QUANT_GEMV_BULK_CONFIG (read once; lets a device run
// measure the engine with the config the kernel bench found fastest), else 0.
int default_config() {
  static const int config = [] {
    const char* v = std::getenv("PAGODA_QUANT_GEMV_BULK_CONFIG");
    if (v == nullptr || *v == '\0') return 0;
    char* end = nullptr;
    const long c = std::strtol(v, &end, 10);
    if (*end != '\0' || c < 0 || c >= kBulkConfigs)
      throw Error(std::string("PAGODA_QUANT_GEMV_BULK_CONFIG=") + v + ": a config 0.." + std::to_string(kBulkConfigs - 1));
    return static_cast<int>(c);
  }();
  return config;
}

int config_or_default(int config) {
  if (config < -1 || config >= kBulkConfigs) throw Error("quant_gemv_bulk: config must be 0.." + std::to_string(kBulkConfigs - 1));
  return config < 0 ? default_config() : config;
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
