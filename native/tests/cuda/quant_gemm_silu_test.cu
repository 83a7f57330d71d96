// Checks the int4 and fp8 gate_up + SiLU·mul paths (on by default, PAGODA_FUSED_SILU=0: off) against the unfused
// pair they replace, bit for bit, on GPTQ (g128 sym, g64 with zero points, act-order), AWQ and fp8 per-channel
// gate_up weights whose rows interleave_gate_up_rows reordered:
//   - m 1..8: quant_gemm_silu (both ring depths) = quant_gemm_lean on the plain weight + silu_mul, and nothing
//     written past out; fp8 also quant_gemm_silu_fp8 = quant_gemm_lean + silu_mul(kPerToken) (W8A8);
//   - m 16, 32 (quant_gemm_kernel): quant_gemm on the interleaved weight + silu_mul_interleaved = the plain pair
//     (fp8: also with kPerToken);
//   - m 64 (the engine's prefill path): dequantize_weight of the interleaved weight is the plain one's rows moved
//     (bit for bit), and cuBLASLt on it + silu_mul_interleaved = the plain pair (within a bf16 step; the count of
//     differing bits is printed).
// Shapes: 256 x 512, 1024 x 2048 (eight warps a CTA), 4608 x 1408 (four warps on an H200, 11 groups a row).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/quant_kernels.h"
#include "test_support.h"
#include "reference.h"
#include "quant_checkpoints.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr size_t kGuard = 64; // poisoned bf16 elements after out that must stay untouched

// Differing elements between the first `count` bf16 of a and b, as bits.
size_t bits_differ(const DeviceBuffer& a, const DeviceBuffer& b, size_t count) {
  const auto x = download<uint16_t>(a, count), y = download<uint16_t>(b, count);
  size_t differ = 0;
  for (size_t i = 0; i < count; ++i) differ += x[i] != y[i];
  return differ;
}

bool guard_intact(const DeviceBuffer& buf, size_t count) {
  const auto v = download<uint16_t>(buf, count + kGuard);
  for (size_t i = count; i < v.size(); ++i)
    if (v[i] != 0xFFFF) return false;
  return true;
}

void expect_same(Checker& c, const std::string& tag, const DeviceBuffer& got, const DeviceBuffer& want, size_t count) {
  const size_t differ = bits_differ(got, want, count);
  c.expect_true(tag, differ == 0, std::to_string(differ) + " of " + std::to_string(count) + " differ");
}

