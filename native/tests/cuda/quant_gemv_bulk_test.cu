// Checks quant_gemv_bulk (the bulk-copy decode GEMV for int4 / fp8 weights at m = 1..8) against the host
// reference computed from the checkpoint tensors by the wave2 README's formulas, and against quant_gemm's
// output on the same inputs (the same arithmetic: at most one bf16 step apart, from f32 summation order):
// GPTQ group 128 / 64 / act-order, AWQ, fp8 per-channel and 128x128 blocks, m 1..8, beta 0 and 0.75,
// y inside a wider output (ldy > n: nothing else touched), every ring configuration, shapes with one tile,
// odd tile counts, k not a whole number of stages, and the Llama-3-8B shapes (split-K on the 4096-row ones).
// Repeated calls are bit-identical (the split counters go back to zero); bad arguments fail.
// `quant_gemv_bulk_test small` leaves the Llama-3-8B shapes out, `quant_gemv_bulk_test llama` runs only them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/quant_kernels.h"
#include "test_support.h"
#include "reference.h"
#include "quant_checkpoints.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr int kMaxM = 8;

float bits_to_float(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// One bf16 step at v's magnitude (2^-7 of its leading power of two).
double bf16_step(double v) {
  if (v == 0) return 0;
  return std::ldexp(1.0, std::ilogb(v) - 7);
}

void check_weight(Checker& c, const std::string& name, const HostQuantizedWeight& host, const std::vector<float>& dequant,
                  std::mt19937& rng, bool all_configs) {
  DeviceQuantizedWeight dev(host);
  const QuantizedWeight& w = dev.view();
  quant_gemv_bulk_prepare(w);
  const int n = w.n, k = w.k, ldy = n + 24; // y as a part of a wider fused output
  const auto x_all = random_bf16_values(size_t(kMaxM) * k, rng);
  const auto ref_all = ref_linear(x_all, dequant, kMaxM, n, k); // rows are independent: m rows = the first m
  const auto y0 = random_bf16_values(size_t(kMaxM) * n, rng);   // the prior y that beta scales
  auto d_x = upload_bf16(x_all);
  size_t ws_bytes = 0;
  for (int m = 1; m <= kMaxM; ++m)
    for (int cfg = 0; cfg < quant_gemv_bulk_configs(); ++cfg)
      ws_bytes = std::max(ws_bytes, quant_gemv_bulk_workspace_bytes(w, m, cfg));
  DeviceBuffer d_ws(ws_bytes);
  PAGODA_CUDA_CHECK(cudaMemset(d_ws.data(), 0, ws_bytes));
  DeviceBuffer d_gemm_ws(std::max<size_t>(quant_gemm_workspace_bytes(w, kMaxM), 256));
  const size_t y_elems = size_t(kMaxM) * ldy + 128;
  DeviceBuffer d_y(y_elems * 2), d_y_gemm(y_elems * 2);
  // y before a call: y0 inside m x n (read when beta != 0), 0xFFFF everywhere else (must stay).
  auto fill_y = [&](DeviceBuffer& buf, int m) {
    std::vector<uint16_t> h(y_elems, 0xFFFF);
    const auto b = to_bf16(y0);
    for (int r = 0; r < m; ++r)
      for (int col = 0; col < n; ++col) std::memcpy(&h[size_t(r) * ldy + col], &b[size_t(r) * n + col], 2);
    PAGODA_CUDA_CHECK(cudaMemcpy(buf.data(), h.data(), y_elems * 2, cudaMemcpyHostToDevice));
  };
  std::string splits_used;
  for (int cfg = 0; cfg < quant_gemv_bulk_configs(); ++cfg)
    splits_used += (cfg ? " " : "") + std::to_string(quant_gemv_bulk_splits(w, cfg));
  for (int m = 1; m <= kMaxM; ++m) {
    for (float beta : {0.f, 0.75f}) {
      if (beta != 0.f && m != 1 && m != 3 && m != kMaxM) continue;
      std::vector<double> ref(size_t(m) * n);
      double ref_max = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        ref[i] = ref_all[i] + double(beta) * y0[i];
        ref_max = std::max(ref_max, std::fabs(ref[i]));
      }
      // bf16 output: a half ulp is 2^-9 of the value; allow 4x that of the largest output.
      const double abs_limit = 8e-3 * ref_max + 1e-3;
      // quant_gemm on the same inputs: the second reference.
      fill_y(d_y_gemm, m);
      quant_gemm(d_x.as<bf16>(), w, d_y_gemm.as<bf16>(), ldy, m, beta, d_gemm_ws.data(), d_gemm_ws.bytes(), 0);
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
      const auto gemm_raw = download<uint16_t>(d_y_gemm, y_elems);
      std::vector<int> configs = {-1};
      if (all_configs && (m == 1 || m == kMaxM) && beta == 0.f)
        for (int cfg = 0; cfg < quant_gemv_bulk_configs(); ++cfg) configs.push_back(cfg);
      for (int cfg : configs) {
        fill_y(d_y, m);
        quant_gemv_bulk(d_x.as<bf16>(), w, d_y.as<bf16>(), ldy, m, beta, d_ws.data(), d_ws.bytes(), 0, cfg);
        PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
        const auto raw = download<uint16_t>(d_y, y_elems);
        std::vector<float> y(size_t(m) * n);
        bool outside_intact = true;
        int64_t off_by_more = 0, equal = 0;
        for (size_t i = 0; i < raw.size(); ++i) {
          const size_t r = i / ldy, col = i % ldy;
          if (r < size_t(m) && col < size_t(n)) {
            const float v = bits_to_float(raw[i]), vg = bits_to_float(gemm_raw[i]);
            y[r * n + col] = v;
            const double step = bf16_step(std::max(std::fabs(v), std::fabs(vg)));
            if (std::fabs(double(v) - vg) > step + 1e-5 * ref_max || !std::isfinite(v)) ++off_by_more;
            if (raw[i] == gemm_raw[i]) ++equal;
          } else {
            outside_intact = outside_intact && raw[i] == 0xFFFF;
          }
        }
        const std::string tag = name + " m " + std::to_string(m) + (beta != 0.f ? " beta 0.75" : "") +
                                (cfg < 0 ? "" : " config " + std::to_string(cfg));
        c.expect(tag, compare(y, ref), 6e-3, abs_limit);
        c.expect_true(tag + ": within one bf16 step of quant_gemm", off_by_more == 0,
                      std::to_string(off_by_more) + " beyond, " + std::to_string(equal) + " of " +
                          std::to_string(int64_t(m) * n) + " equal");
        c.expect_true(tag + ": nothing written outside y's m x n", outside_intact);
        if (cfg < 0) {
          // A second and third run: bit-identical (a counter left non-zero would skip or repeat the
          // reduction; the ring's barriers start fresh every launch).
          bool same = true;
          for (int rep = 0; rep < 2; ++rep) {
            fill_y(d_y, m);
            quant_gemv_bulk(d_x.as<bf16>(), w, d_y.as<bf16>(), ldy, m, beta, d_ws.data(), d_ws.bytes(), 0);
            const auto again = download<uint16_t>(d_y, y_elems);
            same = same && again == raw;
          }
          c.expect_true(tag + ": repeated runs are bit-identical", same);
        }
      }
    }
  }
  std::printf("info %s: splits for configs 0..%d: %s\n", name.c_str(), quant_gemv_bulk_configs() - 1,
              splits_used.c_str());
}

