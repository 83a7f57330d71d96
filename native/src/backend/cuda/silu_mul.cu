// SwiGLU activation: out = silu(gate) * up from the fused gate_up projection [T, 2*I], in
// bf16 or float32 (the float32 compute path).
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

// Eight elements per thread and step (16-byte bf16 / 32-byte float32 accesses).
template <typename T>
__global__ void silu_mul_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int64_t total_vectors,
                                int vectors_per_row) {
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total_vectors;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / vectors_per_row;
    const int64_t col = i % vectors_per_row;
    const T* in_row = gate_up + row * 2 * vectors_per_row * 8;
    float g[8], u[8], y[8];
    load8(in_row + col * 8, g);
    load8(in_row + (vectors_per_row + col) * 8, u);
#pragma unroll
    for (int e = 0; e < 8; ++e) y[e] = g[e] / (1.f + __expf(-g[e])) * u[e];
    store8(out + i * 8, y);
  }
}

// One element per thread, for intermediate sizes that are not a multiple of 8 (small models).
template <typename T>
__global__ void silu_mul_scalar_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int64_t total,
                                       int intermediate) {
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / intermediate, col = i % intermediate;
    const float g = to_float(gate_up[row * 2 * intermediate + col]);
    const float u = to_float(gate_up[row * 2 * intermediate + intermediate + col]);
    out[i] = from_float<T>(g / (1.f + __expf(-g)) * u);
  }
}

namespace {

template <typename T>
void launch_silu_mul(const T* gate_up, T* out, int num_tokens, int intermediate, cudaStream_t stream) {
  constexpr int kThreads = 256;
  if (intermediate % 8 != 0) {
    const int64_t total = static_cast<int64_t>(num_tokens) * intermediate;
    if (total == 0) return;
    const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 132 * 16);
    launch_pdl("silu_mul_scalar_kernel", silu_mul_scalar_kernel<T>, dim3(static_cast<unsigned>(blocks)),
               dim3(kThreads), 0, stream, gate_up, out, total, intermediate);
    return;
  }
  const int64_t total = static_cast<int64_t>(num_tokens) * (intermediate / 8);
  if (total == 0) return;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 132 * 16);
  launch_pdl("silu_mul_kernel", silu_mul_kernel<T>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, stream,
             gate_up, out, total, intermediate / 8);
}

} // namespace

void silu_mul(const bf16* gate_up, bf16* out, int num_tokens, int intermediate, cudaStream_t stream) {
  launch_silu_mul(gate_up, out, num_tokens, intermediate, stream);
}
void silu_mul(const float* gate_up, float* out, int num_tokens, int intermediate, cudaStream_t stream) {
  launch_silu_mul(gate_up, out, num_tokens, intermediate, stream);
}

} // namespace pagoda::cuda
