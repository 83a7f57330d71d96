// Page-locked host memory to the device through a kernel rather than the copy engine. Between the kernels of
// consecutive steps a copy-engine transfer costs two hand-offs between the engines (5-9 us each on the H200 in
// session 13's kernel timeline, against ~3 us for the transfer); a kernel that reads the mapped pages pays one
// PCIe round trip and follows the kernel before it as any kernel does.
#include "backend/cuda/kernels.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

// 16-byte chunks by every thread of the grid, then the 4-byte words past the last whole chunk.
__global__ void copy_from_host_kernel(uint4* __restrict__ dst, const uint4* src, size_t chunks, uint32_t* tail_dst,
                                      const uint32_t* tail_src, int tail_words) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < chunks; i += stride) dst[i] = src[i];
  if (blockIdx.x == 0 && static_cast<int>(threadIdx.x) < tail_words) tail_dst[threadIdx.x] = tail_src[threadIdx.x];
}

} // namespace

void copy_from_host(void* device_dst, const void* mapped_src, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return;
  if (bytes % 4 != 0 || reinterpret_cast<uintptr_t>(device_dst) % 16 != 0 || reinterpret_cast<uintptr_t>(mapped_src) % 16 != 0)
    throw Error("copy_from_host: " + std::to_string(bytes) + " bytes: 16-byte aligned ends and whole 4-byte words only");
  constexpr int kThreads = 256;
  const size_t chunks = bytes / 16;
  const int tail_words = static_cast<int>((bytes % 16) / 4);
  const size_t blocks = std::max<size_t>(1, std::min<size_t>((chunks + kThreads - 1) / kThreads, 264));
  copy_from_host_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<uint4*>(device_dst), static_cast<const uint4*>(mapped_src), chunks,
      reinterpret_cast<uint32_t*>(static_cast<char*>(device_dst) + chunks * 16),
      reinterpret_cast<const uint32_t*>(static_cast<const char*>(mapped_src) + chunks * 16), tail_words);
  PAGODA_CUDA_CHECK_LAUNCH("copy_from_host_kernel");
}

} // namespace pagoda::cuda
