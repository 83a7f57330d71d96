// Checks the decode GEMM (skinny_gemm) against the CPU reference for every row count it
// serves, widths that leave partial warps and partial unrolled chunks, both output types and
// accumulation into y.
#include "backend/cuda/kernels.h"
#include "test_support.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

int main() {
  skip_without_device("skinny_gemm_test");
  std::mt19937 rng(99);
  Checker c;
  try {
    struct Shape { int n, k; };
    for (const Shape& s : {Shape{1000, 4096}, Shape{4104, 520}, Shape{33, 64}}) {
      for (int m = 1; m <= kSkinnyGemmMaxRows; ++m) {
        auto x = random_bf16_values(size_t(m) * s.k, rng);
        auto w = random_bf16_values(size_t(s.n) * s.k, rng, 0.05f);
        const auto ref = ref_linear(x, w, m, s.n, s.k);
        auto d_x = upload_bf16(x), d_w = upload_bf16(w);
        DeviceBuffer d_y16(ref.size() * 2), d_y32(ref.size() * 4);
        poison(d_y16);
        poison(d_y32);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y16.data(), false, m, s.n, s.k, 0.f, 0);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y32.data(), true, m, s.n, s.k, 0.f, 0);
        const std::string shape = "m " + std::to_string(m) + " n " + std::to_string(s.n) + " k " + std::to_string(s.k);
        c.expect("skinny_gemm bf16 out " + shape, compare(download_bf16(d_y16, ref.size()), ref), 6e-3, 5e-2);
        c.expect("skinny_gemm f32 out " + shape, compare(download<float>(d_y32, ref.size()), ref), 1e-5, 1e-4);
        skinny_gemm(d_x.as<bf16>(), d_w.as<bf16>(), d_y32.data(), true, m, s.n, s.k, 1.f, 0);
        std::vector<double> twice(ref);
        for (double& v : twice) v *= 2;
        c.expect("skinny_gemm f32 accumulate " + shape, compare(download<float>(d_y32, ref.size()), twice), 1e-5, 2e-4);
      }
    }
    bool rejected = false;
    try {
      DeviceBuffer d(64);
      skinny_gemm(d.as<bf16>(), d.as<bf16>(), d.data(), true, 9, 1, 8, 0.f, 0);
    } catch (const pagoda::Error&) {
      rejected = true;
    }
    c.expect_true("skinny_gemm refuses m > 8 with an error", rejected);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("skinny_gemm_test");
}
