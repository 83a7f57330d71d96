// Checks quant_gemv2 (the decode GEMV for int4 / fp8 weights at m = 1..8) against the host
// reference computed from the checkpoint tensors by the wave2 README's formulas: GPTQ group 128 /
// 64 / act-order, AWQ, fp8 per-channel and 128x128 blocks, at every m from 1 to 8, on odd shapes
// (row blocks with dead tiles, groups that do not split evenly) and the Llama-3-8B shapes (qkv,
// o_proj, gate_up, down: split-K on the 4096-row ones). Also: y written into a wider output
// (ldy > n) touches nothing else, two runs are bit-identical (the split reduction is fixed-order
// and its counters go back to zero), forced split counts and 2 / 8 tiles a CTA give the same
// function, bad arguments fail. `quant_gemv2_test small` leaves the Llama-3-8B shapes out (seconds instead of a minute).
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/quant_kernels.h"
#include "test_support.h"
#include "reference.h"
#include "quant_checkpoints.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr int kMaxM = 8;

// One weight at m = 1..8 (and forced splits at two m) against the host reference.
void check_weight(Checker& c, const std::string& name, const HostQuantizedWeight& host, const std::vector<float>& dequant,
                  std::mt19937& rng) {
  DeviceQuantizedWeight dev(host);
  const QuantizedWeight& w = dev.view();
  quant_gemv2_prepare(w);
  const int n = w.n, k = w.k, ldy = n + 24; // y as a part of a wider fused output
  const auto x_all = random_bf16_values(size_t(kMaxM) * k, rng);
  const auto ref_all = ref_linear(x_all, dequant, kMaxM, n, k); // rows are independent: m rows = the first m
  auto d_x = upload_bf16(x_all);
  const int groups = k / w.group_size;
  size_t ws_bytes = 0;
  for (int m = 1; m <= kMaxM; ++m)
    for (int s : {0, 1, groups})
      for (int tiles : {0, 2, 8}) ws_bytes = std::max(ws_bytes, quant_gemv2_workspace_bytes(w, m, s, tiles));
  DeviceBuffer d_ws(ws_bytes);
  PAGODA_CUDA_CHECK(cudaMemset(d_ws.data(), 0, ws_bytes));
  DeviceBuffer d_y(size_t(kMaxM) * ldy * 2 + 256);
  std::string splits_used;
  for (int m = 1; m <= kMaxM; ++m) {
    const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * n);
    double ref_max = 0;
    for (double v : ref) ref_max = std::max(ref_max, std::fabs(v));
    // bf16 output: a half ulp is 2^-9 of the value; allow 4x that of the largest output.
    const double abs_limit = 8e-3 * ref_max + 1e-3;
    // (splits, tiles): the plan's choice; at m 1 and 8 also forced splits and 2 / 8 tiles a CTA.
    std::vector<std::pair<int, int>> runs = {{0, 0}};
    if (m == 1 || m == kMaxM) runs = {{0, 0}, {1, 0}, {std::min(groups, 32), 0}, {0, 2}, {0, 8}};
    for (const auto& [s, tiles] : runs) {
      poison(d_y);
      quant_gemv2(d_x.as<bf16>(), w, d_y.as<bf16>(), ldy, m, d_ws.data(), d_ws.bytes(), 0, s, tiles);
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
      const auto raw = download<uint16_t>(d_y, size_t(kMaxM) * ldy + 128);
      std::vector<float> y(size_t(m) * n);
      bool outside_intact = true;
      for (size_t i = 0; i < raw.size(); ++i) {
        const size_t r = i / ldy, col = i % ldy;
        if (r < size_t(m) && col < size_t(n)) {
          uint32_t bits = uint32_t(raw[i]) << 16;
          std::memcpy(&y[r * n + col], &bits, 4);
        } else {
          outside_intact = outside_intact && raw[i] == 0xFFFF;
        }
      }
      const std::string tag = name + " m " + std::to_string(m) + (s == 0 ? "" : " splits " + std::to_string(s)) +
                              (tiles == 0 ? "" : " tiles " + std::to_string(tiles));
      c.expect(tag, compare(y, ref), 6e-3, abs_limit);
      c.expect_true(tag + ": nothing written outside y's m x n", outside_intact);
      if (s == 0 && tiles == 0) {
        splits_used += (splits_used.empty() ? "" : " ") + std::to_string(quant_gemv2_splits(w, m));
        // A second run: bit-identical (a counter left non-zero would skip or repeat the reduction).
        quant_gemv2(d_x.as<bf16>(), w, d_y.as<bf16>(), ldy, m, d_ws.data(), d_ws.bytes(), 0, 0);
        const auto again = download<uint16_t>(d_y, size_t(kMaxM) * ldy + 128);
        bool same = true;
        for (int r = 0; r < m; ++r)
          for (int col = 0; col < n; ++col) same = same && again[size_t(r) * ldy + col] == raw[size_t(r) * ldy + col];
        c.expect_true(tag + ": a second run is bit-identical", same);
      }
    }
  }
  std::printf("info %s: splits chosen for m 1..8: %s\n", name.c_str(), splits_used.c_str());
}

