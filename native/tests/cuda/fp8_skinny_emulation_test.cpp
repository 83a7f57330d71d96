// Runs fp8_skinny_gemm's kernel source (fp8_skinny_kernel.cuh) on the host, without a GPU, so its
// indexing, shared-memory swizzles, cp.async pipeline counts, split-K reduction and e4m3 -> bf16
// conversion are checked where no device is: each CTA's 256 threads are fibers (ucontext) that switch
// at __syncthreads and at every mma (modelled warp-wide from the PTX m16n8k16 fragment layouts: the
// emulation in host_emulation.h). cp.async copies are deferred to the cp.async.wait_group that retires
// them, so reading a stage before its group is waited for reads stale bytes (shared memory starts as
// 0xFF: NaN). fp8 per-channel weights from quantized_repack.cpp are multiplied at m 1..256 with every
// config and several split counts, against the wave2 README's dequantization (float64); y is written
// into a wider output (ldy > n) that must stay untouched elsewhere, the split counters must be back at
// zero, nothing may be written past the dynamic shared memory (a guard). What it cannot show: timing,
// the real memory model, the hardware's own mma and conversions (fp8_skinny_test does that on the GPU).
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

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::fp8skinny
#include "host_emulation.h"

namespace pagoda::cuda::fp8skinny {
// The kernel source's own name for a 16-byte cp.async.
inline void fp8s_cp_async_16(void* dst, const void* src, bool valid) { emulated_cp_async_16(dst, src, valid); }
} // namespace pagoda::cuda::fp8skinny

#define FP8S_DEVICE inline
#define FP8S_KERNEL(threads, min_blocks) void
#define FP8S_DYNAMIC_SMEM(name) unsigned char* name = emu::shared_memory
#define FP8S_SHARED static
#include "backend/cuda/fp8_skinny_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

using emu::Case;

// resident: the resident-CTA count the plan assumes (the GPU's occupancy x SMs at load).
void run_one(Checker& c, const Case& cs, const std::vector<float>& x_all, const std::vector<double>& ref_all, int m,
             int config, int splits_arg, int resident) {
  const QuantizedWeight w = emu::host_view(cs.host);
  const int n = w.n, k = w.k, ldy = n + 8;
  const fp8skinny::Plan p = fp8skinny::make_plan(n, k, m, config, resident, splits_arg);
  const fp8skinny::CfgInfo ci = fp8skinny::cfg_info(config);
  std::vector<bf16> x(size_t(m) * k);
  for (size_t i = 0; i < x.size(); ++i) x[i] = __float2bfloat16(x_all[i]);
  const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * n);
  double ref_max = 0;
  for (double v : ref) ref_max = std::max(ref_max, std::fabs(v));
  std::vector<int> counters(size_t(p.token_blocks) * p.row_blocks, 0);
  std::vector<float> partials(size_t(p.splits) * m * n, std::nanf(""));
  emu::WideOutput y(m, n, ldy);
  fp8skinny::Args a{};
  a.x = x.data();
  a.y = static_cast<bf16*>(y.data());
  a.ldy = ldy;
  a.m = m;
  a.splits = p.splits;
  a.chunks_per_split = p.chunks_per_split;
  a.partials = p.splits > 1 ? partials.data() : nullptr;
  a.counters = counters.data();
  const std::string tag = cs.name + " m " + std::to_string(m) + " config " + std::to_string(config) + " splits " +
                          std::to_string(p.splits);
  const fp8skinny::KernelFn kernel = fp8skinny::kernel_of(config);
  const std::string fault =
      emu::run_grid(dim3(p.token_blocks, p.row_blocks, p.splits), size_t(ci.smem), [&] { kernel(w, a); });
  if (!fault.empty()) {
    c.expect_true(tag + ": runs to the end within its shared memory", false, fault);
    return;
  }
  const std::vector<float> out = y.values();
  const bool outside = y.outside_untouched();
  // f32 accumulation and one bf16 rounding of the output: each element within 2^-8 of |ref| plus a
  // little (the f32 sums), and the whole within bf16's rounding in L2.
  bool elementwise = true;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::fabs(out[i] - ref[i]) <= std::fabs(ref[i]) * (1.0 / 256) + 1e-5 * ref_max)) elementwise = false;
  c.expect(tag, compare(out, ref), 3e-3, 4e-3 * ref_max + 1e-6);
  c.expect_true(tag + ": every element within bf16 rounding, nothing outside y's m x n written, counters back at 0",
                elementwise && outside && std::all_of(counters.begin(), counters.end(), [](int v) { return v == 0; }));
}

} // namespace

int main() {
  std::mt19937 rng(1515);
  Checker c;
  try {
    struct Shape {
      int n, k;
    };
    // 272 x 640: 17 row tiles of 16 (no config's row block is whole at the end), k 2.5 chunks of
    // 256 and 5 of 128; 96 x 1152: 4.5 chunks of 256, 9 of 128.
    for (const Shape s : {Shape{272, 640}, Shape{96, 1152}}) {
      const Fp8 f = make_fp8(s.k, s.n, false, rng);
      const Case cs{"fp8 per-channel " + std::to_string(s.n) + "x" + std::to_string(s.k),
                    fp8_per_channel("f", f.weight.data(), f.scale.data(), s.n, s.k), f.dequant};
      const int mmax = 256;
      const auto x_all = random_bf16_values(size_t(mmax) * s.k, rng);
      const auto ref_all = ref_linear(x_all, cs.dequant, mmax, s.n, s.k);
      // The default config of every m class, at its edges and odd sizes, with the plan's splits
      // (resident CTAs as an H200's 132 SMs x 4 would give: splits wherever the tiles are few).
      for (int m : {1, 3, 8, 9, 16, 17, 31, 32, 33, 63, 64, 65, 130, 256})
        run_one(c, cs, x_all, ref_all, m, fp8skinny::default_config(m), 0, 132 * 4);
      // Every config at a few m, with forced splits 1, 2, 3 (uneven) and one chunk a split.
      for (int config = 0; config < fp8skinny::kConfigs; ++config)
        for (int m : {5, 40})
          for (int splits : {1, 2, 3, 64}) run_one(c, cs, x_all, ref_all, m, config, splits, 0);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("fp8_skinny_emulation_test");
}
