// Runs quant_gemv2's kernel source (quant_gemv2_kernel.cuh) on the host, without a GPU, so its
// indexing is checked where no device is: each CTA's 256 threads are fibers (ucontext) that switch
// at __syncthreads and at every mma, which is modelled warp-wide from the PTX fragment layouts of
// m16n8k16 (bf16 in, f32 out): the emulation in host_emulation.h. The repacked GPTQ / AWQ / fp8
// weights of quantized_repack.cpp are multiplied at m 1, 3, 8 with 2, 4 and 8 tiles a CTA and
// several split counts, and compared with the wave2 README's dequantization (host reference); y is
// written into a wider output (ldy > n) that must stay untouched elsewhere, the split counters must
// be back at zero, and nothing may be written past the dynamic shared memory the launch sizes (a
// guard). What it cannot show: timing, the real memory model, the hardware's own mma and
// conversions (quant_gemv2_test does that on the GPU).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/quantized_weight.h"
#include "quant_checkpoints.h"
#include "test_support.h"
#include "reference.h"

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::gemv2
#include "host_emulation.h"

#define GEMV2_DEVICE inline
#define GEMV2_KERNEL(threads, min_blocks) void
#define GEMV2_DYNAMIC_SMEM(name) unsigned char* name = emu::shared_memory
#define GEMV2_SHARED static
#include "backend/cuda/quant_gemv2_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

using emu::Case;

void check_case(Checker& c, const Case& cs, std::mt19937& rng) {
  const QuantizedWeight w = emu::host_view(cs.host);
  const int n = w.n, k = w.k, ldy = n + 8, groups = k / w.group_size;
  const auto x_all = random_bf16_values(size_t(8) * k, rng);
  const auto ref_all = ref_linear(x_all, cs.dequant, 8, n, k);
  for (int m : {1, 3, 8}) {
    // x as the kernel reads it: bf16, in the packed column order (act-order: gathered by perm).
    std::vector<bf16> x(size_t(m) * k);
    for (int r = 0; r < m; ++r)
      for (int j = 0; j < k; ++j) x[size_t(r) * k + j] = __float2bfloat16(x_all[size_t(r) * k + (w.perm ? w.perm[j] : j)]);
    const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * n);
    double ref_max = 0;
    for (double v : ref) ref_max = std::max(ref_max, std::fabs(v));
    for (int tiles : {2, 4, 8})
    for (int splits = 1; splits <= groups; ++splits) {
      const int row_blocks = (n / 16 + tiles - 1) / tiles;
      const int cta_groups_max = (groups + splits - 1) / splits;
      const size_t smem = gemv2::gemv2_smem_bytes(w, m, cta_groups_max, tiles);
      if (smem > gemv2::kSmemLimit) continue;
      // Default tiles: splits 1, 2, 3 and the most (uneven and single-group splits); 2 and 8 tiles: 1 and 3.
      if (tiles == gemv2::kDefaultTiles ? (splits > 3 && splits != groups) : (splits != 1 && splits != 3)) continue;
      std::vector<int> counters(size_t(row_blocks), 0);
      std::vector<float> partials(size_t(splits) * m * n, std::nanf(""));
      emu::WideOutput y(m, n, ldy);
      gemv2::Gemv2Args a{};
      a.x = x.data();
      a.y = static_cast<bf16*>(y.data());
      a.ldy = ldy;
      a.m = m;
      a.cta_groups_max = cta_groups_max;
      a.partials = partials.data();
      a.counters = counters.data();
      const std::string tag = cs.name + " m " + std::to_string(m) + " tiles " + std::to_string(tiles) + " splits " +
                              std::to_string(splits);
      const auto kernel = gemv2::gemv2_kernel_for(w, tiles);
      const std::string fault = emu::run_grid(dim3(row_blocks, splits, 1), smem, [&] { kernel(w, a); });
      if (!fault.empty()) {
        c.expect_true(tag + ": runs to the end within its shared memory", false, fault);
        continue;
      }
      const std::vector<float> out = y.values();
      const bool outside = y.outside_untouched();
      c.expect(tag, compare(out, ref), 6e-3, 8e-3 * ref_max + 1e-3);
      c.expect_true(tag + ": nothing outside y's m x n written, counters back at 0",
                    outside && std::all_of(counters.begin(), counters.end(), [](int v) { return v == 0; }));
    }
  }
}

} // namespace

int main() {
  std::mt19937 rng(1517);
  Checker c;
  try {
    struct Shape { int n, k; };
    // 80 rows: a full 64-row block and one with a single live tile; 272 x 1152: 17 tiles, 9
    // groups of 128 (uneven splits) or 18 of 64.
    for (const Shape s : {Shape{80, 640}, Shape{272, 1152}}) {
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
  return c.finish("quant_gemv2_emulation_test");
}
