// Checks the cuBLASLt bf16 GEMM (loaded by dlopen) against the CPU reference for decode- and
// prefill-like shapes, bf16 and f32 outputs, accumulation into y, and the per-shape cache.
#include "backend/cuda/cublaslt.h"
#include "test_support.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

int main() {
  skip_without_device("cublaslt_test");
  std::mt19937 rng(7);
  Checker c;
  try {
    CublasLt gemm;
    std::printf("cuBLASLt loaded from %s\n", CublasLt::library_name());
    struct Shape { int m, n, k; };
    for (const Shape& s : {Shape{1, 1024, 4096}, Shape{7, 768, 512}, Shape{64, 512, 1024}, Shape{300, 1000, 256},
                           Shape{1, 1000, 64}}) {
      auto x = random_bf16_values(size_t(s.m) * s.k, rng);
      auto w = random_bf16_values(size_t(s.n) * s.k, rng, 0.05f);
      const auto ref = ref_linear(x, w, s.m, s.n, s.k);
      auto d_x = upload_bf16(x), d_w = upload_bf16(w);
      const std::string shape = "m " + std::to_string(s.m) + " n " + std::to_string(s.n) + " k " + std::to_string(s.k);
      DeviceBuffer d_y16(size_t(s.m) * s.n * 2), d_y32(size_t(s.m) * s.n * 4);
      poison(d_y16);
      poison(d_y32);
      gemm.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y16.data(), GemmOutput::kBf16, s.m, s.n, s.k, 0);
      gemm.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y32.data(), GemmOutput::kF32, s.m, s.n, s.k, 0);
      c.expect("linear bf16 out " + shape, compare(download_bf16(d_y16, ref.size()), ref), 6e-3, 5e-2);
      c.expect("linear f32 out " + shape, compare(download<float>(d_y32, ref.size()), ref), 1e-4, 1e-3);
      // beta = 1: y += x w^T (second run hits the cached plan).
      gemm.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y32.data(), GemmOutput::kF32, s.m, s.n, s.k, 0, 1.f);
      std::vector<double> twice(ref);
      for (double& v : twice) v *= 2;
      c.expect("linear f32 accumulate " + shape, compare(download<float>(d_y32, ref.size()), twice), 1e-4, 2e-3);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("cublaslt_test");
}
