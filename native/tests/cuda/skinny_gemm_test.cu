// Checks the decode GEMM (skinny_gemm) against the CPU reference for every row count it
// serves (1..16), widths that leave partial 16-row tiles, k that leaves partial 32-wide chunks
// and partial k slices, both output types, accumulation into y, and no writes past y.
#include "backend/cuda/kernels.h"
#include "test_support.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr size_t kGuard = 64; // poisoned elements after y that must stay untouched

// True when every byte of the guard region after `elems` elements of `elem_bytes` is still 0xFF.
bool guard_intact(const DeviceBuffer& buf, size_t elems, size_t elem_bytes) {
  const auto bytes = download<uint8_t>(buf, (elems + kGuard) * elem_bytes);
  for (size_t i = elems * elem_bytes; i < bytes.size(); ++i)
    if (bytes[i] != 0xFF) return false;
  return true;
}

} // namespace

int main() {
  skip_without_device("skinny_gemm_test");
  std::mt19937 rng(99);
  Checker c;
  try {
    struct Shape { int n, k; };
    // 1000 x 4096: n % 16 = 8; 4104 x 520: k % 32 = 8; 33 x 64: fewer chunks than warps;
    // 1001 x 4104, 37 x 200, 23 x 8: n odd, k = 8 x odd (a lane-partial last chunk).
    const Shape shapes[] = {{1000, 4096}, {4104, 520}, {33, 64}, {1001, 4104}, {37, 200}, {23, 8}};
    for (const Shape& s : shapes) {
      // Rows are independent: one reference for 16 input rows serves every m as its prefix.
      const int max_m = kSkinnyGemmMaxRows;
      const auto x_all = random_bf16_values(size_t(max_m) * s.k, rng);
      const auto w = random_bf16_values(size_t(s.n) * s.k, rng, 0.05f);
      const auto ref_all = ref_linear(x_all, w, max_m, s.n, s.k);
      auto d_w = upload_bf16(w);
      for (int m = 1; m <= max_m; ++m) {
        const std::vector<float> x(x_all.begin(), x_all.begin() + size_t(m) * s.k);
        const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * s.n);
        auto d_x = upload_bf16(x);
        DeviceBuffer d_y16((ref.size() + kGuard) * 2), d_y32((ref.size() + kGuard) * 4);
        poison(d_y16);
        poison(d_y32);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y16.data(), false, m, s.n, s.k, 0.f, 0);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y32.data(), true, m, s.n, s.k, 0.f, 0);
        const std::string shape = "m " + std::to_string(m) + " n " + std::to_string(s.n) + " k " + std::to_string(s.k);
        c.expect("skinny_gemm bf16 out " + shape, compare(download_bf16(d_y16, ref.size()), ref), 6e-3, 5e-2);
        c.expect("skinny_gemm f32 out " + shape, compare(download<float>(d_y32, ref.size()), ref), 1e-5, 1e-4);
        std::vector<double> twice(ref);
        for (double& v : twice) v *= 2;
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y32.data(), true, m, s.n, s.k, 1.f, 0);
        c.expect("skinny_gemm f32 accumulate " + shape, compare(download<float>(d_y32, ref.size()), twice), 1e-5, 2e-4);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y16.data(), false, m, s.n, s.k, 1.f, 0);
        c.expect("skinny_gemm bf16 accumulate " + shape, compare(download_bf16(d_y16, ref.size()), twice), 6e-3, 1e-1);
        c.expect_true("skinny_gemm writes nothing past y " + shape,
                      guard_intact(d_y16, ref.size(), 2) && guard_intact(d_y32, ref.size(), 4));
      }
    }
    bool rejected = false;
    try {
      DeviceBuffer d(1024);
      skinny_gemm(d.as<bf16>(), d.as<bf16>(), d.data(), true, kSkinnyGemmMaxRows + 1, 1, 8, 0.f, 0);
    } catch (const pagoda::Error&) {
      rejected = true;
    }
    c.expect_true("skinny_gemm refuses m = " + std::to_string(kSkinnyGemmMaxRows + 1) + " with an error", rejected);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("skinny_gemm_test");
}