void check_gptq(Checker& c, const std::string& name, int n, int k, int group, bool act_order, std::mt19937& rng) {
  const Gptq g = make_gptq(k, n, group, act_order, !act_order, rng);
  check_weight(c, name, repack_gptq("gptq", g.qweight.data(), g.qzeros.data(), g.scales.data(), g.g_idx.data(), k, n, group),
               g.dequant, rng);
}
void check_awq(Checker& c, const std::string& name, int n, int k, std::mt19937& rng) {
  const Awq a = make_awq(k, n, 128, rng);
  check_weight(c, name, repack_awq("awq", a.qweight.data(), a.qzeros.data(), a.scales.data(), k, n, 128), a.dequant, rng);
}
void check_fp8(Checker& c, const std::string& name, int n, int k, bool block, std::mt19937& rng) {
  const Fp8 f = make_fp8(k, n, block, rng);
  check_weight(c, name,
               block ? fp8_block128("fp8b", f.weight.data(), f.scale.data(), n, k)
                     : fp8_per_channel("fp8", f.weight.data(), f.scale.data(), n, k),
               f.dequant, rng);
}

void check_errors(Checker& c, std::mt19937& rng) {
  const Gptq g = make_gptq(256, 64, 128, false, true, rng);
  DeviceQuantizedWeight dev(repack_gptq("e", g.qweight.data(), g.qzeros.data(), g.scales.data(), nullptr, 256, 64, 128));
  DeviceBuffer d(1 << 16);
  PAGODA_CUDA_CHECK(cudaMemset(d.data(), 0, d.bytes()));
  expect_refused(c, "quant_gemv2: m 9 is refused",
                 [&] { quant_gemv2(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 9, d.data(), d.bytes(), 0); },
                 "m must be 1..8");
  expect_refused(c, "quant_gemv2: no workspace is refused",
                 [&] { quant_gemv2(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 1, nullptr, 0, 0); }, "workspace");
  expect_refused(c, "quant_gemv2: ldy shorter than a row is refused",
                 [&] { quant_gemv2(d.as<bf16>(), dev.view(), d.as<bf16>(), 32, 1, d.data(), d.bytes(), 0); },
                 "row stride");
}

} // namespace

int main(int argc, char** argv) {
  skip_without_device("quant_gemv2_test");
  const bool small = argc > 1 && std::strcmp(argv[1], "small") == 0;
  std::mt19937 rng(1516);
  Checker c;
  try {
    // Odd shapes: 80 rows = one full row block of 64 and one with a single live tile; k 640 =
    // 5 groups of 128 (uneven splits) or 10 of 64; 272 x 1152 = 17 tiles, 9 groups.
    struct Shape { int n, k; };
    for (const Shape s : {Shape{80, 640}, Shape{272, 1152}, Shape{1024, 2048}}) {
      const std::string shape = " " + std::to_string(s.n) + "x" + std::to_string(s.k);
      check_gptq(c, "gptq g128" + shape, s.n, s.k, 128, false, rng);
      check_gptq(c, "gptq g64" + shape, s.n, s.k, 64, false, rng);
      check_gptq(c, "gptq act-order" + shape, s.n, s.k, 128, true, rng);
      check_awq(c, "awq" + shape, s.n, s.k, rng);
      check_fp8(c, "fp8 per-channel" + shape, s.n, s.k, false, rng);
      check_fp8(c, "fp8 block128" + shape, s.n, s.k, true, rng);
    }
    if (!small) {
      // Llama-3-8B: every GEMM for the two formats the decode benchmark runs, the 4096-row ones
      // (split-K) for the others.
      const Shape llama[] = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}};
      const char* names[] = {"qkv", "o_proj", "gate_up", "down"};
      for (int i = 0; i < 4; ++i) {
        const Shape s = llama[i];
        check_gptq(c, std::string("gptq g128 ") + names[i], s.n, s.k, 128, false, rng);
        check_fp8(c, std::string("fp8 per-channel ") + names[i], s.n, s.k, false, rng);
        if (s.n != 4096) continue;
        check_gptq(c, std::string("gptq g64 ") + names[i], s.n, s.k, 64, false, rng);
        check_gptq(c, std::string("gptq act-order ") + names[i], s.n, s.k, 128, true, rng);
        check_awq(c, std::string("awq ") + names[i], s.n, s.k, rng);
        check_fp8(c, std::string("fp8 block128 ") + names[i], s.n, s.k, true, rng);
      }
    }
    check_errors(c, rng);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("quant_gemv2_test");
}
