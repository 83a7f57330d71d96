// Checks bf16_gemv_bulk (the bulk-copy decode GEMV for bf16 weights at m = 1..8) against a double-precision
// host reference and against skinny_gemm on the same inputs (the same arithmetic but for the order of f32
// sums: at most one bf16 step apart in bf16, a few f32 ulps of the row's scale in f32): bf16 and f32
// output, m 1..8, beta 0 and 0.75, every ring configuration, one tile, odd tile counts, several tiles a
// CTA, k not a whole number of stages, and the Llama-3-8B shapes with lm_head (split-K on the 4096-row
// ones). Nothing past y's m x n is written; repeated calls are bit-identical (the split counters go back
// to zero); CublasLt::linear takes the kernel for a shape handed to use_bf16_gemv_bulk (the engine's
// PAGODA_BF16_GEMV_BULK=1 wiring); bad arguments fail.
// `bf16_gemv_bulk_test small` leaves the Llama-3-8B shapes out, `bf16_gemv_bulk_test llama` runs only them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/kernels.h"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr int kMaxM = 8;
constexpr size_t kGuard = 64; // elements after y's 8 rows that must stay untouched

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

// y[m][n] = x · w^T in double, rows of w spread over the host's cores (lm_head is 128256 x 4096).
std::vector<double> reference(const std::vector<float>& x, const std::vector<float>& w, int m, int n, int k) {
  std::vector<double> y(size_t(m) * n);
  const int threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int j = t; j < n; j += threads)
        for (int i = 0; i < m; ++i) {
          double acc = 0;
          const float* xr = &x[size_t(i) * k];
          const float* wr = &w[size_t(j) * k];
          for (int e = 0; e < k; ++e) acc += double(xr[e]) * wr[e];
          y[size_t(i) * n + j] = acc;
        }
    });
  for (auto& th : pool) th.join();
  return y;
}

// The output as floats (bf16 or f32 elements).
std::vector<float> as_floats(const std::vector<uint8_t>& raw, bool f32, size_t count) {
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) {
    if (f32) std::memcpy(&v[i], &raw[4 * i], 4);
    else {
      uint16_t b;
      std::memcpy(&b, &raw[2 * i], 2);
      v[i] = bits_to_float(b);
    }
  }
  return v;
}