void check_gptq(Checker& c, const std::string& name, int n, int k, int group, bool act_order, std::mt19937& rng,
                bool all_configs = true) {
  const Gptq g = make_gptq(k, n, group, act_order, !act_order, rng);
  check_weight(c, name, repack_gptq("gptq", g.qweight.data(), g.qzeros.data(), g.scales.data(), g.g_idx.data(), k, n, group),
               g.dequant, rng, all_configs);
}
void check_awq(Checker& c, const std::string& name, int n, int k, std::mt19937& rng, bool all_configs = true) {
  const Awq a = make_awq(k, n, 128, rng);
  check_weight(c, name, repack_awq("awq", a.qweight.data(), a.qzeros.data(), a.scales.data(), k, n, 128), a.dequant, rng,
               all_configs);
}
void check_fp8(Checker& c, const std::string& name, int n, int k, bool block, std::mt19937& rng, bool all_configs = true) {
  const Fp8 f = make_fp8(k, n, block, rng);
  check_weight(c, name,
               block ? fp8_block128("fp8b", f.weight.data(), f.scale.data(), n, k)
                     : fp8_per_channel("fp8", f.weight.data(), f.scale.data(), n, k),
               f.dequant, rng, all_configs);
}

void check_errors(Checker& c, std::mt19937& rng) {
  const Gptq g = make_gptq(256, 64, 128, false, true, rng);
  DeviceQuantizedWeight dev(repack_gptq("e", g.qweight.data(), g.qzeros.data(), g.scales.data(), nullptr, 256, 64, 128));
  DeviceBuffer d(1 << 17);
  PAGODA_CUDA_CHECK(cudaMemset(d.data(), 0, d.bytes()));
  expect_refused(c, "quant_gemv_bulk: a weight shape never prepared is refused",
                 [&] { quant_gemv_bulk(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 1, 0.f, d.data(), d.bytes(), 0); },
                 "prepare");
  quant_gemv_bulk_prepare(dev.view());
  expect_refused(c, "quant_gemv_bulk: m 9 is refused",
                 [&] { quant_gemv_bulk(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 9, 0.f, d.data(), d.bytes(), 0); },
                 "m must be 1..8");
  expect_refused(c, "quant_gemv_bulk: no workspace is refused",
                 [&] { quant_gemv_bulk(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 1, 0.f, nullptr, 0, 0); }, "workspace");
  expect_refused(c, "quant_gemv_bulk: ldy shorter than a row is refused",
                 [&] { quant_gemv_bulk(d.as<bf16>(), dev.view(), d.as<bf16>(), 32, 1, 0.f, d.data(), d.bytes(), 0); },
                 "row stride");
  expect_refused(c, "quant_gemv_bulk: an unknown config is refused",
                 [&] { quant_gemv_bulk(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 1, 0.f, d.data(), d.bytes(), 0, 99); },
                 "config");
}

} // namespace

