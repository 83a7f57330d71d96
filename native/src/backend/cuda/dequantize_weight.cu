// Quantized weight -> bf16 [n, k] in the checkpoint's input order: the large-m path of the
// int4 and fp8 linears (a bf16 tensor-core GEMM on the result beats streaming once the
// weight is reused by hundreds of rows); or -> float32, exactly, for the float32 compute path.
// One thread per 32-bit word of codes.
#include "backend/cuda/quant_kernels.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

__device__ __forceinline__ float scale_at(const QuantizedWeight& w, int group, int row) {
  const int64_t i = static_cast<int64_t>(group) * w.scale_index.group_stride +
                    static_cast<int64_t>(row >> w.scale_index.row_shift) * w.scale_index.row_stride;
  return w.format == QuantFormat::kInt4 ? __half2float(static_cast<const __half*>(w.scales)[i])
                                        : static_cast<const float*>(w.scales)[i];
}

__device__ __forceinline__ float e4m3_to_float(uint8_t c) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(c, __NV_E4M3)));
}

} // namespace

template <typename Out> __global__ void dequantize_int4_kernel(const QuantizedWeight w, Out* __restrict__ out) {
  pdl_launch_dependents();
  pdl_wait();
  const int chunks = w.k / kQuantChunk;
  const int64_t words = static_cast<int64_t>(w.n) * w.k / 8;
  const uint32_t* packed = static_cast<const uint32_t*>(w.packed);
  // Nibble of (row half, k offset 0..3) in a word (quantized_weight.h).
  constexpr int kPos[2][4] = {{0, 4, 2, 6}, {1, 5, 3, 7}};
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < words; idx += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t word = packed[idx];
    const int s = static_cast<int>(idx & 3), lane = static_cast<int>((idx >> 2) & 31);
    const int64_t tc = idx >> 7; // tile * chunks + chunk
    const int tile = static_cast<int>(tc / chunks), c = static_cast<int>(tc % chunks);
    const int j0 = c * kQuantChunk + 16 * (lane & 3) + 4 * s;
    const int group = j0 / w.group_size;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = tile * 16 + (lane >> 2) + 8 * half;
      const float scale = scale_at(w, group, row);
      const int z = w.zeros ? w.zeros[static_cast<int64_t>(group) * w.n + row] : 8;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int q = static_cast<int>((word >> (4 * kPos[half][e])) & 0xFu);
        const int j = j0 + e;
        const int i = w.perm ? w.perm[j] : j;
        out[static_cast<int64_t>(row) * w.k + i] = static_cast<Out>(static_cast<float>(q - z) * scale);
      }
    }
  }
}

template <typename Out> __global__ void dequantize_fp8_kernel(const QuantizedWeight w, Out* __restrict__ out) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t words = static_cast<int64_t>(w.n) * w.k / 4;
  const uint32_t* packed = static_cast<const uint32_t*>(w.packed);
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < words; idx += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t word = packed[idx];
    const int64_t first = idx * 4;
    const int row = static_cast<int>(first / w.k), col = static_cast<int>(first % w.k);
    const float scale = scale_at(w, col / w.group_size, row);
    const float v0 = e4m3_to_float(word & 0xFF) * scale, v1 = e4m3_to_float((word >> 8) & 0xFF) * scale;
    const float v2 = e4m3_to_float((word >> 16) & 0xFF) * scale, v3 = e4m3_to_float(word >> 24) * scale;
    if constexpr (std::is_same_v<Out, float>) {
      *reinterpret_cast<float4*>(out + first) = make_float4(v0, v1, v2, v3);
    } else {
      reinterpret_cast<__nv_bfloat162*>(out + first)[0] = __floats2bfloat162_rn(v0, v1);
      reinterpret_cast<__nv_bfloat162*>(out + first)[1] = __floats2bfloat162_rn(v2, v3);
    }
  }
}

namespace {

template <typename Out> void launch_dequantize(const QuantizedWeight& w, Out* out, cudaStream_t stream) {
  if (w.n <= 0 || w.n % 16 != 0 || w.k <= 0 || w.k % kQuantChunk != 0 || w.group_size % kQuantChunk != 0)
    throw Error("dequantize_weight: weight shape " + std::to_string(w.n) + " x " + std::to_string(w.k) +
                " is not a multiple of 16 x 64");
  const int64_t words = static_cast<int64_t>(w.n) * w.k / (w.format == QuantFormat::kInt4 ? 8 : 4);
  const int blocks = static_cast<int>(std::min<int64_t>((words + 255) / 256, 132 * 16));
  if (w.format == QuantFormat::kInt4)
    launch_pdl("dequantize_int4_kernel", dequantize_int4_kernel<Out>, dim3(blocks), dim3(256), 0, stream, w, out);
  else
    launch_pdl("dequantize_fp8_kernel", dequantize_fp8_kernel<Out>, dim3(blocks), dim3(256), 0, stream, w, out);
}

} // namespace

void dequantize_weight(const QuantizedWeight& w, bf16* out, cudaStream_t stream) { launch_dequantize(w, out, stream); }
void dequantize_weight(const QuantizedWeight& w, float* out, cudaStream_t stream) { launch_dequantize(w, out, stream); }

} // namespace pagoda::cuda
