// Checks the cuBLASLt bf16 GEMM (loaded by dlopen) against the CPU reference for decode- and
// prefill-like shapes, bf16 and f32 outputs, accumulation into y, the per-shape cache, and
// tuned choices (tune at a bucket's m, then every m of the bucket still computes x · w^T), a plan a new m, and
// plans made ahead (prepare).
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
    // Tuning: timed over two weight copies at the bucket's m; whatever wins, every m of the
    // bucket (and one past it, untuned) must still be right, bf16 and f32 out, with beta 1.
    for (const Shape& s : {Shape{8, 1024, 4096}, Shape{48, 768, 512}, Shape{256, 1000, 256}, Shape{800, 1024, 512}}) {
      const int bucket = CublasLt::tune_bucket(s.m);
      c.expect_true("tune_bucket(" + std::to_string(s.m) + ") is " + std::to_string(s.m), bucket == s.m);
      const int rows = s.m + 9;
      auto x = random_bf16_values(size_t(rows) * s.k, rng);
      auto w = random_bf16_values(size_t(s.n) * s.k, rng, 0.05f);
      auto d_x = upload_bf16(x), d_w = upload_bf16(w), d_w2 = upload_bf16(w);
      DeviceBuffer d_y(size_t(rows) * s.n * 4);
      for (GemmOutput out : {GemmOutput::kBf16, GemmOutput::kF32}) {
        const auto timings = gemm.tune(d_x.as<bf16>(), {d_w.as<bf16>(), d_w2.as<bf16>()}, d_y.data(), out, s.m, s.n,
                                       s.k, 0);
        bool all_timed = !timings.empty();
        for (const GemmTiming& t : timings) all_timed = all_timed && t.ms > 0.f;
        c.expect_true("tune times every candidate m " + std::to_string(s.m), all_timed);
        const bool f32 = out == GemmOutput::kF32;
        for (int m : {s.m, s.m - 1, s.m / 2 + 1, s.m + 1}) {
          if (CublasLt::tune_bucket(m) != bucket && m != s.m + 1) continue;
          const auto ref = ref_linear(std::vector<float>(x.begin(), x.begin() + size_t(m) * s.k), w, m, s.n, s.k);
          const std::string name = "tuned (" + std::string(f32 ? "f32" : "bf16") + " out, bucket " +
                                   std::to_string(bucket) + ") m " + std::to_string(m) + " n " + std::to_string(s.n);
          poison(d_y);
          gemm.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), out, m, s.n, s.k, 0);
          if (f32)
            c.expect(name, compare(download<float>(d_y, ref.size()), ref), 1e-4, 1e-3);
          else
            c.expect(name, compare(download_bf16(d_y, ref.size()), ref), 6e-3, 5e-2);
          if (f32) {
            gemm.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), out, m, s.n, s.k, 0, 1.f);
            std::vector<double> twice(ref);
            for (double& v : twice) v *= 2;
            c.expect(name + " accumulate", compare(download<float>(d_y, ref.size()), twice), 1e-4, 2e-3);
          }
        }
      }
    }
    // Tuning over every configuration the library accepts (PAGODA_TUNE_DECODE_EVERY_CONFIG_FROM): more candidates than
    // the heuristic's eight, each timed, and whichever wins (split-K ones among them) still computes x · w^T for
    // every m of the bucket.
    {
      const int m = 160, n = 1024, k = 1024;
      auto x = random_bf16_values(size_t(m) * k, rng);
      auto w = random_bf16_values(size_t(n) * k, rng, 0.05f);
      auto d_x = upload_bf16(x), d_w = upload_bf16(w), d_w2 = upload_bf16(w);
      DeviceBuffer d_y(size_t(m) * n * 2);
      CublasLt every;
      const auto timings = every.tune(d_x.as<bf16>(), {d_w.as<bf16>(), d_w2.as<bf16>()}, d_y.data(), GemmOutput::kBf16,
                                      m, n, k, 0, TuneCandidates::kEveryConfiguration);
      size_t coarse = 0, full = 0;
      bool all_timed = true;
      for (const GemmTiming& t : timings) {
        all_timed = all_timed && t.ms > 0.f;
        (t.kernel.find("(coarse)") != std::string::npos ? coarse : full) += 1;
      }
      c.expect_true("tune over every configuration times more than the heuristic's eight coarsely, the fastest eight "
                    "in full",
                    all_timed && coarse > 8 && full >= 1 && full <= 8,
                    std::to_string(coarse) + " coarse, " + std::to_string(full) + " full");
      for (int rows : {m, m - 3}) {
        const auto ref = ref_linear(std::vector<float>(x.begin(), x.begin() + size_t(rows) * k), w, rows, n, k);
        poison(d_y);
        every.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), GemmOutput::kBf16, rows, n, k, 0);
        c.expect("tuned over every configuration m " + std::to_string(rows),
                 compare(download_bf16(d_y, ref.size()), ref), 6e-3, 5e-2);
      }
    }
    // Each new m of an untuned shape is a plan of its own (a heuristic search), counted with its host time; and
    // prepare() makes each m's plan ahead and runs its configuration once, so the steps after make no plan of their
    // own and still compute x · w^T. A skinny_gemm size is refused.
    {
      const int n = 1000, k = 512, rows = 700;
      auto x = random_bf16_values(size_t(rows) * k, rng);
      auto w = random_bf16_values(size_t(n) * k, rng, 0.05f);
      auto d_x = upload_bf16(x), d_w = upload_bf16(w);
      DeviceBuffer d_y(size_t(rows) * n * 4);
      auto check_m = [&](CublasLt& gemm, int m, const std::string& name) {
        const auto ref = ref_linear(std::vector<float>(x.begin(), x.begin() + size_t(m) * k), w, m, n, k);
        poison(d_y);
        gemm.linear(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), GemmOutput::kBf16, m, n, k, 0);
        c.expect(name + " m " + std::to_string(m), compare(download_bf16(d_y, ref.size()), ref), 6e-3, 5e-2);
      };
      CublasLt fresh;
      for (int m : {300, 333, 384, 385, 640, 700, 333}) check_m(fresh, m, "untuned");
      c.expect_true("a plan a new m (333 twice is one), with its host time",
                    fresh.plans_made() == 6 && fresh.plan_host_seconds() > 0,
                    std::to_string(fresh.plans_made()) + " plans");

      CublasLt ahead;
      const std::vector<int> ms = {300, 333, 384, 385, 640, 700};
      for (int m : ms) ahead.prepare(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), GemmOutput::kBf16, m, n, k, 0);
      const int64_t planned = ahead.plans_made();
      c.expect_true("prepare makes one plan a new m and runs each configuration once",
                    planned == int64_t(ms.size()) && ahead.prepared_kernels() >= 1 &&
                        ahead.prepared_kernels() <= ms.size(),
                    std::to_string(planned) + " plans, " + std::to_string(ahead.prepared_kernels()) + " kernels");
      for (int m : ms) check_m(ahead, m, "prepared");
      c.expect_true("a prepared m makes no plan in the step", ahead.plans_made() == planned,
                    std::to_string(ahead.plans_made()) + " plans");
      bool refused = false;
      try {
        ahead.prepare(d_x.as<bf16>(), d_w.as<bf16>(), d_y.data(), GemmOutput::kBf16, 8, n, k, 0);
      } catch (const std::exception&) {
        refused = true;
      }
      c.expect_true("prepare refuses a skinny_gemm size", refused);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("cublaslt_test");
}
