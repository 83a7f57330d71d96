// Programmatic dependent launch (Hopper): a kernel launched with launch_pdl may start while
// the kernel before it in the stream is still finishing, so its launch and prologue (for a
// GEMV: the first weight loads, which depend on nothing) overlap the previous kernel's tail.
// Every kernel launched this way must call pdl_wait() before it reads anything an earlier
// kernel wrote (and before any early return), and should call pdl_launch_dependents() early
// so the next kernel can be scheduled. Both are no-ops when the kernel is launched plainly.
// What it reads after pdl_wait() must not come through ld.global.nc, which griddepcontrol.wait does not
// order: no __restrict__ on a const pointer such a kernel (or a function it inlines) reads after the wait;
// ctest cuda_pdl_ptx_check (tests/cuda/ptx_pdl_check.py) checks every .cu's PTX for it.
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace pagoda::cuda {

// Blocks until every grid this one depends on has finished and its writes are visible.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Lets the next PDL-launched kernel in the stream begin once every block of this grid has
// called it (or exited).
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// PAGODA_CUDA_PDL=0 launches every kernel plainly (to time what PDL saves).
inline bool pdl_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("PAGODA_CUDA_PDL");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return enabled;
}

// PAGODA_CUDA_CARVEOUT=P (0-100): a measurement switch. The kernels launched here prefer P% of their SM's unified
// L1 / shared memory as shared memory (cudaFuncAttributePreferredSharedMemoryCarveout, set once a kernel); with
// PAGODA_CUDA_CARVEOUT_ONLY=prefix[:prefix...], only those whose launch name starts with one of them. Unset, the
// driver picks each kernel's split from its own needs, and an SM changes its split only once the blocks there have
// left, so PDL's early blocks of the next kernel wait where the splits differ. Session 40 measured P = 100 for every kernel (bf16 +13.9%,
// FP8 +6.3%, GPTQ -0.7% at batch 1 on an H100); this asks for less (a split the decode attention fits) or for fewer.
inline int carveout_preference() {
  static const int percent = [] {
    const char* v = std::getenv("PAGODA_CUDA_CARVEOUT");
    if (v == nullptr || *v == 0) return -1;
    const int p = std::atoi(v);
    return p >= 0 && p <= 100 ? p : -1;
  }();
  return percent;
}
inline void prefer_carveout(const char* name, const void* kernel) {
  const int percent = carveout_preference();
  if (percent < 0) return;
  static const std::string only = [] {
    const char* v = std::getenv("PAGODA_CUDA_CARVEOUT_ONLY");
    return v == nullptr || *v == 0 ? std::string() : ":" + std::string(v) + ":";
  }();
  if (!only.empty()) { // name prefixes separated by colons
    bool listed = false;
    for (size_t b = 1; b < only.size() && !listed; b = only.find(':', b) + 1)
      listed = std::strncmp(name, only.c_str() + b, only.find(':', b) - b) == 0;
    if (!listed) return;
  }
  static std::mutex mutex;
  static std::unordered_set<const void*> done;
  const std::lock_guard<std::mutex> lock(mutex);
  if (!done.insert(kernel).second) return;
  PAGODA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, percent));
}

// kernel<<<grid, block, smem, stream>>>(args...) with the programmatic-serialization attribute and, for
// cluster_x > 1, thread-block clusters of cluster_x CTAs along x; the launch is checked like
// PAGODA_CUDA_CHECK_LAUNCH.
template <typename... KernelArgs, typename... Args>
void launch_pdl_cluster(const char* name, void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem,
                        cudaStream_t stream, int cluster_x, Args&&... args) {
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = pdl_enabled() ? 1 : 0;
  attr[1].id = cudaLaunchAttributeClusterDimension;
  attr[1].val.clusterDim.x = static_cast<unsigned>(cluster_x);
  attr[1].val.clusterDim.y = 1;
  attr[1].val.clusterDim.z = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = cluster_x > 1 ? 2 : 1;
  prefer_carveout(name, reinterpret_cast<const void*>(kernel));
  const cudaError_t status = cudaLaunchKernelEx(&config, kernel, static_cast<KernelArgs>(args)...);
  if (status != cudaSuccess) throw_cuda_error(status, name, __FILE__, __LINE__);
  PAGODA_CUDA_CHECK_LAUNCH("launch_pdl");
}

// The same without clusters.
template <typename... KernelArgs, typename... Args>
void launch_pdl(const char* name, void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem,
                cudaStream_t stream, Args&&... args) {
  launch_pdl_cluster(name, kernel, grid, block, smem, stream, 1, std::forward<Args>(args)...);
}

} // namespace pagoda::cuda
