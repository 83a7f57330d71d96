// Runs bf16_gemv_bulk's kernel source (bf16_gemv_bulk_kernel.cuh) on the host, without a GPU, so its ring,
// barriers and indexing are checked where no device is (host_emulation.h: a CTA's threads as fibers, a
// warp-wide mma model, mbarriers with transaction bytes, bulk copies that land at once). Random bf16
// weights are multiplied at m 1, 3, 8 with every ring configuration, bf16 and f32 outputs, the plan's
// split on an H200-sized grid and forced ones, and few resident CTAs (one CTA walks every item, the
// ring wraps), against a double-precision host reference; beta scales the prior y; y sits in a wider
// output that must stay untouched elsewhere, the split counters must be back at zero, every mbarrier
// must end between phases and nothing may land past the shared memory.
// What it cannot show: timing, the real memory model and async proxy, the hardware's mma
// (bf16_gemv_bulk_test does that on the GPU).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <cuda_bf16.h>

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::bulk_ring
#include "host_emulation.h"
#include "emulation_checks.h"

#include "backend/cuda/bf16_gemv_bulk_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

// f32 y: m rows at stride ldy (> n) and 64 elements more, NaN at first except y0 inside m x n.
struct WideF32 {
  int m, n, ldy;
  std::vector<float> v;
  WideF32(int m_, int n_, int ldy_, const std::vector<float>& y0) : m(m_), n(n_), ldy(ldy_), v(size_t(m_) * ldy_ + 64, std::nanf("")) {
    for (int r = 0; r < m; ++r)
      for (int c = 0; c < n; ++c) v[size_t(r) * ldy + c] = y0[size_t(r) * n + c];
  }
  std::vector<float> values() const {
    std::vector<float> out(size_t(m) * n);
    for (int r = 0; r < m; ++r)
      for (int c = 0; c < n; ++c) out[size_t(r) * n + c] = v[size_t(r) * ldy + c];
    return out;
  }
  bool outside_untouched() const {
    for (size_t i = 0; i < v.size(); ++i) {
      const size_t r = i / ldy, c = i % ldy;
      if (!(r < size_t(m) && c < size_t(n)) && !std::isnan(v[i])) return false;
    }
    return true;
  }
};

void check_shape(Checker& c, int n, int k, std::mt19937& rng) {
  const int ldy = n + 8, tiles = n / 16;
  const auto w_f = random_bf16_values(size_t(n) * k, rng);
  const auto w = to_bf16(w_f);
  const auto x_f = random_bf16_values(size_t(8) * k, rng);
  const auto x = to_bf16(x_f);
  const auto ref_all = ref_linear(x_f, w_f, 8, n, k);
  const auto y0 = random_bf16_values(size_t(8) * n, rng);
  const std::string shape = std::to_string(n) + "x" + std::to_string(k);
  for (int m : {1, 3, 8})
    for (bool out_f32 : {false, true})
      for (int config = 0; config < bf16_bulk::kConfigs; ++config) {
        const bf16_bulk::KernelInfo kern = bf16_bulk::kernel_for(out_f32, config);
        const int spt = bf16_bulk::stages_per_tile(k, kern.stage_units);
        const auto runs = split_runs(bulk_gemv_splits(tiles, spt, 132), spt, config == 0 || config == 2);
        for (float beta : {0.f, 0.5f}) {
          if (beta != 0.f && (m != 3 || (config != 0 && config != 4))) continue;
          // the prior y as the kernel reads it (bf16 output: y0 is bf16 already)
          const Expected e = expected(ref_all, y0, size_t(m) * n, beta);
          for (const auto& [splits, slots] : runs) {
            const int items = tiles * splits, grid = std::min(items, slots);
            std::vector<int> counters(size_t(tiles), 0);
            std::vector<float> partials(size_t(splits) * m * n, std::nanf(""));
            emu::WideOutput yb(m, n, ldy);
            yb.fill(y0);
            WideF32 yf(m, n, ldy, y0);
            bf16_bulk::Args a{};
            a.x = x.data();
            a.w = w.data();
            a.n = n;
            a.k = k;
            set_run(a, out_f32 ? static_cast<void*>(yf.v.data()) : yb.data(), ldy, m, beta, items, splits, spt, partials,
                    counters);
            const std::string tag = shape + (out_f32 ? " f32" : " bf16") + " m " + std::to_string(m) +
                                    (beta != 0.f ? " beta 0.5" : "") + " config " + std::to_string(config) + " splits " +
                                    std::to_string(splits) + " ctas " + std::to_string(grid);
            const std::string fault = emu::run_grid(dim3(grid, 1, 1), kern.smem, [&] { kern.fn(a); }, kern.threads);
            if (!ran(c, tag, ": runs to the end within its shared memory", fault)) continue;
            // bf16: within 4 half-ulps of the largest output; f32: summation order only.
            if (out_f32) c.expect(tag, compare(yf.values(), e.ref), 1e-5, 2e-5 * e.max + 1e-5);
            else c.expect(tag, compare(yb.values(), e.ref), 6e-3, 8e-3 * e.max + 1e-3);
            const bool outside = out_f32 ? yf.outside_untouched() : yb.outside_untouched();
            c.expect_true(tag + ": nothing outside y's m x n written, counters back at 0", outside && all_zero(counters));
          }
        }
      }
}

} // namespace

int main() {
  return run_checks("bf16_gemv_bulk_emulation_test", 2020, [](Checker& c, std::mt19937& rng) {
    // 16 x 640: one tile, 20 units (a 16 KB stage holds 16: the second stage a quarter full);
    // 272 x 1120: 17 tiles (odd), 35 units (k not a multiple of 64); 32 x 4608: two tiles of nine
    // 16 KB stages.
    struct Shape { int n, k; };
    for (const Shape s : {Shape{16, 640}, Shape{272, 1120}, Shape{32, 4608}}) check_shape(c, s.n, s.k, rng);
  });
}
