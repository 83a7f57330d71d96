// SwiGLU activation: out = silu(gate) * up from the fused gate_up projection [T, 2*I], in
// bf16 or float32 (the float32 compute path); for W8A8 down projections the bf16 output can leave
// fake-quantized from the float32 product (fp8_fuse.cuh; one block a token then).
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/fp8_fuse.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

// Eight elements per thread and step (16-byte bf16 / 32-byte float32 accesses). kInterleaved: gate_up's
// columns interleaved by 8 (skinny_gemm_silu's weight order, a GEMM past its rows): output vector c of a row
// reads the gate vector at 16-column block c and the up vector beside it; else gate, then up.
template <typename T, bool kInterleaved = false>
__global__ void silu_mul_kernel(const T* gate_up, T* __restrict__ out, int64_t total_vectors,
                                int vectors_per_row) {
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total_vectors;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / vectors_per_row;
    const int64_t col = i % vectors_per_row;
    const T* in_row = gate_up + row * 2 * vectors_per_row * 8;
    const T* gate = kInterleaved ? in_row + col * 16 : in_row + col * 8;
    const T* up = kInterleaved ? gate + 8 : in_row + (vectors_per_row + col) * 8;
    float g[8], u[8], y[8];
    load8(gate, g);
    load8(up, u);
#pragma unroll
    for (int e = 0; e < 8; ++e) y[e] = g[e] / (1.f + __expf(-g[e])) * u[e];
    store8(out + i * 8, y);
  }
}

// One element per thread, for intermediate sizes that are not a multiple of 8 (small models).
template <typename T>
__global__ void silu_mul_scalar_kernel(const T* gate_up, T* __restrict__ out, int64_t total,
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

// One block a token: silu(gate) * up in float32, stored fake-quantized (store_row_fp8 holds or recomputes
// the row). kInterleaved: gate_up's columns interleaved by 8, as silu_mul_kernel<T, true> reads them.
template <Fp8Fuse kFuse, bool kInterleaved = false>
__global__ void silu_mul_fp8_kernel(const bf16* gate_up, bf16* __restrict__ out, int intermediate) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  const bf16* in_row = gate_up + row * 2 * intermediate;
  store_row_fp8<kFuse>(out + row * intermediate, intermediate, [&](int i, float (&y)[8]) {
    const bf16* gate = kInterleaved ? in_row + 2 * i : in_row + i;
    const bf16* up = kInterleaved ? gate + 8 : in_row + intermediate + i;
    float g[8], u[8];
    load8(gate, g);
    load8(up, u);
#pragma unroll
    for (int e = 0; e < 8; ++e) y[e] = g[e] / (1.f + __expf(-g[e])) * u[e];
  });
}

// silu_mul_fp8_finish: block (c, t) takes 8 columns a thread of token t from column c * blockDim.x * 8. Every
// block reduces the token's partial maxima itself (a few KB from L2, loaded beside its products), so no block
// waits for another; max is exact in any order, so s is store_row_fp8's.
__global__ void __launch_bounds__(256) silu_mul_fp8_finish_kernel(const float* staged, int parts,
                                                                   bf16* __restrict__ out, int intermediate) {
  pdl_wait();
  pdl_launch_dependents();
  const int t = blockIdx.y, i = (blockIdx.x * blockDim.x + threadIdx.x) * 8;
  const float* maxima = staged + int64_t(8) * intermediate + int64_t(t) * parts;
  float y[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  if (i < intermediate) load8(staged + int64_t(t) * intermediate + i, y);
  // The first kHeld maxima a thread all in flight at once (a plain loop paid one L2 round trip each: 7 at
  // Llama-3-8B's 1,792 parts), the rest, if any, after.
  constexpr int kHeld = 8;
  float held[kHeld];
#pragma unroll
  for (int j = 0; j < kHeld; ++j) {
    const int p = threadIdx.x + j * blockDim.x;
    held[j] = p < parts ? maxima[p] : 0.f;
  }
  float amax = 0.f;
#pragma unroll
  for (int j = 0; j < kHeld; ++j) amax = fmaxf(amax, held[j]);
  for (int p = threadIdx.x + kHeld * blockDim.x; p < parts; p += blockDim.x) amax = fmaxf(amax, maxima[p]);
  const float s = fp8_scale(block_max(amax));
  if (i >= intermediate) return;
  store8_fake_quant(out + int64_t(t) * intermediate + i, y, s);
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

// A silu_mul_fp8_kernel: one block a token, with threads for one pass over the row where it fits (8 columns
// each, a multiple of 32, <= 1024).
void launch_silu_mul_fp8(void (*kernel)(const bf16*, bf16*, int), const bf16* gate_up, bf16* out, int num_tokens,
                         int intermediate, cudaStream_t stream) {
  if (num_tokens == 0) return;
  const int threads = std::min(1024, ((intermediate / 8 + 31) / 32) * 32);
  launch_pdl("silu_mul_fp8_kernel", kernel, dim3(num_tokens), dim3(threads), 0, stream, gate_up, out, intermediate);
}

} // namespace

void silu_mul_interleaved(const bf16* gate_up, bf16* out, int num_tokens, int intermediate, cudaStream_t stream) {
  if (intermediate % 8 != 0)
    throw Error("silu_mul_interleaved: the intermediate size " + std::to_string(intermediate) +
                " is not a multiple of 8");
  constexpr int kThreads = 256;
  const int64_t total = static_cast<int64_t>(num_tokens) * (intermediate / 8);
  if (total == 0) return;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 132 * 16);
  launch_pdl("silu_mul_kernel", silu_mul_kernel<bf16, true>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0,
             stream, gate_up, out, total, intermediate / 8);
}

