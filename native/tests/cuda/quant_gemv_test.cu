// Checks quant_gemv (the decode GEMM of quantized weights, m 1..16) against the float64
// product of random inputs with the wave2 README's dequantization of random checkpoint
// tensors: GPTQ group 128 / 64 (asymmetric), act-order, AWQ, fp8 per-channel and 128x128
// blocks; shapes that take each path (one or two 16-row tiles a CTA, a last slot holding part
// of its chunks, fewer slots than warps, many slots a warp so the ring wraps), every ring
// configuration, beta 1, a row stride past n (a part of a fused output), nothing written past
// y or outside the part's columns, m outside 1..16 refused; and the W8A8 modes (x quantized
// to e4m3 per token or per token and 128 columns inside the kernel) against the README's
// fake-quantized reference.
#include <algorithm>
#include <functional>

#include "backend/cuda/quant_kernels.h"
#include "test_support.h"
#include "quant_test_weights.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr QuantGemvConfig kConfigs[] = {QuantGemvConfig::kW8S2, QuantGemvConfig::kW8S4};

void check_weight(Checker& c, const std::string& name, const HostQuantizedWeight& host, const std::vector<float>& dequant,
                  std::mt19937& rng) {
  DeviceQuantizedWeight dev(host);
  const QuantizedWeight& w = dev.view();
  const int max_m = kQuantGemvMaxRows;
  const auto x_all = random_bf16_values(size_t(max_m) * w.k, rng);
  const auto ref_all = ref_linear(x_all, dequant, max_m, w.n, w.k);
  // y has 16 extra columns on each side of the weight's (ldy = n + 32), all poisoned: the kernel
  // must write its n columns of each of its m rows and nothing else.
  const int ldy = w.n + 32, col0 = 16;
  for (int m : {1, 2, 5, 8, 9, 13, 16}) {
    const std::vector<float> x(x_all.begin(), x_all.begin() + size_t(m) * w.k);
    std::vector<double> ref(size_t(m) * w.n);
    for (int r = 0; r < m; ++r)
      for (int j = 0; j < w.n; ++j) ref[size_t(r) * w.n + j] = ref_all[size_t(r) * w.n + j];
    auto d_x = upload_bf16(x);
    DeviceBuffer d_ws(std::max<size_t>(quant_gemm_workspace_bytes(w, m), 16));
    const size_t y_elems = size_t(m) * ldy + 64;
    DeviceBuffer d_y(y_elems * 2);
    for (QuantGemvConfig cfg : kConfigs) {
      if (cfg != default_quant_gemv_config() && m != 1 && m != 9 && m != 16) continue;
      const std::string tag = name + " m " + std::to_string(m) + " " + quant_gemv_config_name(cfg);
      poison(d_y);
      quant_gemv(d_x.as<bf16>(), w, d_y.as<bf16>() + col0, ldy, m, 0.f, d_ws.data(), d_ws.bytes(), 0, cfg);
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
      const auto y = download_bf16(d_y, y_elems);
      std::vector<float> got(ref.size());
      bool outside_intact = true;
      for (size_t i = 0; i < y_elems; ++i) {
        const int64_t r = int64_t(i) / ldy, col = int64_t(i) % ldy - col0;
        if (r < m && col >= 0 && col < w.n) got[size_t(r) * w.n + col] = y[i];
        else outside_intact = outside_intact && std::isnan(y[i]);
      }
      c.expect(tag, compare(got, ref), 6e-3, 1e-1);
      c.expect_true(tag + ": nothing written outside the part", outside_intact);
      if (m == 9 && cfg == default_quant_gemv_config()) {
        std::vector<double> twice(ref);
        for (double& v : twice) v *= 2;
        quant_gemv(d_x.as<bf16>(), w, d_y.as<bf16>() + col0, ldy, m, 1.f, d_ws.data(), d_ws.bytes(), 0, cfg);
        const auto y2 = download_bf16(d_y, y_elems);
        for (int r = 0; r < m; ++r)
          for (int j = 0; j < w.n; ++j) got[size_t(r) * w.n + j] = y2[size_t(r) * ldy + col0 + j];
        c.expect(tag + " accumulate (beta 1)", compare(got, twice), 6e-3, 2e-1);
      }
    }
  }
}

