// GEMMs through cuBLASLt, loaded with dlopen at run time (the build machine has no cuBLAS):
// y[m, n] = x[m, k] · w[n, k]^T, f32 accumulation; bf16 inputs with output bf16 or f32, or
// all float32 (the float32 compute path: CUBLAS_COMPUTE_32F, no TF32). The algorithm the
// heuristic picks is cached per (m, n, k, input and output type); for bf16 with decode-sized
// m the first call also times the skinny_gemm kernel against it and keeps the faster. The
// workspace is owned here.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "backend/cuda/device_buffer.h"

namespace pagoda::cuda {

struct CublasLtApi; // the resolved entry points (cublaslt.cpp)

enum class GemmOutput { kBf16, kF32 };

class CublasLt {
public:
  explicit CublasLt(size_t workspace_bytes = 32u << 20);
  ~CublasLt();
  CublasLt(const CublasLt&) = delete;
  CublasLt& operator=(const CublasLt&) = delete;

  // x: [m, k] row-major bf16; w: [n, k] row-major bf16 (a PyTorch Linear weight);
  // y: [m, n] row-major, bf16 or f32 as `output` says. beta = 1 adds into y.
  void linear(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput output, int m,
              int n, int k, cudaStream_t stream, float beta = 0.f);
  // The same with x, w and y all float32, in full float32 arithmetic (cuBLASLt only).
  void linear(const float* x, const float* w, float* y, int m, int n, int k, cudaStream_t stream,
              float beta = 0.f);

  // Which kernel serves a shape already seen: 0 not timed yet, 1 cuBLASLt, 2 skinny_gemm;
  // -1 for a shape never seen (benchmarks print it).
  int kernel_choice(int m, int n, int k, GemmOutput output) const;

  // Where the library came from (for logs): the path or name dlopen accepted.
  static const char* library_name();

private:
  struct Plan;
  Plan& plan_for(int m, int n, int k, GemmOutput output, bool f32_inputs = false);
  void run_cublaslt(const Plan& plan, const void* x, const void* w, void* y, cudaStream_t stream, float beta);
  bool skinny_is_faster(const Plan& plan, const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput output,
                        int m, int n, int k, cudaStream_t stream);

  const CublasLtApi& api_;
  void* handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<std::tuple<int, int, int, int, bool>, std::unique_ptr<Plan>> plans_; // m, n, k, output, f32 inputs
};

} // namespace pagoda::cuda
