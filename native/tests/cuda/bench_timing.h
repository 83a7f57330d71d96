// Event timing shared by the CUDA kernel benchmarks (kernel_bench, quant_kernel_bench): the median
// of repeated runs on the default stream.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "backend/cuda/cuda_check.h"

namespace pagoda::cuda::test {

// Median milliseconds of `reps` runs after `warmup`, timed with events around each run; run(i) gets the
// run's index, warm-up runs included (a benchmark rotating over buffers uses it).
inline double median_ms(const std::function<void(int)>& run, int warmup = 3, int reps = 20) {
  for (int i = 0; i < warmup; ++i) run(i);
  struct Events {
    cudaEvent_t a = nullptr, b = nullptr;
    ~Events() {
      if (a != nullptr) cudaEventDestroy(a);
      if (b != nullptr) cudaEventDestroy(b);
    }
  } ev;
  PAGODA_CUDA_CHECK(cudaEventCreate(&ev.a));
  PAGODA_CUDA_CHECK(cudaEventCreate(&ev.b));
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    PAGODA_CUDA_CHECK(cudaEventRecord(ev.a));
    run(warmup + i);
    PAGODA_CUDA_CHECK(cudaEventRecord(ev.b));
    PAGODA_CUDA_CHECK(cudaEventSynchronize(ev.b));
    float ms = 0;
    PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.a, ev.b));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

} // namespace pagoda::cuda::test