int main(int argc, char** argv) {
  skip_without_device("quant_gemv_bulk_test");
  const bool small = argc > 1 && std::strcmp(argv[1], "small") == 0;
  const bool llama_only = argc > 1 && std::strcmp(argv[1], "llama") == 0;
  std::mt19937 rng(1517);
  Checker c;
  try {
    if (!llama_only) check_errors(c, rng);
    // 16 x 640: one tile (k split over idle SMs), k = 5 groups of 128 / 10 of 64, not a whole
    // number of 8 / 16 KB stages; 272 x 1152: 17 tiles (odd), 9 groups; 2064 x 2048: 129 tiles, so
    // some CTAs walk two items while most walk one; 4096 x 1536 at 256 tiles: several a CTA.
    struct Shape { int n, k; };
    for (const Shape s : {Shape{16, 640}, Shape{272, 1152}, Shape{2064, 2048}, Shape{4096, 1536}}) {
      if (llama_only) break;
      const std::string shape = " " + std::to_string(s.n) + "x" + std::to_string(s.k);
      check_gptq(c, "gptq g128" + shape, s.n, s.k, 128, false, rng);
      check_gptq(c, "gptq g64" + shape, s.n, s.k, 64, false, rng);
      check_gptq(c, "gptq act-order" + shape, s.n, s.k, 128, true, rng);
      check_awq(c, "awq" + shape, s.n, s.k, rng);
      check_fp8(c, "fp8 per-channel" + shape, s.n, s.k, false, rng);
      check_fp8(c, "fp8 block128" + shape, s.n, s.k, true, rng);
    }
    if (!small) {
      // Llama-3-8B: every GEMM for GPTQ g128 and fp8 per-channel (what the decode benchmark runs);
      // the 4096-row ones (split-K) for the other formats.
      const Shape llama[] = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}};
      const char* names[] = {"qkv", "o_proj", "gate_up", "down"};
      for (int i = 0; i < 4; ++i) {
        const Shape s = llama[i];
        check_gptq(c, std::string("gptq g128 ") + names[i], s.n, s.k, 128, false, rng, false);
        check_fp8(c, std::string("fp8 per-channel ") + names[i], s.n, s.k, false, rng, false);
        if (s.n != 4096) continue;
        check_gptq(c, std::string("gptq g64 ") + names[i], s.n, s.k, 64, false, rng, false);
        check_gptq(c, std::string("gptq act-order ") + names[i], s.n, s.k, 128, true, rng, false);
        check_awq(c, std::string("awq ") + names[i], s.n, s.k, rng, false);
        check_fp8(c, std::string("fp8 block128 ") + names[i], s.n, s.k, true, rng, false);
      }
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("quant_gemv_bulk_test");
}
