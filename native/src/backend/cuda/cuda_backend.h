// The CUDA backend: weights uploaded once as bf16 (q/k/v and gate/up fused), a bf16 paged KV
// cache, a forward pass of the kernels in kernels.h and cuBLASLt GEMMs on one stream, and
// float32 logits copied back to the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace pagoda {

struct EngineConfig;

// Loads the model named by engine_config and moves it to the current CUDA device.
// Throws pagoda::Error when the model or an option is outside what this backend runs.
// Decode-only steps replay CUDA graphs captured per padded batch size unless enforce_eager
// is set (or the environment has PAGODA_CUDA_GRAPHS=0).
std::unique_ptr<Backend> create_cuda_backend(const EngineConfig& engine_config);

// How many decode graphs a CUDA backend has captured (every padded batch size, at load) and
// how many steps it has replayed from them (0 for any other backend).
size_t cuda_graphs_captured(const Backend& backend);
size_t cuda_graph_replays(const Backend& backend);
// How many steps ran cascade attention (on unless PAGODA_CASCADE_ATTENTION=0; 0 for any other backend).
size_t cuda_cascade_steps(const Backend& backend);
// cuBLASLt plans a CUDA backend has made (one a new GEMM shape) and the host seconds that took (zeros for any
// other backend).
struct CudaGemmPlans {
  int64_t made = 0;
  double host_seconds = 0.0;
};
CudaGemmPlans cuda_gemm_plans(const Backend& backend);

// Device-to-device copy bandwidth of the current GPU, GB/s counting read + write, over two
// buffers of `bytes` each (median of 10 copies).
double cuda_copy_bandwidth_gb_per_s(size_t bytes);
// bf16 GEMM rate of the current GPU through cuBLASLt, TFLOP/s: the median of 10 runs of
// m x n x k (the compute ceiling beside prefill, measured in the same run).
double cuda_gemm_tflops(int m, int n, int k);
// "NVIDIA H100 80GB HBM3 (81079 MiB, 132 SMs, sm_90)" for the current device.
std::string cuda_device_description();
// Marks a measured run for profilers (cudaProfilerStart / Stop): the kernel timeline library
// (tests/cuda/kernel_trace.cpp) writes the marks into its trace so a summary can leave out loading
// and tuning. Nothing happens when no profiler is attached.
void cuda_profiler_mark(bool start);

} // namespace pagoda