void check_shape(Checker& c, const std::string& name, int n, int k, std::mt19937& rng, bool all_configs) {
  bf16_gemv_bulk_prepare(n, k);
  const auto x_all = random_bf16_values(size_t(kMaxM) * k, rng);
  const auto w = random_bf16_values(size_t(n) * k, rng, 0.05f);
  const auto ref_all = reference(x_all, w, kMaxM, n, k); // rows are independent: m rows = the first m
  const auto y0 = random_bf16_values(size_t(kMaxM) * n, rng); // the prior y that beta scales
  auto d_x = upload_bf16(x_all);
  auto d_w = upload_bf16(w);
  size_t ws_bytes = 0;
  for (int m = 1; m <= kMaxM; ++m)
    for (int cfg = 0; cfg < bf16_gemv_bulk_configs(); ++cfg)
      ws_bytes = std::max(ws_bytes, bf16_gemv_bulk_workspace_bytes(n, k, m, cfg));
  DeviceBuffer d_ws(ws_bytes);
  PAGODA_CUDA_CHECK(cudaMemset(d_ws.data(), 0, ws_bytes));
  const size_t y_elems = size_t(kMaxM) * n + kGuard;
  DeviceBuffer d_y(y_elems * 4), d_y_skinny(y_elems * 4);
  std::string splits_used;
  for (int cfg = 0; cfg < bf16_gemv_bulk_configs(); ++cfg)
    splits_used += (cfg ? " " : "") + std::to_string(bf16_gemv_bulk_splits(n, k, cfg));

  for (bool f32 : {false, true}) {
    const size_t eb = f32 ? 4 : 2;
    // y before a call: y0 in its first m x n elements (read when beta != 0), 0xFF bytes after (must stay).
    auto fill_y = [&](DeviceBuffer& buf, int m) {
      std::vector<uint8_t> h(y_elems * eb, 0xFF);
      for (size_t i = 0; i < size_t(m) * n; ++i) {
        if (f32) std::memcpy(&h[4 * i], &y0[i], 4);
        else {
          const bf16 b = __float2bfloat16(y0[i]);
          std::memcpy(&h[2 * i], &b, 2);
        }
      }
      PAGODA_CUDA_CHECK(cudaMemcpy(buf.data(), h.data(), h.size(), cudaMemcpyHostToDevice));
    };
    for (int m = 1; m <= kMaxM; ++m) {
      for (float beta : {0.f, 0.75f}) {
        if (beta != 0.f && m != 1 && m != 3 && m != kMaxM) continue;
        std::vector<double> ref(size_t(m) * n);
        double ref_max = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
          ref[i] = ref_all[i] + double(beta) * y0[i];
          ref_max = std::max(ref_max, std::fabs(ref[i]));
        }
        // bf16: 4 half ulps of the largest output; f32: the order of f32 sums only.
        const double abs_limit = f32 ? 2e-5 * ref_max + 2e-5 : 8e-3 * ref_max + 1e-3;
        const double rel_limit = f32 ? 1e-5 : 6e-3;
        fill_y(d_y_skinny, m);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y_skinny.data(), f32, m, n, k, beta, 0);
        const auto skinny_raw = download<uint8_t>(d_y_skinny, y_elems * eb);
        const auto skinny = as_floats(skinny_raw, f32, size_t(m) * n);
        std::vector<int> configs = {-1};
        if ((all_configs || m == 1) && (m == 1 || m == kMaxM) && beta == 0.f)
          for (int cfg = 0; cfg < bf16_gemv_bulk_configs(); ++cfg) configs.push_back(cfg);
        for (int cfg : configs) {
          fill_y(d_y, m);
          bf16_gemv_bulk(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), f32, m, n, k, beta, d_ws.data(), d_ws.bytes(), 0, cfg);
          PAGODA_CUDA_CHECK(cudaGetLastError());
          const auto raw = download<uint8_t>(d_y, y_elems * eb);
          const auto y = as_floats(raw, f32, size_t(m) * n);
          int64_t off = 0, equal = 0;
          for (size_t i = 0; i < y.size(); ++i) {
            const double limit = f32 ? 2e-5 * ref_max + 2e-5 : bf16_step(std::max(std::fabs(y[i]), std::fabs(skinny[i]))) + 1e-5 * ref_max;
            if (!std::isfinite(y[i]) || std::fabs(double(y[i]) - skinny[i]) > limit) ++off;
            if (y[i] == skinny[i]) ++equal;
          }
          const bool outside = std::all_of(raw.begin() + size_t(m) * n * eb, raw.end(), [](uint8_t b) { return b == 0xFF; });
          const std::string tag = name + (f32 ? " f32" : " bf16") + " m " + std::to_string(m) +
                                  (beta != 0.f ? " beta 0.75" : "") + (cfg < 0 ? "" : " config " + std::to_string(cfg));
          c.expect(tag, compare(y, ref), rel_limit, abs_limit);
          c.expect_true(tag + ": skinny_gemm's result but for f32 summation order", off == 0,
                        std::to_string(off) + " beyond, " + std::to_string(equal) + " of " +
                            std::to_string(int64_t(m) * n) + " equal");
          c.expect_true(tag + ": nothing written past y's m x n", outside);
          if (cfg < 0) {
            // Two more runs: bit-identical (a counter left non-zero would skip or repeat a reduction).
            bool same = true;
            for (int rep = 0; rep < 2; ++rep) {
              fill_y(d_y, m);
              bf16_gemv_bulk(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), f32, m, n, k, beta, d_ws.data(), d_ws.bytes(), 0);
              same = same && download<uint8_t>(d_y, y_elems * eb) == raw;
            }
            c.expect_true(tag + ": repeated runs are bit-identical", same);
          }
        }
      }
    }
  }
  std::printf("info %s: splits for configs 0..%d: %s\n", name.c_str(), bf16_gemv_bulk_configs() - 1, splits_used.c_str());
}

