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
#include <string>
#include <tuple>

#include "backend/cuda/bulk_gemv_plan.h"
#include "backend/cuda/cuda_check.h"
#include "error.h"

#include "backend/cuda/bulk_gemv_device.cuh" // before the kernel source: its primitives
#include "backend/cuda/quant_gemv_bulk_kernel.cuh"

namespace pagoda::cuda {

namespace {

using namespace gemv_bulk;

using namespace bulk_plan;

using Plan = BulkPlan<KernelInfo>;
using PlanKey = std::tuple<int, int, int, int, int>; // format, n, k, group size, config
PlanCache<PlanKey, Plan>& plans() {
  static PlanCache<PlanKey, Plan> p;
  return p;
}
PlanKey plan_key(const QuantizedWeight& w, int config) {
  return std::make_tuple(static_cast<int>(w.format), w.n, w.k, w.group_size, config);
}

Plan plan_of(const QuantizedWeight& w, int config) {
  const KernelInfo kernel = kernel_for(w, config);
  const int chunks = w.k / 64;
  return make_plan("quant_gemv_bulk", kernel, w.n / 16, (chunks + kernel.stage_chunks - 1) / kernel.stage_chunks, false);
}

// The ring a call takes when it names none: PAGODA_QUANT_GEMV_BULK_CONFIG (read once), else 0.
int default_config() {
  static const int config = config_from_env("PAGODA_QUANT_GEMV_BULK_CONFIG", kBulkConfigs);
  return config;
}

// Plans exist only after quant_gemv_bulk_prepare.
Plan plan_for(const QuantizedWeight& w, int config) {
  Plan p;
  if (!plans().find(plan_key(w, config_or("quant_gemv_bulk", config, kBulkConfigs, default_config)), p))
    throw Error("quant_gemv_bulk: call quant_gemv_bulk_prepare for this weight at load");
  return p;
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
  for (int config = 0; config < kBulkConfigs; ++config)
    plans().ensure(plan_key(w, config), [&] { return plan_of(w, config); });
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
  unsigned char* after = bytes + kCounterBytes; // the gathered x (act-order), then the partials
  args.x = x;
  if (w.perm) {
    bf16* gathered = reinterpret_cast<bf16*>(after);
    after += align256(size_t(m) * w.k * sizeof(bf16));
    gather_columns(x, w.perm, gathered, m, w.k, stream);
    args.x = gathered;
  }
  set_walk(args, p, y, ldy, m, beta, bytes, after);
  launch_pdl("quant_gemv_bulk_kernel", p.kernel.fn, dim3(p.grid), dim3(p.kernel.threads), p.kernel.smem, stream, w, args);
}

} // namespace pagoda::cuda