void check_gate_up(Checker& c, CublasLt& lt, const std::string& name, const HostQuantizedWeight& host, std::mt19937& rng) {
  const HostQuantizedWeight inter_host = interleave_gate_up_rows(host);
  DeviceQuantizedWeight plain_dev(host), inter_dev(inter_host);
  const QuantizedWeight &plain = plain_dev.view(), &inter = inter_dev.view();
  const int n = plain.n, k = plain.k, half = n / 2;
  const int max_m = 64;
  const auto x_all = random_bf16_values(size_t(max_m) * k, rng);
  auto d_x = upload_bf16(x_all);
  DeviceBuffer d_ws(std::max<size_t>(quant_gemm_workspace_bytes(plain, max_m), 16));
  DeviceBuffer d_y(size_t(max_m) * n * 2), d_want((size_t(max_m) * half + kGuard) * 2),
      d_got((size_t(max_m) * half + kGuard) * 2);

  for (int m = 1; m <= 8; ++m)
    for (int deep : {0, 1}) {
      const std::string tag = name + " m " + std::to_string(m) + (deep ? " deep" : "");
      poison(d_want);
      poison(d_got);
      quant_gemm_lean(d_x.as<bf16>(), plain, d_y.as<bf16>(), n, m, 0.f, d_ws.data(), d_ws.bytes(), 0, deep);
      silu_mul(d_y.as<bf16>(), d_want.as<bf16>(), m, half, 0);
      quant_gemm_silu(d_x.as<bf16>(), inter, d_got.as<bf16>(), m, d_ws.data(), d_ws.bytes(), 0, deep);
      expect_same(c, tag + ": quant_gemm_silu equals quant_gemm_lean + silu_mul bit for bit", d_got, d_want,
                  size_t(m) * half);
      c.expect_true(tag + ": quant_gemm_silu writes nothing past out", guard_intact(d_got, size_t(m) * half));
    }

  const bool fp8 = plain.format == QuantFormat::kFp8;
  if (fp8) {
    // W8A8 per token: the staged kernel + silu_mul_fp8_finish = quant_gemm_lean + the one-block fake-quantizing
    // silu_mul, bit for bit; the staging buffer poisoned first, so stale maxima would show.
    DeviceBuffer d_stage(quant_gemm_silu_fp8_staging_bytes(inter));
    for (int m = 1; m <= 8; ++m)
      for (int deep : {0, 1}) {
        const std::string tag = name + " w8a8 m " + std::to_string(m) + (deep ? " deep" : "");
        poison(d_want);
        poison(d_got);
        poison(d_stage);
        quant_gemm_lean(d_x.as<bf16>(), plain, d_y.as<bf16>(), n, m, 0.f, d_ws.data(), d_ws.bytes(), 0, deep);
        silu_mul(d_y.as<bf16>(), d_want.as<bf16>(), m, half, 0, Fp8Fuse::kPerToken);
        quant_gemm_silu_fp8(d_x.as<bf16>(), inter, d_got.as<bf16>(), m, d_stage.data(), d_stage.bytes(), 0, deep);
        expect_same(c, tag + ": quant_gemm_silu_fp8 equals quant_gemm_lean + silu_mul(kPerToken) bit for bit", d_got,
                    d_want, size_t(m) * half);
        c.expect_true(tag + ": quant_gemm_silu_fp8 writes nothing past out", guard_intact(d_got, size_t(m) * half));
      }
    expect_refused(c, name + ": quant_gemm_silu_fp8 with a short staging buffer fails", [&] {
      quant_gemm_silu_fp8(d_x.as<bf16>(), inter, d_got.as<bf16>(), 1, d_stage.data(), d_stage.bytes() - 16, 0);
    }, "staging");
  }

  for (int m : {16, 32}) {
    const std::string tag = name + " m " + std::to_string(m);
    quant_gemm(d_x.as<bf16>(), plain, d_y.as<bf16>(), n, m, 0.f, d_ws.data(), d_ws.bytes(), 0);
    silu_mul(d_y.as<bf16>(), d_want.as<bf16>(), m, half, 0);
    quant_gemm(d_x.as<bf16>(), inter, d_y.as<bf16>(), n, m, 0.f, d_ws.data(), d_ws.bytes(), 0);
    silu_mul_interleaved(d_y.as<bf16>(), d_got.as<bf16>(), m, half, 0);
    expect_same(c, tag + ": quant_gemm on the interleaved weight + silu_mul_interleaved equals the plain pair", d_got,
                d_want, size_t(m) * half);
    if (!fp8) continue;
    quant_gemm(d_x.as<bf16>(), plain, d_y.as<bf16>(), n, m, 0.f, d_ws.data(), d_ws.bytes(), 0);
    silu_mul(d_y.as<bf16>(), d_want.as<bf16>(), m, half, 0, Fp8Fuse::kPerToken);
    quant_gemm(d_x.as<bf16>(), inter, d_y.as<bf16>(), n, m, 0.f, d_ws.data(), d_ws.bytes(), 0);
    silu_mul_interleaved(d_y.as<bf16>(), d_got.as<bf16>(), m, half, 0, Fp8Fuse::kPerToken);
    expect_same(c, tag + ": ... + silu_mul_interleaved(kPerToken) equals the plain pair with silu_mul(kPerToken)", d_got,
                d_want, size_t(m) * half);
  }

  // The prefill path: the weight dequantized to bf16, then cuBLASLt.
  DeviceBuffer d_wp(size_t(n) * k * 2), d_wi(size_t(n) * k * 2);
  dequantize_weight(plain, d_wp.as<bf16>(), 0);
  dequantize_weight(inter, d_wi.as<bf16>(), 0);
  {
    const auto wp = download<uint16_t>(d_wp, size_t(n) * k), wi = download<uint16_t>(d_wi, size_t(n) * k);
    bool moved = true;
    for (int o = 0; o < n && moved; ++o) {
      const int from = (o % 16 < 8 ? 0 : half) + (o / 16) * 8 + o % 8;
      moved = std::memcmp(&wi[size_t(o) * k], &wp[size_t(from) * k], size_t(k) * 2) == 0;
    }
    c.expect_true(name + ": dequantize_weight of the interleaved weight is the plain one's rows, moved", moved);
  }
  const int m = max_m;
  lt.linear(d_x.as<bf16>(), d_wp.as<bf16>(), d_y.as<bf16>(), GemmOutput::kBf16, m, n, k, 0);
  silu_mul(d_y.as<bf16>(), d_want.as<bf16>(), m, half, 0);
  lt.linear(d_x.as<bf16>(), d_wi.as<bf16>(), d_y.as<bf16>(), GemmOutput::kBf16, m, n, k, 0);
  silu_mul_interleaved(d_y.as<bf16>(), d_got.as<bf16>(), m, half, 0);
  // cuBLASLt's rounding of an output column does not depend on where the column sits for the kernels it
  // picks, so the bits should match; printed, not required (a different algorithm for the same shape would
  // be no fault of the layout), and the values must agree within a bf16 step.
  const size_t count = size_t(m) * half, differ = bits_differ(d_got, d_want, count);
  std::printf("info %s m 64: cuBLASLt interleaved pair vs plain pair: %zu of %zu outputs differ in bits\n", name.c_str(),
              differ, count);
  const auto want = download_bf16(d_want, count);
  double max = 0;
  for (float v : want) max = std::max(max, double(std::fabs(v)));
  c.expect(name + " m 64: cuBLASLt on the interleaved dequantized weight + silu_mul_interleaved = the plain pair",
           compare(download_bf16(d_got, count), std::vector<double>(want.begin(), want.end())), 4e-3, 8e-3 * max + 1e-3);
}

} // namespace

