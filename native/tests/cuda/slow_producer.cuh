// The kernel before a kernel under test in a PDL chain, made slow (pdl_chain_test, quant_gemm_test): it lets its
// dependent start at once, then spins about `cycles` before it writes dst, so a dependent that reads dst before (or
// around) its griddepcontrol.wait sees the old data.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/pdl.cuh"

namespace pagoda::cuda {

static __global__ void slow_producer_kernel(const __nv_bfloat16* src, __nv_bfloat16* dst, int64_t count,
                                            long long cycles) {
  pdl_launch_dependents();
  pdl_wait();
  const long long t0 = clock64();
  while (clock64() - t0 < cycles) {
  }
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

} // namespace pagoda::cuda
