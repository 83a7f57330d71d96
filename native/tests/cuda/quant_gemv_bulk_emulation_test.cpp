// Runs quant_gemv_bulk's kernel source (quant_gemv_bulk_kernel.cuh) on the host, without a GPU, so its
// ring, barriers and indexing are checked where no device is: the emulation of host_emulation.h (a CTA's
// threads as fibers, a warp-wide mma model, mbarriers whose phases complete on arrivals and landed
// bytes, bulk copies that land at once). The repacked GPTQ / AWQ / fp8 weights are multiplied at m 1,
// 3, 8 with every ring configuration, the plan's split and forced ones, and few resident CTAs (so a
// CTA walks many items and the ring wraps), against the wave2 README's dequantization; beta scales
// the prior y; y sits in a wider output that must stay untouched elsewhere, the split counters must be
// back at zero, every mbarrier must end between phases and nothing may land past the shared memory.
// What it cannot show: timing, the real memory model and async proxy, the hardware's mma and
// conversions (quant_gemv_bulk_test does that on the GPU).
#include <cstdio>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::bulk_ring
#include "host_emulation.h"
#include "emulation_checks.h"

#include "backend/cuda/quant_gemv_bulk_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

using emu::Case;
void check_case(Checker& c, const Case& cs, std::mt19937& rng) {
  const QuantizedWeight w = emu::host_view(cs.host);
  const int n = w.n, k = w.k, ldy = n + 8, tiles = n / 16;
  const auto x_all = random_bf16_values(size_t(8) * k, rng);
  const auto ref_all = ref_linear(x_all, cs.dequant, 8, n, k);
  const auto y0 = random_bf16_values(size_t(8) * n, rng);
  for (int m : {1, 3, 8}) {
    const std::vector<bf16> x = packed_x(x_all, w, m);
    for (int config = 0; config < gemv_bulk::kBulkConfigs; ++config) {
      const gemv_bulk::KernelInfo kern = gemv_bulk::kernel_for(w, config);
      const int spt = (k / 64 + kern.stage_chunks - 1) / kern.stage_chunks;
      // (splits, resident CTAs): the plan's and forced ones (emulation_checks.h's split_runs).
      const auto runs = split_runs(gemv_bulk::choose_splits(tiles, spt, 132), spt, config == 0 || config == 2);
      for (float beta : {0.f, 0.5f}) {
        if (beta != 0.f && (m != 3 || config != 0)) continue;
        const Expected e = expected(ref_all, y0, size_t(m) * n, beta);
        for (const auto& [splits, slots] : runs) {
          const int items = tiles * splits, grid = std::min(items, slots);
          std::vector<int> counters(size_t(tiles), 0);
          std::vector<float> partials(size_t(splits) * m * n, std::nanf(""));
          emu::WideOutput y(m, n, ldy);
          y.fill(y0);
          gemv_bulk::BulkArgs a{};
          a.x = x.data();
          set_run(a, static_cast<bf16*>(y.data()), ldy, m, beta, items, splits, spt, partials, counters);
          const std::string tag = cs.name + " m " + std::to_string(m) + (beta != 0.f ? " beta 0.5" : "") + " config " +
                                  std::to_string(config) + " splits " + std::to_string(splits) + " ctas " +
                                  std::to_string(grid);
          const std::string fault = emu::run_grid(dim3(grid, 1, 1), kern.smem, [&] { kern.fn(w, a); }, kern.threads);
          if (!ran(c, tag, ": runs to the end within its shared memory", fault)) continue;
          c.expect(tag, compare(y.values(), e.ref), 6e-3, 8e-3 * e.max + 1e-3);
          c.expect_true(tag + ": nothing outside y's m x n written, counters back at 0",
                        y.outside_untouched() && all_zero(counters));
        }
      }
    }
  }
}

} // namespace

int main() {
  return run_checks("quant_gemv_bulk_emulation_test", 1518, [](Checker& c, std::mt19937& rng) {
    struct Shape { int n, k; };
    // 16 x 640: one tile, k not a whole number of stages; 272 x 1152: 17 tiles (odd), 9 groups of
    // 128; 32 x 4608: two tiles of three int4 16 KB stages (the last a quarter full) or five fp8 ones.
    for (const Shape s : {Shape{16, 640}, Shape{272, 1152}, Shape{32, 4608}}) {
      const std::vector<Case> cases = quant_cases(
          s.n, s.k, {{"gptq g128", 128, false, false}, {"gptq g64", 64, false, false}, {"gptq act-order", 128, true, true}}, rng);
      for (const Case& cs : cases) check_case(c, cs, rng);
    }
  });
}
