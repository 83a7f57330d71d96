// Streaming read and copy bandwidth over threads = cores; see memory_bandwidth.h.
#include "bench/memory_bandwidth.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace pagoda {

namespace {

// Sums a slice with 4 independent AVX2 accumulators so the loads, not the adds, bound it.
float read_slice(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float total = 0.0f;
  for (float v : lanes) total += v;
  for (; i < n; ++i) total += p[i];
  return total;
}

template <typename Fn> double timed_parallel(int threads, Fn fn) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(fn, t);
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

} // namespace

BandwidthResult measure_memory_bandwidth(size_t buffer_bytes, int threads, int passes) {
  BandwidthResult r;
  r.threads = std::max(1, threads);
  const size_t n = buffer_bytes / sizeof(float) / 64 * 64;
  r.buffer_bytes = n * sizeof(float);
  std::unique_ptr<float, AlignedFree> src(static_cast<float*>(std::aligned_alloc(64, r.buffer_bytes)));
  std::unique_ptr<float, AlignedFree> dst(static_cast<float*>(std::aligned_alloc(64, r.buffer_bytes)));
  const size_t per = (n / r.threads) / 64 * 64;
  auto slice = [&](int t) { return std::make_pair(per * t, t == r.threads - 1 ? n - per * t : per); };
  // First touch from the threads that will read, so pages land near them.
  timed_parallel(r.threads, [&](int t) {
    auto [off, len] = slice(t);
    for (size_t i = 0; i < len; ++i) src.get()[off + i] = 1.0f;
    std::memset(dst.get() + off, 0, len * sizeof(float));
  });
  std::vector<float> sink(r.threads);
  for (int p = 0; p < passes; ++p) {
    double s = timed_parallel(r.threads, [&](int t) {
      auto [off, len] = slice(t);
      sink[t] += read_slice(src.get() + off, len);
    });
    r.read_gb_per_s = std::max(r.read_gb_per_s, r.buffer_bytes / s / 1e9);
    double c = timed_parallel(r.threads, [&](int t) {
      auto [off, len] = slice(t);
      std::memcpy(dst.get() + off, src.get() + off, len * sizeof(float));
    });
    r.copy_gb_per_s = std::max(r.copy_gb_per_s, 2.0 * r.buffer_bytes / c / 1e9);
  }
  volatile float keep = sink[0] + dst.get()[n / 2];
  (void)keep;
  return r;
}

} // namespace pagoda