// The W8A8 reference: x fake-quantized as the checkpoint says (README: f32 scale max|x| / 448
// per token or per token and 128 columns, codes e4m3(clamp(x / s))), times the weight.
std::vector<float> fake_quantize(const std::vector<float>& x, int m, int k, int group) {
  std::vector<float> out(x.size());
  for (int r = 0; r < m; ++r)
    for (int g0 = 0; g0 < k; g0 += group) {
      float amax = 0.f;
      for (int i = g0; i < g0 + group; ++i) amax = std::max(amax, std::fabs(x[size_t(r) * k + i]));
      const float s = std::max(amax, 1e-12f) / 448.f;
      for (int i = g0; i < g0 + group; ++i) {
        const float v = std::min(std::max(x[size_t(r) * k + i] / s, -448.f), 448.f);
        out[size_t(r) * k + i] = e4m3_value(e4m3_code(v)) * s;
      }
    }
  return out;
}

void check_w8a8(Checker& c, const std::string& name, const HostQuantizedWeight& host, const std::vector<float>& dequant,
                Fp8ActivationQuant aq, std::mt19937& rng) {
  DeviceQuantizedWeight dev(host);
  const QuantizedWeight& w = dev.view();
  for (int m : {1, 3, 8, 11, 16}) {
    // Rows of different magnitudes, one all zero: each row (and group) gets its own scale.
    auto x = random_bf16_values(size_t(m) * w.k, rng, 2.f);
    for (int r = 0; r < m; ++r)
      for (int i = 0; i < w.k; ++i) x[size_t(r) * w.k + i] = round_bf16(x[size_t(r) * w.k + i] * (r == 2 ? 0.f : 1.f + 3.f * r));
    const auto ref = ref_linear(fake_quantize(x, m, w.k, aq == Fp8ActivationQuant::kPerToken ? w.k : 128), dequant, m, w.n, w.k);
    auto d_x = upload_bf16(x);
    DeviceBuffer d_y(ref.size() * 2);
    poison(d_y);
    quant_gemv(d_x.as<bf16>(), w, d_y.as<bf16>(), w.n, m, 0.f, nullptr, 0, 0, default_quant_gemv_config(), aq);
    c.expect(name + " m " + std::to_string(m), compare(download_bf16(d_y, ref.size()), ref), 6e-3, 1e-1 * (1 + 3 * m));
  }
}

bool throws_naming(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
  } catch (const pagoda::Error& e) {
    return std::string(e.what()).find(needle) != std::string::npos;
  }
  return false;
}

} // namespace