// The engine's wiring: CublasLt::linear runs bf16_gemv_bulk (the same bits) for m <= 8 of a shape handed
// to use_bf16_gemv_bulk, and its own choice otherwise.
void check_cublaslt(Checker& c, std::mt19937& rng) {
  const int n = 4096, k = 4096;
  CublasLt lt;
  const auto x = random_bf16_values(size_t(16) * k, rng);
  auto d_x = upload_bf16(x);
  auto d_w = upload_bf16(random_bf16_values(size_t(n) * k, rng, 0.05f));
  DeviceBuffer d_y(size_t(16) * n * 4), d_y2(size_t(16) * n * 4);
  c.expect_true("CublasLt: a shape not handed over is not served by bf16_gemv_bulk", !lt.uses_bf16_gemv_bulk(1, n, k));
  c.expect_true("CublasLt: use_bf16_gemv_bulk declines 40 x 4096 (n % 16)", !lt.use_bf16_gemv_bulk(40, k));
  c.expect_true("CublasLt: use_bf16_gemv_bulk takes 4096 x 4096", lt.use_bf16_gemv_bulk(n, k));
  DeviceBuffer d_ws(bf16_gemv_bulk_workspace_bytes(n, k, kMaxM));
  PAGODA_CUDA_CHECK(cudaMemset(d_ws.data(), 0, d_ws.bytes()));
  for (GemmOutput out : {GemmOutput::kBf16, GemmOutput::kF32})
    for (int m : {1, 5, 8}) {
      const bool f32 = out == GemmOutput::kF32;
      PAGODA_CUDA_CHECK(cudaMemset(d_y.data(), 0, d_y.bytes()));
      PAGODA_CUDA_CHECK(cudaMemset(d_y2.data(), 0, d_y2.bytes()));
      lt.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), out, m, n, k, 0, 0.5f);
      bf16_gemv_bulk(d_x.as<bf16>(), d_w.as<bf16>(), d_y2.data(), f32, m, n, k, 0.5f, d_ws.data(), d_ws.bytes(), 0);
      const std::string tag = std::string("CublasLt::linear ") + (f32 ? "f32" : "bf16") + " m " + std::to_string(m);
      c.expect_true(tag + ": bf16_gemv_bulk's bits", download<uint8_t>(d_y, d_y.bytes()) == download<uint8_t>(d_y2, d_y2.bytes()));
      c.expect_true(tag + ": kernel_choice 3", lt.kernel_choice(m, n, k, out) == 3);
    }
  lt.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), GemmOutput::kBf16, 9, n, k, 0);
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
  c.expect_true("CublasLt::linear m 9: not bf16_gemv_bulk", lt.kernel_choice(9, n, k, GemmOutput::kBf16) != 3);
}

void check_errors(Checker& c) {
  DeviceBuffer d(1 << 20);
  PAGODA_CUDA_CHECK(cudaMemset(d.data(), 0, d.bytes()));
  const bf16* p = d.as<bf16>();
  expect_refused(c, "bf16_gemv_bulk: a shape never prepared is refused",
                 [&] { bf16_gemv_bulk(p, p, d.data(), false, 1, 48, 96, 0.f, d.data(), d.bytes(), 0); }, "prepare");
  bf16_gemv_bulk_prepare(48, 96);
  expect_refused(c, "bf16_gemv_bulk: m 9 is refused",
                 [&] { bf16_gemv_bulk(p, p, d.data(), false, 9, 48, 96, 0.f, d.data(), d.bytes(), 0); }, "1 <= m <= 8");
  expect_refused(c, "bf16_gemv_bulk: n 40 is refused",
                 [&] { bf16_gemv_bulk(p, p, d.data(), false, 1, 40, 96, 0.f, d.data(), d.bytes(), 0); }, "multiple of 16");
  expect_refused(c, "bf16_gemv_bulk: no workspace is refused",
                 [&] { bf16_gemv_bulk(p, p, d.data(), false, 1, 48, 96, 0.f, nullptr, 0, 0); }, "workspace");
  expect_refused(c, "bf16_gemv_bulk: an unknown config is refused",
                 [&] { bf16_gemv_bulk(p, p, d.data(), false, 1, 48, 96, 0.f, d.data(), d.bytes(), 0, 99); }, "config");
  expect_refused(c, "bf16_gemv_bulk_prepare: k 100 is refused", [&] { bf16_gemv_bulk_prepare(48, 100); }, "multiple of 16 x 32");
}

} // namespace

int main(int argc, char** argv) {
  skip_without_device("bf16_gemv_bulk_test");
  const bool small = argc > 1 && std::strcmp(argv[1], "small") == 0;
  const bool llama_only = argc > 1 && std::strcmp(argv[1], "llama") == 0;
  std::mt19937 rng(2026);
  Checker c;
  try {
    if (!llama_only) {
      check_errors(c);
      check_cublaslt(c, rng);
      // 16 x 640: one tile (k split over idle SMs), 20 units: not a whole number of stages; 272 x 1120:
      // 17 tiles (odd), k not a multiple of 64; 2064 x 2048: 129 tiles, some CTAs walk two; 4096 x 1536
      // and 8192 x 512: several tiles a CTA.
      struct Shape { int n, k; };
      for (const Shape s : {Shape{16, 640}, Shape{272, 1120}, Shape{2064, 2048}, Shape{4096, 1536}, Shape{8192, 512}})
        check_shape(c, std::to_string(s.n) + "x" + std::to_string(s.k), s.n, s.k, rng, true);
    }
    if (!small) {
      // Llama-3-8B's decode GEMMs and lm_head: every config at m 1, the default at every m.
      struct Named { const char* name; int n, k; };
      for (const Named s : {Named{"qkv 6144x4096", 6144, 4096}, Named{"o_proj 4096x4096", 4096, 4096},
                            Named{"gate_up 28672x4096", 28672, 4096}, Named{"down 4096x14336", 4096, 14336},
                            Named{"lm_head 128256x4096", 128256, 4096}})
        check_shape(c, s.name, s.n, s.k, rng, false);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("bf16_gemv_bulk_test");
}
