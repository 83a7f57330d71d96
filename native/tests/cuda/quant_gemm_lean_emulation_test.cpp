// Runs quant_gemm_lean's kernel source (quant_gemm_lean_kernel.cuh) on the host, without a GPU, so its
// stage ring, pointer cursors, x rows past m and the k split over warps are checked where no device is
// (host_emulation.h: a CTA's threads as fibers, a warp-wide mma model). GPTQ (g128, g64, act-order with x
// gathered), AWQ and both fp8 formats, at m 1, 2, 3, 8 with four and eight warps a CTA, two and four
// stages (deep), on shapes whose
// groups do not split evenly over the warps (tails of the ring), against the wave2 README's
// dequantization; beta scales the prior y, which sits in a wider output that must stay untouched
// elsewhere. Also: the prmt sign-extending e4m3 conversion equals e4m3_even / e4m3_odd on every byte pair.
// What it cannot show: timing, the hardware's mma, and bit equality with quant_gemm (quant_gemm_test
// does that on the GPU).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::lean
#include "host_emulation.h"
#include "emulation_checks.h"

#define LEAN_DEVICE inline
#define LEAN_KERNEL(threads, min_blocks) void
#define LEAN_SHARED_PARTIAL(name, W) \
  float(&name)[W][8][16 + 4] = *reinterpret_cast<float(*)[W][8][16 + 4]>(emu::shared_memory)
#include "backend/cuda/quant_gemm_lean_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

using emu::Case;

// Every pair of e4m3 bytes through the kernel's conversion and through bf16x2_bits.cuh's.
void check_e4m3_pairs(Checker& c) {
  size_t bad = 0;
  for (uint32_t lo = 0; lo < 256; ++lo)
    for (uint32_t hi = 0; hi < 256; ++hi) {
      const uint32_t rg = lo | (hi << 8) | (hi << 16) | (lo << 24), r8 = hi | (lo << 8) | (lo << 16) | (hi << 24);
      const uint32_t w0 = lean::__byte_perm(rg, r8, 0x5140), w1 = lean::__byte_perm(rg, r8, 0x7362);
      bad += lean::e4m3_pair<0x9180u>(rg) != e4m3_even(w0);
      bad += lean::e4m3_pair<0x9180u>(r8) != e4m3_odd(w0);
      bad += lean::e4m3_pair<0xB3A2u>(rg) != e4m3_even(w1);
      bad += lean::e4m3_pair<0xB3A2u>(r8) != e4m3_odd(w1);
    }
  c.expect_true("e4m3 pairs: prmt sign-extend + shift + mask equals e4m3_even / e4m3_odd on all 65536 pairs", bad == 0,
                std::to_string(bad) + " differ");
}

template <int W> void run_case(Checker& c, const Case& cs, bool deep, std::mt19937& rng) {
  const QuantizedWeight w = emu::host_view(cs.host);
  const int n = w.n, k = w.k, ldy = n + 8;
  const auto x_all = random_bf16_values(size_t(8) * k, rng);
  const auto ref_all = ref_linear(x_all, cs.dequant, 8, n, k);
  const auto y0 = random_bf16_values(size_t(8) * n, rng);
  const lean::LeanKernel kernel = lean::lean_kernel_for<W>(w, deep);
  for (int m : {1, 2, 3, 8}) {
    const std::vector<bf16> x = packed_x(x_all, w, m);
    for (float beta : {0.f, 0.5f}) {
      if (beta != 0.f && m != 3) continue;
      const Expected e = expected(ref_all, y0, size_t(m) * n, beta);
      emu::WideOutput y(m, n, ldy);
      y.fill(y0);
      const std::string tag = cs.name + " m " + std::to_string(m) + (beta != 0.f ? " beta 0.5" : "") + " warps " +
                              std::to_string(W) + (deep ? " deep" : "");
      const std::string fault = emu::run_grid(dim3(n / 16, 1, 1), size_t(W) * 8 * 20 * 4,
                                              [&] { kernel(x.data(), w, static_cast<bf16*>(y.data()), ldy, m, beta); },
                                              W * 32);
      if (!ran(c, tag, ": runs to the end", fault)) continue;
      c.expect(tag, compare(y.values(), e.ref), 6e-3, 8e-3 * e.max + 1e-3);
      c.expect_true(tag + ": nothing outside y's m x n written", y.outside_untouched());
    }
  }
}

} // namespace

int main() {
  return run_checks("quant_gemm_lean_emulation_test", 1519, [](Checker& c, std::mt19937& rng) {
    check_e4m3_pairs(c);
    struct Shape { int n, k; };
    // 32 x 1408: 11 groups of 128 (22 of 64) over 4 or 8 warps: uneven counts, ring tails, idle warps at
    // 8 x 128 = 1024 < k; 16 x 384: 3 groups, fewer than the warps.
    for (const Shape s : {Shape{32, 1408}, Shape{16, 384}}) {
      const std::vector<Case> cases = quant_cases(
          s.n, s.k, {{"gptq g128 sym", 128, false, true}, {"gptq g64 zeros", 64, false, false}, {"gptq act-order", 128, true, false}},
          rng);
      for (const Case& cs : cases) {
        for (bool deep : {false, true}) {
          run_case<4>(c, cs, deep, rng);
          run_case<8>(c, cs, deep, rng);
        }
      }
    }
  });
}