int main() {
  skip_without_device("quant_gemv_test");
  std::mt19937 rng(1616);
  Checker c;
  try {
    int sms = 0;
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    // Two tiles a CTA once n / 32 >= 2 SMs: the smallest even tile count past that.
    const int wide = ((2 * sms * 32 + 31) / 32) * 32;
    struct Shape {
      int n, k;
      const char* what;
    };
    const Shape shapes[] = {
        {wide, 4224, "two tiles a CTA, last slot partial"},
        {1040, 256, "one tile a CTA, fewer slots than warps"},
        {512, 14336, "many slots a warp (the ring wraps)"},
    };
    for (const Shape& s : shapes) {
      const std::string shape = " " + std::to_string(s.n) + "x" + std::to_string(s.k) + " (" + s.what + ")";
      const Gptq g = make_gptq(s.k, s.n, 128, false, false, rng);
      check_weight(c, "gptq g128 asym" + shape,
                   repack_gptq("gptq", g.qweight.data(), g.qzeros.data(), g.scales.data(), g.g_idx.data(), s.k, s.n, 128),
                   g.dequant, rng);
      const Fp8 f = make_fp8(s.k, s.n, false, rng);
      check_weight(c, "fp8 per-channel" + shape, fp8_per_channel("fp8", f.weight.data(), f.scale.data(), s.n, s.k),
                   f.dequant, rng);
    }
    {
      const Gptq g64 = make_gptq(4224, 1040, 64, false, false, rng);
      check_weight(c, "gptq g64 asym 1040x4224",
                   repack_gptq("gptq64", g64.qweight.data(), g64.qzeros.data(), g64.scales.data(), nullptr, 4224, 1040, 64),
                   g64.dequant, rng);
      const Gptq ao = make_gptq(2048, 512, 128, true, true, rng);
      check_weight(c, "gptq act-order 512x2048",
                   repack_gptq("act", ao.qweight.data(), ao.qzeros.data(), ao.scales.data(), ao.g_idx.data(), 2048, 512, 128),
                   ao.dequant, rng);
      const Awq a = make_awq(4096, 2048, 128, rng);
      check_weight(c, "awq 2048x4096", repack_awq("awq", a.qweight.data(), a.qzeros.data(), a.scales.data(), 4096, 2048, 128),
                   a.dequant, rng);
      const Fp8 b = make_fp8(4224, wide, true, rng);
      check_weight(c, "fp8 block128 " + std::to_string(wide) + "x4224",
                   fp8_block128("fp8b", b.weight.data(), b.scale.data(), wide, 4224), b.dequant, rng);
      const Fp8 b2 = make_fp8(2048, 1040, true, rng);
      check_weight(c, "fp8 block128 1040x2048 (rows past the last whole block)",
                   fp8_block128("fp8b2", b2.weight.data(), b2.scale.data(), 1040, 2048), b2.dequant, rng);
    }
    {
      const Fp8 f = make_fp8(4224, wide, false, rng);
      check_w8a8(c, "fp8 per-channel W8A8 per-token " + std::to_string(wide) + "x4224",
                 fp8_per_channel("fp8a", f.weight.data(), f.scale.data(), wide, 4224), f.dequant,
                 Fp8ActivationQuant::kPerToken, rng);
      const Fp8 f2 = make_fp8(14336, 512, false, rng);
      check_w8a8(c, "fp8 per-channel W8A8 per-token 512x14336", fp8_per_channel("fp8a2", f2.weight.data(), f2.scale.data(), 512, 14336),
                 f2.dequant, Fp8ActivationQuant::kPerToken, rng);
      const Fp8 b = make_fp8(4224, wide, true, rng);
      check_w8a8(c, "fp8 block128 W8A8 per-token-group " + std::to_string(wide) + "x4224",
                 fp8_block128("fp8ba", b.weight.data(), b.scale.data(), wide, 4224), b.dequant,
                 Fp8ActivationQuant::kPerTokenGroup128, rng);
      const Fp8 b2 = make_fp8(2048, 1040, true, rng);
      check_w8a8(c, "fp8 block128 W8A8 per-token-group 1040x2048", fp8_block128("fp8bb", b2.weight.data(), b2.scale.data(), 1040, 2048),
                 b2.dequant, Fp8ActivationQuant::kPerTokenGroup128, rng);
    }
    // Refusals: m outside 1..16, act-order without a workspace.
    const Gptq g = make_gptq(256, 64, 128, true, true, rng);
    DeviceQuantizedWeight dev(repack_gptq("act", g.qweight.data(), g.qzeros.data(), g.scales.data(), g.g_idx.data(), 256, 64, 128));
    DeviceBuffer d(size_t(64) * 256 * 2 * 17);
    c.expect_true("quant_gemv: m 17 is refused",
                  throws_naming([&] { quant_gemv(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 17, 0.f, d.data(), d.bytes(), 0); },
                                "outside 1..16"));
    c.expect_true("quant_gemv: an act-order weight without a workspace fails",
                  throws_naming([&] { quant_gemv(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 1, 0.f, nullptr, 0, 0); },
                                "workspace"));
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("quant_gemv_test");
}
