// Checks the wgmma decode GEMM (decode_gemm_wgmma) against the CPU reference: every token tile from 16 to 256 rows
// and m that leave part of a tile empty; grids from one CTA to one an SM, so tiles are finished alone or from the
// partial sums of several CTAs; the same bits on a second call; the workspace's flags clear after every call;
// calls of different m back to back on one stream (the workspace reused under programmatic dependent launch); no
// writes past y; and the shapes it refuses.
#include <algorithm>
#include <cstring>

#include "backend/cuda/decode_gemm_wgmma.h"
#include "test_support.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr size_t kGuard = 64; // poisoned bf16 after y that must stay untouched

bool guard_intact(const DeviceBuffer& buf, size_t elems) {
  const auto bytes = download<uint8_t>(buf, (elems + kGuard) * 2);
  for (size_t i = elems * 2; i < bytes.size(); ++i)
    if (bytes[i] != 0xFF) return false;
  return true;
}

bool workspace_clear(const DeviceBuffer& ws) {
  const auto bytes = download<uint8_t>(ws, ws.bytes());
  // The flags are the workspace's tail, one unsigned a (CTA, consumer warpgroup).
  int sms = 0;
  PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const size_t flag_bytes = size_t(sms) * 2 * sizeof(unsigned);
  return std::all_of(bytes.end() - static_cast<std::ptrdiff_t>(flag_bytes), bytes.end(), [](uint8_t b) { return b == 0; });
}

} // namespace

int main() {
  skip_without_device("decode_gemm_wgmma_test");
  if (!decode_gemm_wgmma_supports(16, 128, 64, reinterpret_cast<void*>(256), reinterpret_cast<void*>(256),
                                  reinterpret_cast<void*>(256))) {
    std::printf("SKIP decode_gemm_wgmma_test: not an sm_90a build and device\n");
    return 0;
  }
  std::mt19937 rng(2026);
  Checker c;
  try {
    DeviceBuffer ws(decode_gemm_wgmma_workspace_bytes());
    PAGODA_CUDA_CHECK(cudaMemset(ws.data(), 0, ws.bytes()));
    struct Shape { int n, k; std::vector<int> ms; std::vector<int> grids; };
    const Shape shapes[] = {
        {128, 64, {1, 16, 17, 256}, {0, 1}},                                   // one tile, one iteration
        {384, 1024, {1, 9, 16, 24, 33, 64, 100, 128, 136, 200, 255, 256}, {0, 1, 3, 7, 40}},
        {1280, 640, {32, 48, 80, 96, 112, 144, 160, 176, 192, 208, 224, 240}, {0, 6}},
        {4096, 4096, {40, 256}, {0}},                                           // o_proj's shape
        {512, 14336, {136}, {0, 2, 4}},                                         // down's k
    };
    for (const Shape& s : shapes) {
      const int max_m = *std::max_element(s.ms.begin(), s.ms.end());
      const auto x_all = random_bf16_values(size_t(max_m) * s.k, rng);
      const auto w = random_bf16_values(size_t(s.n) * s.k, rng, 0.05f);
      const auto ref_all = ref_linear(x_all, w, max_m, s.n, s.k);
      auto d_w = upload_bf16(w);
      for (int m : s.ms) {
        const std::vector<float> x(x_all.begin(), x_all.begin() + size_t(m) * s.k);
        const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * s.n);
        auto d_x = upload_bf16(x);
        for (int grid : s.grids) {
          DeviceBuffer d_y((ref.size() + kGuard) * 2);
          poison(d_y);
          decode_gemm_wgmma(d_x.as<bf16>(), d_w.as<bf16>(), d_y.as<bf16>(), m, s.n, s.k, ws.data(), 0, grid);
          PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
          const std::string name = "m " + std::to_string(m) + " n " + std::to_string(s.n) + " k " +
                                   std::to_string(s.k) + " grid " + std::to_string(grid);
          const auto first = download<uint16_t>(d_y, ref.size());
          c.expect(name, compare(download_bf16(d_y, ref.size()), ref), 6e-3, 5e-2);
          c.expect_true(name + ": nothing written past y", guard_intact(d_y, ref.size()));
          c.expect_true(name + ": flags clear after the call", workspace_clear(ws));
          decode_gemm_wgmma(d_x.as<bf16>(), d_w.as<bf16>(), d_y.as<bf16>(), m, s.n, s.k, ws.data(), 0, grid);
          PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
          c.expect_true(name + ": same bits on a second call", download<uint16_t>(d_y, ref.size()) == first);
        }
      }
    }

    // Back to back on one stream, no sync between: m 200, m 24 (a light kernel, two an SM), m 200 again over one
    // workspace, each call's tiles split over several CTAs (n 512, k 1024 on 7 CTAs), the next launched while the
    // last finishes.
    {
      const int n = 512, k = 1024, ms[3] = {200, 24, 200};
      const auto x_all = random_bf16_values(size_t(200) * k, rng);
      const auto w = random_bf16_values(size_t(n) * k, rng, 0.05f);
      const auto ref_all = ref_linear(x_all, w, 200, n, k);
      auto d_x = upload_bf16(x_all);
      auto d_w = upload_bf16(w);
      DeviceBuffer y[3] = {DeviceBuffer(size_t(200) * n * 2), DeviceBuffer(size_t(200) * n * 2),
                           DeviceBuffer(size_t(200) * n * 2)};
      for (int rep = 0; rep < 20; ++rep)
        for (int i = 0; i < 3; ++i)
          decode_gemm_wgmma(d_x.as<bf16>(), d_w.as<bf16>(), y[i].as<bf16>(), ms[i], n, k, ws.data(), 0, 7);
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
      for (int i = 0; i < 3; ++i) {
        const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(ms[i]) * n);
        c.expect("back to back, call " + std::to_string(i) + " (m " + std::to_string(ms[i]) + ")",
                 compare(download_bf16(y[i], ref.size()), ref), 6e-3, 5e-2);
      }
      c.expect_true("back to back: flags clear after", workspace_clear(ws));
    }

    // Refusals: shapes the kernel has no tiling for.
    DeviceBuffer a(1 << 20), b(1 << 20), y(1 << 20);
    auto call = [&](int m, int n, int k) {
      return [&, m, n, k] { decode_gemm_wgmma(a.as<bf16>(), b.as<bf16>(), y.as<bf16>(), m, n, k, ws.data(), 0); };
    };
    expect_refused(c, "refuses m 257", call(257, 128, 64), "unsupported shape");
    expect_refused(c, "refuses m 0", call(0, 128, 64), "unsupported shape");
    expect_refused(c, "refuses n 192 (not a multiple of 128)", call(16, 192, 64), "unsupported shape");
    expect_refused(c, "refuses k 96 (not a multiple of 64)", call(16, 128, 96), "unsupported shape");
    expect_refused(c, "refuses a misaligned x",
                   [&] { decode_gemm_wgmma(a.as<bf16>() + 1, b.as<bf16>(), y.as<bf16>(), 16, 128, 64, ws.data(), 0); },
                   "unsupported shape");
  } catch (const std::exception& e) {
    c.expect_true(std::string("no exception: ") + e.what(), false);
  }
  return c.finish("decode_gemm_wgmma_test");
}
