// The GPU's primitives for the bulk-copy decode GEMV kernels (bulk_gemv_ring.cuh and the kernels over it):
// CUDA's own, mma.cuh, pdl.cuh and wgmma.cuh's, named in namespace bulk_ring; the host emulations provide their own.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/wgmma.cuh"

#define BULK_DEVICE __device__ __forceinline__
#define BULK_KERNEL(threads, min_blocks) __global__ void __launch_bounds__(threads, min_blocks)
#define BULK_DYNAMIC_SMEM(name) extern __shared__ __align__(128) unsigned char name[]

namespace pagoda::cuda::bulk_ring {
using cuda::bulk_copy_g2s;
using cuda::mbarrier_arrive;
using cuda::mbarrier_arrive_expect_tx;
using cuda::mbarrier_init;
using cuda::mbarrier_init_fence;
using cuda::mbarrier_wait;
using cuda::mma_bf16_16816;
using cuda::named_barrier_sync;
using cuda::pdl_launch_dependents;
using cuda::pdl_wait;
__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
} // namespace pagoda::cuda::bulk_ring
