// What the emulation tests of the decode GEMVs need (quant_gemm_lean_emulation_test; until session 9
// also the bulk-copy GEMVs'): the quantized weight cases, x and y as the kernels read them, the
// reference with beta and the checks after a run.
// Include after host_emulation.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <cuda_bf16.h>

#include "backend/cuda/quantized_weight.h"
#include "test_support.h" // before reference.h, which uses it
#include "reference.h"
#include "quant_checkpoints.h"

namespace pagoda::cuda::test {

// A GPTQ case: its label, group size, act-order, symmetric (no zero points: the constant 8).
struct GptqCase {
  const char* label;
  int group;
  bool act_order, symmetric;
};

// The weight cases of an n x k shape, in this order (each draws its weight from rng): the GPTQ ones
// given, AWQ group 128, fp8 per-channel and block-128.
inline std::vector<emu::Case> quant_cases(int n, int k, const std::vector<GptqCase>& gptq, std::mt19937& rng) {
  const std::string shape = " " + std::to_string(n) + "x" + std::to_string(k);
  std::vector<emu::Case> cases;
  for (const GptqCase& gc : gptq) {
    const Gptq g = make_gptq(k, n, gc.group, gc.act_order, gc.symmetric, rng);
    cases.push_back({gc.label + shape,
                     repack_gptq("g", g.qweight.data(), g.qzeros.data(), g.scales.data(), gc.act_order ? g.g_idx.data() : nullptr,
                                 k, n, gc.group),
                     g.dequant});
  }
  {
    const Awq a = make_awq(k, n, 128, rng);
    cases.push_back({"awq" + shape, repack_awq("a", a.qweight.data(), a.qzeros.data(), a.scales.data(), k, n, 128), a.dequant});
  }
  for (bool block : {false, true}) {
    const Fp8 f = make_fp8(k, n, block, rng);
    cases.push_back({std::string(block ? "fp8 block128" : "fp8 per-channel") + shape,
                     block ? fp8_block128("f", f.weight.data(), f.scale.data(), n, k)
                           : fp8_per_channel("f", f.weight.data(), f.scale.data(), n, k),
                     f.dequant});
  }
  return cases;
}

// m rows of x ([8][k] values) as bf16 in the weight's packed column order (act-order: gathered by perm).
inline std::vector<__nv_bfloat16> packed_x(const std::vector<float>& x_all, const QuantizedWeight& w, int m) {
  const int k = w.k;
  std::vector<__nv_bfloat16> x(size_t(m) * k);
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < k; ++j) x[size_t(r) * k + j] = __float2bfloat16(x_all[size_t(r) * k + (w.perm ? w.perm[j] : j)]);
  return x;
}

// The first count values of x w^T + beta * y0 (y0 as the kernel reads it: bf16 values), and their largest magnitude.
struct Expected {
  std::vector<double> ref;
  double max = 0;
};
inline Expected expected(const std::vector<double>& ref_all, const std::vector<float>& y0, size_t count, float beta) {
  Expected e;
  e.ref.resize(count);
  for (size_t i = 0; i < count; ++i) {
    e.ref[i] = ref_all[i] + double(beta) * y0[i];
    e.max = std::max(e.max, std::fabs(e.ref[i]));
  }
  return e;
}

// Whether a run went to its end; if not, a failed check tag + what with run_grid's fault.
inline bool ran(Checker& c, const std::string& tag, const char* what, const std::string& fault) {
  if (fault.empty()) return true;
  c.expect_true(tag + what, false, fault);
  return false;
}

// A test's main: body's checks with a Checker and a generator seeded with seed; an exception fails it.
inline int run_checks(const char* name, unsigned seed, const std::function<void(Checker&, std::mt19937&)>& body) {
  std::mt19937 rng(seed);
  Checker c;
  try {
    body(c, rng);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish(name);
}

} // namespace pagoda::cuda::test