void interleave_gate_up_rows(bf16* w, int intermediate, int k, void* scratch, cudaStream_t stream) {
  if (intermediate % 8 != 0)
    throw Error("interleave_gate_up_rows: the intermediate size " + std::to_string(intermediate) +
                " is not a multiple of 8");
  const size_t row = static_cast<size_t>(k) * sizeof(bf16), bytes = 2 * static_cast<size_t>(intermediate) * row;
  PAGODA_CUDA_CHECK(cudaMemcpyAsync(scratch, w, bytes, cudaMemcpyDeviceToDevice, stream));
  const auto* src = static_cast<const unsigned char*>(scratch);
  auto* dst = reinterpret_cast<unsigned char*>(w);
  // Blocks of 8 gate rows to rows 16b.., blocks of 8 up rows to rows 16b + 8..
  for (int part = 0; part < 2; ++part)
    PAGODA_CUDA_CHECK(cudaMemcpy2DAsync(dst + part * 8 * row, 16 * row, src + part * intermediate * row, 8 * row,
                                        8 * row, intermediate / 8, cudaMemcpyDeviceToDevice, stream));
}

void silu_mul(const bf16* gate_up, bf16* out, int num_tokens, int intermediate, cudaStream_t stream) {
  launch_silu_mul(gate_up, out, num_tokens, intermediate, stream);
}
void silu_mul(const float* gate_up, float* out, int num_tokens, int intermediate, cudaStream_t stream) {
  launch_silu_mul(gate_up, out, num_tokens, intermediate, stream);
}
void silu_mul_interleaved(const bf16* gate_up, bf16* out, int num_tokens, int intermediate, cudaStream_t stream,
                          Fp8Fuse fuse) {
  if (fuse == Fp8Fuse::kNone) return silu_mul_interleaved(gate_up, out, num_tokens, intermediate, stream);
  if (fuse != Fp8Fuse::kPerToken || intermediate % 8 != 0)
    throw Error("silu_mul_interleaved: fp8 activations per token on an intermediate size that is a multiple of 8");
  launch_silu_mul_fp8(silu_mul_fp8_kernel<Fp8Fuse::kPerToken, true>, gate_up, out, num_tokens, intermediate, stream);
}

void silu_mul_fp8_finish(const float* staged, int parts, bf16* out, int num_tokens, int intermediate,
                         cudaStream_t stream) {
  if (num_tokens < 1 || num_tokens > 8 || intermediate % 8 != 0 || parts < 1)
    throw Error("silu_mul_fp8_finish: 1..8 tokens and an intermediate size that is a multiple of 8");
  constexpr int kThreads = 256;
  const int blocks = (intermediate / 8 + kThreads - 1) / kThreads;
  launch_pdl("silu_mul_fp8_finish_kernel", silu_mul_fp8_finish_kernel, dim3(blocks, num_tokens), dim3(kThreads), 0,
             stream, staged, parts, out, intermediate);
}

void silu_mul(const bf16* gate_up, bf16* out, int num_tokens, int intermediate, cudaStream_t stream, Fp8Fuse fuse) {
  if (fuse == Fp8Fuse::kNone) return launch_silu_mul(gate_up, out, num_tokens, intermediate, stream);
  if (intermediate % (fuse == Fp8Fuse::kGroup128 ? 128 : 8) != 0)
    throw Error("silu_mul: fp8 activations need an intermediate size that is a multiple of " +
                std::string(fuse == Fp8Fuse::kGroup128 ? "128" : "8") + ", not " + std::to_string(intermediate));
  launch_silu_mul_fp8(fuse == Fp8Fuse::kPerToken ? silu_mul_fp8_kernel<Fp8Fuse::kPerToken>
                                                 : silu_mul_fp8_kernel<Fp8Fuse::kGroup128>,
                     gate_up, out, num_tokens, intermediate, stream);
}

} // namespace pagoda::cuda
