// Facts about the current GPU that benchmark results quote: its name and memory, and its
// device-to-device copy bandwidth (the floor beside decode, measured in the same run).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/stream.h"

namespace pagoda {

std::string cuda_device_description() {
  int device = 0;
  PAGODA_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  PAGODA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return std::string(prop.name) + " (" + std::to_string(prop.totalGlobalMem >> 20) + " MiB, " +
         std::to_string(prop.multiProcessorCount) + " SMs, sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ")";
}

double cuda_copy_bandwidth_gb_per_s(size_t bytes) {
  using cuda::DeviceBuffer;
  DeviceBuffer src(bytes), dst(bytes);
  cuda::Stream stream;
  PAGODA_CUDA_CHECK(cudaMemsetAsync(src.data(), 1, bytes, stream.get()));
  cudaEvent_t start = nullptr, stop = nullptr;
  PAGODA_CUDA_CHECK(cudaEventCreate(&start));
  PAGODA_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> ms;
  for (int i = 0; i < 13; ++i) { // 3 warm-ups, then the median of 10
    PAGODA_CUDA_CHECK(cudaEventRecord(start, stream.get()));
    PAGODA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
    PAGODA_CUDA_CHECK(cudaEventRecord(stop, stream.get()));
    PAGODA_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    PAGODA_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    if (i >= 3) ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  return 2.0 * static_cast<double>(bytes) / (median * 1e-3) / 1e9;
}

} // namespace pagoda
