// Page-locked host memory to the device through a kernel rather than the copy engine. Between the kernels of
// consecutive steps a copy-engine transfer costs two hand-offs between the engines (5-9 us each on the H200 in
// session 13's kernel timeline, against ~3 us for the transfer); a kernel that reads the mapped pages pays one
// PCIe round trip and follows the kernel before it as any kernel does. A step launched ahead of the previous
// step's ids fills its placeholder ids as they land (PlaceholderFill), so no kernel of its own does it after.
// It is launched with PDL: each thread's first chunk (and the tail) crosses PCIe while the kernel before it (the
// previous step's sampler, which triggers its dependents at once) still runs; nothing a kernel writes is read or
// written before griddepcontrol.wait.
#include "backend/cuda/kernels.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

// Word `index` of the copy as it lands: a placeholder (-1 - r) in the fill's range becomes row r of the ids the
// step before sampled (on the device, written by an earlier kernel of this stream).
__device__ __forceinline__ uint32_t landed(uint32_t word, size_t index, const PlaceholderFill& fill) {
  const int32_t id = static_cast<int32_t>(word);
  if (id < 0 && fill.previous_ids != nullptr && index >= fill.begin && index < fill.begin + size_t(fill.count))
    return static_cast<uint32_t>(fill.previous_ids[-1 - id]);
  return word;
}

// 16-byte chunks by every thread of the grid, then the 4-byte words past the last whole chunk.
__global__ void copy_from_host_kernel(uint4* __restrict__ dst, const uint4* src, size_t chunks, uint32_t* tail_dst,
                                      const uint32_t* tail_src, int tail_words, const PlaceholderFill fill) {
  const size_t stride = size_t(gridDim.x) * blockDim.x, first = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  // The mapped pages hold what the host wrote before the launch; no kernel writes them.
  uint4 first_chunk = make_uint4(0u, 0u, 0u, 0u);
  if (first < chunks) first_chunk = src[first];
  const bool tail_thread = blockIdx.x == 0 && static_cast<int>(threadIdx.x) < tail_words;
  const uint32_t tail = tail_thread ? tail_src[threadIdx.x] : 0u;
  pdl_wait(); // fill.previous_ids is the sampler's output; dst may be read by the kernels before
  for (size_t i = first; i < chunks; i += stride) {
    uint4 v = i == first ? first_chunk : src[i];
    if (fill.count > 0 && 4 * i + 4 > fill.begin && 4 * i < fill.begin + size_t(fill.count)) {
      v.x = landed(v.x, 4 * i, fill);
      v.y = landed(v.y, 4 * i + 1, fill);
      v.z = landed(v.z, 4 * i + 2, fill);
      v.w = landed(v.w, 4 * i + 3, fill);
    }
    dst[i] = v;
  }
  if (tail_thread) tail_dst[threadIdx.x] = landed(tail, 4 * chunks + threadIdx.x, fill);
}

} // namespace

void copy_from_host(void* device_dst, const void* mapped_src, size_t bytes, cudaStream_t stream,
                    const PlaceholderFill& fill) {
  if (bytes == 0) return;
  if (bytes % 4 != 0 || reinterpret_cast<uintptr_t>(device_dst) % 16 != 0 || reinterpret_cast<uintptr_t>(mapped_src) % 16 != 0)
    throw Error("copy_from_host: " + std::to_string(bytes) + " bytes: 16-byte aligned ends and whole 4-byte words only");
  if (fill.count < 0 || fill.begin + size_t(fill.count) > bytes / 4)
    throw Error("copy_from_host: placeholder words " + std::to_string(fill.begin) + " + " + std::to_string(fill.count) +
                " lie outside the " + std::to_string(bytes / 4) + " copied");
  constexpr int kThreads = 256;
  const size_t chunks = bytes / 16;
  const int tail_words = static_cast<int>((bytes % 16) / 4);
  const size_t blocks = std::max<size_t>(1, std::min<size_t>((chunks + kThreads - 1) / kThreads, 264));
  launch_pdl("copy_from_host_kernel", copy_from_host_kernel, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0,
             stream, static_cast<uint4*>(device_dst), static_cast<const uint4*>(mapped_src), chunks,
             reinterpret_cast<uint32_t*>(static_cast<char*>(device_dst) + chunks * 16),
             reinterpret_cast<const uint32_t*>(static_cast<const char*>(mapped_src) + chunks * 16), tail_words, fill);
}

} // namespace pagoda::cuda
