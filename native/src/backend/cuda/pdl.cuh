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
