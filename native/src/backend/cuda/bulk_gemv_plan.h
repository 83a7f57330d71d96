// The host side the bulk-copy decode GEMVs share (bf16_gemv_bulk.cu, quant_gemv_bulk.cu): the workspace's
// split counters, a launch plan from the occupancy query and bulk_splits.h, the plan cache, the default ring.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "backend/cuda/bulk_splits.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/quant_kernels.h"
#include "error.h"

namespace pagoda::cuda::bulk_plan {

// One split counter per tile at the workspace's start, so no call's partials overwrite the counters.
constexpr size_t kCounterBytes = 64 * 1024;
constexpr int kMaxTiles = static_cast<int>(kCounterBytes / sizeof(int));

// A kernel (a KernelInfo with fn, threads and smem) and its launch for one weight shape.
template <typename KernelInfo> struct BulkPlan {
  KernelInfo kernel{};
  int grid = 0, items = 0, splits = 1, stages_per_tile = 0;
};

// The plan of `tiles` tiles of `stages_per_tile` stages: the occupancy query's resident CTAs and the
// split of bulk_gemv_splits. max_carveout: ask for all of the SM's unified memory as shared memory.
// name prefixes the errors.
template <typename KernelInfo>
BulkPlan<KernelInfo> make_plan(const char* name, const KernelInfo& kernel, int tiles, int stages_per_tile, bool max_carveout) {
  BulkPlan<KernelInfo> p;
  p.kernel = kernel;
  PAGODA_CUDA_CHECK(cudaFuncSetAttribute(p.kernel.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, int(p.kernel.smem)));
  if (max_carveout)
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(p.kernel.fn, cudaFuncAttributePreferredSharedMemoryCarveout,
                                           int(cudaSharedmemCarveoutMaxShared)));
  int per_sm = 0;
  PAGODA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, p.kernel.fn, p.kernel.threads, p.kernel.smem));
  if (per_sm < 1) throw Error(std::string(name) + ": the kernel does not fit an SM");
  const int64_t slots = int64_t(per_sm) * device_sm_count();
  p.stages_per_tile = stages_per_tile;
  p.splits = bulk_gemv_splits(tiles, p.stages_per_tile, slots);
  p.items = tiles * p.splits;
  p.grid = static_cast<int>(std::min<int64_t>(p.items, slots));
  return p;
}

// A call's walk in the kernel's arguments (bf16_bulk::Args, gemv_bulk::BulkArgs): the plan's items and
// split, the output and the workspace's counters (at its start) and partials (when it splits).
template <typename Args, typename Plan, typename Out>
void set_walk(Args& args, const Plan& p, Out* y, int ldy, int m, float beta, unsigned char* workspace, unsigned char* partials) {
  args.y = y;
  args.ldy = ldy;
  args.m = m;
  args.beta = beta;
  args.items = p.items;
  args.splits = p.splits;
  args.stages_per_tile = p.stages_per_tile;
  args.counters = reinterpret_cast<int*>(workspace);
  args.partials = p.splits > 1 ? reinterpret_cast<float*>(partials) : nullptr;
}

// Plans by key, made at load (make_plan sets a function attribute, which must not happen inside a
// graph capture) and looked up by each call.
template <typename Key, typename P> class PlanCache {
 public:
  template <typename Make> void ensure(const Key& key, Make&& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (plans_.find(key) == plans_.end()) plans_.emplace(key, make());
  }
  bool find(const Key& key, P& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(key);
    if (it == plans_.end()) return false;
    out = it->second;
    return true;
  }

 private:
  std::mutex mutex_;
  std::map<Key, P> plans_;
};

// The ring config environment variable `var` names (a device run measures the engine with the
// config the kernel bench found fastest), else 0; callers read it once.
inline int config_from_env(const char* var, int configs) {
  const char* v = std::getenv(var);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const long c = std::strtol(v, &end, 10);
  if (*end != '\0' || c < 0 || c >= configs)
    throw Error(std::string(var) + "=" + v + ": a config 0.." + std::to_string(configs - 1));
  return static_cast<int>(c);
}

// config, or (-1) default_config()'s; name prefixes the error.
inline int config_or(const char* name, int config, int configs, int (*default_config)()) {
  if (config < -1 || config >= configs) throw Error(std::string(name) + ": config must be 0.." + std::to_string(configs - 1));
  return config < 0 ? default_config() : config;
}

} // namespace pagoda::cuda::bulk_plan
