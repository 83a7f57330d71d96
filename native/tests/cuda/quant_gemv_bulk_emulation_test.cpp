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
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/quantized_weight.h"
#include "test_support.h"
#include "reference.h"
#include "quant_checkpoints.h"

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::bulk_ring
#include "host_emulation.h"

#define BULK_DEVICE inline
#define BULK_KERNEL(threads, min_blocks) void
#define BULK_DYNAMIC_SMEM(name) unsigned char* name = emu::shared_memory
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
    // x as the kernel reads it: bf16, in the packed column order (act-order: gathered by perm).
    std::vector<bf16> x(size_t(m) * k);
    for (int r = 0; r < m; ++r)
      for (int j = 0; j < k; ++j) x[size_t(r) * k + j] = __float2bfloat16(x_all[size_t(r) * k + (w.perm ? w.perm[j] : j)]);
    for (int config = 0; config < gemv_bulk::kBulkConfigs; ++config) {
      const gemv_bulk::KernelInfo kern = gemv_bulk::kernel_for(w, config);
      const int spt = (k / 64 + kern.stage_chunks - 1) / kern.stage_chunks;
      // (splits, resident CTAs): the plan's on an H200-sized grid, then one CTA for everything (the
      // ring wraps many times), and a few CTAs with the most splits and with two.
      std::set<std::pair<int, int>> runs = {{gemv_bulk::choose_splits(tiles, spt, 132), 132}, {1, 1}};
      if (config == 0 || config == 2) runs.insert({{spt, 3}, {std::min(2, spt), 5}});
      for (float beta : {0.f, 0.5f}) {
        if (beta != 0.f && (m != 3 || config != 0)) continue;
        std::vector<double> ref(size_t(m) * n);
        double ref_max = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
          ref[i] = ref_all[i] + double(beta) * y0[i];
          ref_max = std::max(ref_max, std::fabs(ref[i]));
        }
        for (const auto& [splits, slots] : runs) {
          const int items = tiles * splits, grid = std::min(items, slots);
          std::vector<int> counters(size_t(tiles), 0);
          std::vector<float> partials(size_t(splits) * m * n, std::nanf(""));
          emu::WideOutput y(m, n, ldy);
          auto* yb = static_cast<uint16_t*>(y.data());
          for (int r = 0; r < m; ++r)
            for (int col = 0; col < n; ++col) {
              const bf16 v = __float2bfloat16(y0[size_t(r) * n + col]);
              std::memcpy(&yb[size_t(r) * ldy + col], &v, 2);
            }
          gemv_bulk::BulkArgs a{};
          a.x = x.data();
          a.y = static_cast<bf16*>(y.data());
          a.ldy = ldy;
          a.m = m;
          a.beta = beta;
          a.items = items;
          a.splits = splits;
          a.stages_per_tile = spt;
          a.partials = splits > 1 ? partials.data() : nullptr;
          a.counters = counters.data();
          const std::string tag = cs.name + " m " + std::to_string(m) + (beta != 0.f ? " beta 0.5" : "") + " config " +
                                  std::to_string(config) + " splits " + std::to_string(splits) + " ctas " +
                                  std::to_string(grid);
          const std::string fault = emu::run_grid(dim3(grid, 1, 1), kern.smem, [&] { kern.fn(w, a); }, kern.threads);
          if (!fault.empty()) {
            c.expect_true(tag + ": runs to the end within its shared memory", false, fault);
            continue;
          }
          c.expect(tag, compare(y.values(), ref), 6e-3, 8e-3 * ref_max + 1e-3);
          c.expect_true(tag + ": nothing outside y's m x n written, counters back at 0",
                        y.outside_untouched() && std::all_of(counters.begin(), counters.end(), [](int v) { return v == 0; }));
        }
      }
    }
  }
}

} // namespace

int main() {
  std::mt19937 rng(1518);
  Checker c;
  try {
    struct Shape { int n, k; };
    // 16 x 640: one tile, k not a whole number of stages; 272 x 1152: 17 tiles (odd), 9 groups of
    // 128; 32 x 4608: two tiles of three int4 16 KB stages (the last a quarter full) or five fp8 ones.
    for (const Shape s : {Shape{16, 640}, Shape{272, 1152}, Shape{32, 4608}}) {
      const std::string shape = " " + std::to_string(s.n) + "x" + std::to_string(s.k);
      std::vector<Case> cases;
      {
        const Gptq g = make_gptq(s.k, s.n, 128, false, false, rng);
        cases.push_back({"gptq g128" + shape, repack_gptq("g", g.qweight.data(), g.qzeros.data(), g.scales.data(), nullptr, s.k, s.n, 128), g.dequant});
      }
      {
        const Gptq g = make_gptq(s.k, s.n, 64, false, false, rng);
        cases.push_back({"gptq g64" + shape, repack_gptq("g", g.qweight.data(), g.qzeros.data(), g.scales.data(), nullptr, s.k, s.n, 64), g.dequant});
      }
      {
        const Gptq g = make_gptq(s.k, s.n, 128, true, true, rng);
        cases.push_back({"gptq act-order" + shape, repack_gptq("g", g.qweight.data(), g.qzeros.data(), g.scales.data(), g.g_idx.data(), s.k, s.n, 128), g.dequant});
      }
      {
        const Awq a = make_awq(s.k, s.n, 128, rng);
        cases.push_back({"awq" + shape, repack_awq("a", a.qweight.data(), a.qzeros.data(), a.scales.data(), s.k, s.n, 128), a.dequant});
      }
      for (bool block : {false, true}) {
        const Fp8 f = make_fp8(s.k, s.n, block, rng);
        cases.push_back({std::string(block ? "fp8 block128" : "fp8 per-channel") + shape,
                         block ? fp8_block128("f", f.weight.data(), f.scale.data(), s.n, s.k)
                               : fp8_per_channel("f", f.weight.data(), f.scale.data(), s.n, s.k),
                         f.dequant});
      }
      for (const Case& cs : cases) check_case(c, cs, rng);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("quant_gemv_bulk_emulation_test");
}
