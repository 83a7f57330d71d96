// Decode GEMV for bf16 weights (the engine's unquantized linears and lm_head) at m = 1..8 that streams
// the weight through Hopper's bulk copy engine: bytes in flight live in a shared-memory ring, not in
// registers (skinny_gemm, at m 1, had 16 warps an SM holding too few loads to cover DRAM latency).
//
// quant_gemv_bulk's structure with bf16 rows: persistent CTAs walk work items (a 16-row tile over all
// of k, or a fixed k-split of it); one producer lane per CTA issues 16 row copies a stage
// (cp.async.bulk, counted on the stage's full mbarrier) into an S-stage ring at a padded pitch, from
// before griddepcontrol.wait (weights depend on no earlier kernel); W consumer warps take the stage's
// 32-wide units round robin, release it on its empty mbarrier and sum their tile partials through
// shared memory in warp order; k-splits are summed by the tile's last CTA in split order
// (deterministic).
//
// Arithmetic as skinny_gemm: mma.sync m16n8k16 (bf16 in, f32 accumulation) with weight rows as M
// and tokens as N, the same operand pairing, + beta * y in f32, one rounding to the output (bf16 or
// f32); only the order of the f32 sums differs.
#include "backend/cuda/kernels.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "backend/cuda/bulk_gemv_plan.h"
#include "backend/cuda/cuda_check.h"
#include "error.h"

#include "backend/cuda/bulk_gemv_device.cuh" // before the kernel source: its primitives
#include "backend/cuda/bf16_gemv_bulk_kernel.cuh"

namespace pagoda::cuda {

namespace {

using namespace bf16_bulk;

using namespace bulk_plan;

using Plan = BulkPlan<KernelInfo>;
using PlanKey = std::tuple<int, int, bool, int>; // n, k, f32 output, config
PlanCache<PlanKey, Plan>& plans() {
  static PlanCache<PlanKey, Plan> p;
  return p;
}

// All of the SM's unified memory as shared memory, whatever this kernel alone needs: an SM keeps one
// split while CTAs run on it, so the next GEMV's CTAs (PDL) can join only if this one took the most.
Plan plan_of(int n, int k, bool out_f32, int config) {
  const KernelInfo kernel = kernel_for(out_f32, config);
  return make_plan("bf16_gemv_bulk", kernel, n / kTileRows, bf16_bulk::stages_per_tile(k, kernel.stage_units), true);
}

// The ring a call takes when it names none: PAGODA_BF16_GEMV_BULK_CONFIG (read once), else 0.
int default_config() {
  static const int config = config_from_env("PAGODA_BF16_GEMV_BULK_CONFIG", kConfigs);
  return config;
}

// Plans exist only after bf16_gemv_bulk_prepare.
Plan plan_for(int n, int k, bool out_f32, int config) {
  Plan p;
  if (!plans().find(PlanKey{n, k, out_f32, config_or("bf16_gemv_bulk", config, kConfigs, default_config)}, p))
    throw Error("bf16_gemv_bulk: call bf16_gemv_bulk_prepare for " + std::to_string(n) + " x " + std::to_string(k) +
                " at load");
  return p;
}

void check_shape(int n, int k) {
  if (n <= 0 || n % kTileRows != 0 || k <= 0 || k % kUnit != 0)
    throw Error("bf16_gemv_bulk: weight shape " + std::to_string(n) + " x " + std::to_string(k) +
                " is not a multiple of 16 x 32");
  if (n / kTileRows > kMaxTiles)
    throw Error("bf16_gemv_bulk: " + std::to_string(n) + " rows are more than the split counters cover");
}

} // namespace

bool bf16_gemv_bulk_supports(int m, int n, int k, const void* x, const void* w) {
  return m >= 1 && m <= kBf16GemvBulkMaxRows && n > 0 && n % kTileRows == 0 && n / kTileRows <= kMaxTiles && k > 0 &&
         k % kUnit == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

void bf16_gemv_bulk_prepare(int n, int k) {
  check_shape(n, k);
  for (bool out_f32 : {false, true})
    for (int config = 0; config < kConfigs; ++config)
      plans().ensure(PlanKey{n, k, out_f32, config}, [&] { return plan_of(n, k, out_f32, config); });
}

int bf16_gemv_bulk_configs() { return kConfigs; }

size_t bf16_gemv_bulk_workspace_bytes(int n, int k, int m, int config) {
  check_shape(n, k);
  if (m < 1 || m > kBf16GemvBulkMaxRows) throw Error("bf16_gemv_bulk: m must be 1..8, got " + std::to_string(m));
  size_t splits = 1;
  for (bool out_f32 : {false, true}) splits = std::max<size_t>(splits, plan_for(n, k, out_f32, config).splits);
  return kCounterBytes + (splits > 1 ? splits * m * n * sizeof(float) : 0);
}

int bf16_gemv_bulk_splits(int n, int k, int config) { return plan_for(n, k, false, config).splits; }

void bf16_gemv_bulk(const bf16* x, const bf16* w, void* y, bool out_f32, int m, int n, int k, float beta,
                    void* workspace, size_t workspace_bytes, cudaStream_t stream, int config) {
  if (!bf16_gemv_bulk_supports(m, n, k, x, w))
    throw Error("bf16_gemv_bulk: needs 1 <= m <= 8, n a multiple of 16, k of 32, 16-byte aligned x and w (m " +
                std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) + ")");
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) throw Error("bf16_gemv_bulk: the workspace must be 256-byte aligned");
  const Plan p = plan_for(n, k, out_f32, config);
  const size_t needed = bf16_gemv_bulk_workspace_bytes(n, k, m, config);
  if (workspace == nullptr || workspace_bytes < needed)
    throw Error("bf16_gemv_bulk: needs a zero-initialized workspace of " + std::to_string(needed) + " bytes");
  auto* bytes = static_cast<unsigned char*>(workspace);
  Args args{};
  args.x = x;
  args.w = w;
  args.n = n;
  args.k = k;
  set_walk(args, p, y, n, m, beta, bytes, bytes + kCounterBytes);
  launch_pdl("bf16_gemv_bulk_kernel", p.kernel.fn, dim3(p.grid), dim3(p.kernel.threads), p.kernel.smem, stream, args);
}

} // namespace pagoda::cuda