int main() {
  skip_without_device("quant_gemm_silu_test");
  unsetenv("PAGODA_QUANT_GEMM_LEAN_DEEP");
  std::mt19937 rng(2026);
  Checker c;
  try {
    CublasLt lt;
    struct Shape { int n, k; };
    for (const Shape s : {Shape{256, 512}, Shape{1024, 2048}, Shape{4608, 1408}}) {
      const std::string shape = " " + std::to_string(s.n) + "x" + std::to_string(s.k);
      for (bool act_order : {false, true}) {
        const Gptq g = make_gptq(s.k, s.n, 128, act_order, !act_order, rng);
        check_gate_up(c, lt, std::string(act_order ? "gptq act-order" : "gptq sym") + shape,
                      repack_gptq("gptq", g.qweight.data(), g.qzeros.data(), g.scales.data(), g.g_idx.data(), s.k, s.n, 128),
                      rng);
      }
      const Gptq g64 = make_gptq(s.k, s.n, 64, false, false, rng);
      check_gate_up(c, lt, "gptq group 64" + shape,
                    repack_gptq("gptq64", g64.qweight.data(), g64.qzeros.data(), g64.scales.data(), nullptr, s.k, s.n, 64),
                    rng);
      const Awq a = make_awq(s.k, s.n, 128, rng);
      check_gate_up(c, lt, "awq" + shape,
                    repack_awq("awq", a.qweight.data(), a.qzeros.data(), a.scales.data(), s.k, s.n, 128), rng);
      if (s.k % 128 == 0) {
        const Fp8 f = make_fp8(s.k, s.n, false, rng);
        check_gate_up(c, lt, "fp8 per-channel" + shape, fp8_per_channel("fp8", f.weight.data(), f.scale.data(), s.n, s.k),
                      rng);
      }
    }
    // fp8 blocks keep their 128-row scale blocks: no interleave.
    {
      const Fp8 f = make_fp8(256, 256, true, rng);
      const HostQuantizedWeight blocks = fp8_block128("fb", f.weight.data(), f.scale.data(), 256, 256);
      expect_refused(c, "interleave_gate_up_rows: an fp8 block weight fails", [&] { interleave_gate_up_rows(blocks); },
                     "fp8 per-channel");
    }
    // An fp8 weight and m 9 are refused.
    const Gptq g = make_gptq(256, 64, 128, false, true, rng);
    DeviceQuantizedWeight dev(interleave_gate_up_rows(
        repack_gptq("g", g.qweight.data(), g.qzeros.data(), g.scales.data(), nullptr, 256, 64, 128)));
    DeviceBuffer d(4096);
    expect_refused(c, "quant_gemm_silu: m 9 fails",
                   [&] { quant_gemm_silu(d.as<bf16>(), dev.view(), d.as<bf16>(), 9, d.data(), d.bytes(), 0); }, "m 9");
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("quant_gemm_silu_test");
}
