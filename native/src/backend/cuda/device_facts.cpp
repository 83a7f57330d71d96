// Facts about the current GPU that benchmark results quote: its name and memory, its
// device-to-device copy bandwidth (the floor beside decode) and its bf16 GEMM rate (the
// ceiling beside prefill), both measured in the same run; and the profiler marks pagoda-bench puts around a run.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/step_timer.h"
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

void cuda_profiler_mark(bool start) { PAGODA_CUDA_CHECK(start ? cudaProfilerStart() : cudaProfilerStop()); }

namespace {

// Median milliseconds of 10 runs of `run` on `stream`, after 3 warm-ups, event-timed.
template <typename Run> double median_ms(cudaStream_t stream, Run&& run) {
  std::vector<float> ms;
  for (int i = 0; i < 13; ++i) {
    const float t = cuda::event_elapsed_ms(stream, run);
    if (i >= 3) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

} // namespace

double cuda_copy_bandwidth_gb_per_s(size_t bytes) {
  using cuda::DeviceBuffer;
  DeviceBuffer src(bytes), dst(bytes);
  cuda::Stream stream;
  PAGODA_CUDA_CHECK(cudaMemsetAsync(src.data(), 1, bytes, stream.get()));
  const double ms = median_ms(stream.get(), [&] {
    PAGODA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
  });
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9;
}

double cuda_gemm_tflops(int m, int n, int k) {
  using cuda::DeviceBuffer;
  DeviceBuffer x(size_t(m) * k * 2), w(size_t(n) * k * 2), y(size_t(m) * n * 2);
  cuda::Stream stream;
  // Random bf16 in [-1, 1), a 1 Mi-value pattern repeated: zeros or a constant would draw less
  // power than real data and run faster.
  std::vector<uint16_t> pattern(size_t(1) << 20);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (uint16_t& v : pattern) {
    const float f = dist(rng);
    uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof bits);
    v = static_cast<uint16_t>(bits >> 16);
  }
  for (DeviceBuffer* buf : {&x, &w}) {
    for (size_t off = 0; off < buf->bytes(); off += pattern.size() * 2) {
      const size_t len = std::min(pattern.size() * 2, buf->bytes() - off);
      PAGODA_CUDA_CHECK(cudaMemcpy(static_cast<char*>(buf->data()) + off, pattern.data(), len, cudaMemcpyHostToDevice));
    }
  }
  cuda::CublasLt gemm;
  const double ms = median_ms(stream.get(), [&] {
    gemm.linear(x.as<__nv_bfloat16>(), w.as<__nv_bfloat16>(), y.data(), cuda::GemmOutput::kBf16, m, n, k,
                stream.get());
  });
  return 2.0 * m * n * k / (ms * 1e-3) / 1e12;
}

} // namespace pagoda
