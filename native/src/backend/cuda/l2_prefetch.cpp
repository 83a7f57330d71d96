// plan_l2_prefetch: how many CTAs of a decode GEMV prefetch their weights into L2, and how far (l2_prefetch.h).
#include "backend/cuda/l2_prefetch.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/quant_kernels.h"

namespace pagoda::cuda {

namespace {

// H200 / H100: 50 MB of L2. The windows before a GEMV (a norm ~3.5 us, attention ~8 us) move ~15-35 MB at
// ~4.2 TB/s; a budget past what the window moves only holds L2 lines longer.
constexpr int64_t kL2PrefetchDefaultMb = 16;

int64_t budget_bytes() {
  static const int64_t bytes = [] {
    const char* v = std::getenv("PAGODA_L2_PREFETCH_MB");
    const int64_t mb = (v == nullptr || *v == 0) ? kL2PrefetchDefaultMb : std::max<int64_t>(0, std::atoll(v));
    return mb << 20;
  }();
  return bytes;
}

bool prefetch_all() {
  static const bool all = [] {
    const char* v = std::getenv("PAGODA_L2_PREFETCH_ALL");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return all;
}

// CTAs of kernel resident on one SM (registers, shared memory, launch bounds), asked once a kernel.
int resident_per_sm(const void* kernel, int threads) {
  static std::mutex mutex;
  static std::unordered_map<const void*, int> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto found = cache.find(kernel);
  if (found != cache.end()) return found->second;
  int blocks = 0;
  PAGODA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, 0));
  cache.emplace(kernel, blocks);
  return blocks;
}

} // namespace

L2Prefetch plan_l2_prefetch(const void* kernel, int threads, int grid, int runs, int64_t run_bytes) {
  L2Prefetch pf;
  if (grid <= 0 || runs <= 0 || run_bytes <= 0) return pf;
  if (prefetch_all()) {
    pf.ctas = grid;
    pf.bytes = static_cast<uint32_t>(std::min<int64_t>(run_bytes, INT32_MAX));
    return pf;
  }
  const int64_t budget = budget_bytes();
  if (budget == 0) return pf;
  const int64_t ctas = std::min<int64_t>(grid, int64_t(resident_per_sm(kernel, threads)) * device_sm_count());
  if (ctas <= 0) return pf;
  const int64_t per_run = std::min<int64_t>(run_bytes, budget / (ctas * runs)) & ~int64_t(15);
  if (per_run < 256) return pf; // fewer bytes than a few lines: not worth an instruction
  pf.ctas = static_cast<int>(ctas);
  pf.bytes = static_cast<uint32_t>(per_run);
  return pf;
}

} // namespace pagoda::cuda
