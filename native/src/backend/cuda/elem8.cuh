// Element access shared by the kernels templated on their storage type (bf16 or float32):
// eight consecutive elements of a row as floats (one 16-byte vector of bf16, two of float),
// one element, and two adjacent elements.
#pragma once

#include <cuda_bf16.h>

#include "backend/cuda/pdl.cuh"
#include "backend/cuda/vector_types.cuh"

namespace pagoda::cuda {

// bf16 rows move as one 16-byte access (uint4): through Bf16x8 itself nvcc emitted four 4-byte ones.
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float out[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  unpack8(reinterpret_cast<const Bf16x8&>(raw), out);
}
__device__ __forceinline__ void load8(const float* p, float out[8]) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
  out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}

// Stores eight values and leaves in v what was stored (rounded for bf16), so a kernel can
// go on with exactly what later kernels will read.
__device__ __forceinline__ void store8(__nv_bfloat16* p, float v[8]) {
  const Bf16x8 packed = pack8(v);
  *reinterpret_cast<uint4*>(p) = reinterpret_cast<const uint4&>(packed);
  unpack8(packed, v);
}
__device__ __forceinline__ void store8(float* p, float v[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

// Vector i (eight elements) of a row-major [rows, 8 * vectors_per_row] activation plus its
// columns' eight bias elements (none when bias is null).
template <typename T>
__device__ __forceinline__ void load8_plus_bias(const T* x, const T* bias, int64_t i, int vectors_per_row, float v[8]) {
  load8(x + i * 8, v);
  if (bias == nullptr) return;
  float b[8];
  load8(bias + (i % vectors_per_row) * 8, b);
#pragma unroll
  for (int e = 0; e < 8; ++e) v[e] += b[e];
}

// The body of an in-place per-column bias + activation kernel (bias_add.cu, bias_gelu.cu): over
// the grid, each vector of x gets its bias, then activate(v), and is stored back. Waits for the
// kernel before it (PDL) before reading x.
template <typename T, typename Activate>
__device__ __forceinline__ void biased_rows_in_place(T* x, const T* bias, int64_t total_vectors, int vectors_per_row,
                                                     Activate activate) {
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total_vectors;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v[8];
    load8_plus_bias(x, bias, i, vectors_per_row, v);
    activate(v);
    store8(x + i * 8, v);
  }
}

// Eight elements' bytes as loaded, to be stored elsewhere unchanged. Kernels that copy several vectors load them
// all before the first store: written load, store, load, store, each load waits behind the store before it (the
// compiler cannot rule out that they overlap), one dependent round trip a vector. (The struct copy of a Bf16x8
// even compiled to four 4-byte load / store pairs, four round trips.)
template <typename T> struct Raw8;
template <> struct Raw8<__nv_bfloat16> {
  uint4 v;
};
template <> struct Raw8<float> {
  float4 a, b;
};
__device__ __forceinline__ Raw8<__nv_bfloat16> load_raw8(const __nv_bfloat16* p) {
  return {*reinterpret_cast<const uint4*>(p)};
}
__device__ __forceinline__ Raw8<float> load_raw8(const float* p) {
  return {reinterpret_cast<const float4*>(p)[0], reinterpret_cast<const float4*>(p)[1]};
}
__device__ __forceinline__ void store_raw8(__nv_bfloat16* p, const Raw8<__nv_bfloat16>& r) {
  *reinterpret_cast<uint4*>(p) = r.v;
}
__device__ __forceinline__ void store_raw8(float* p, const Raw8<float>& r) {
  reinterpret_cast<float4*>(p)[0] = r.a;
  reinterpret_cast<float4*>(p)[1] = r.b;
}

// Eight elements copied as they are (no conversion when both sides have the same type).
template <typename T> __device__ __forceinline__ void copy8(const T* src, T* dst) { store_raw8(dst, load_raw8(src)); }
__device__ __forceinline__ void copy8(const __nv_bfloat16* src, float* dst) {
  float v[8];
  load8(src, v);
  store8(dst, v);
}

__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(float x) { return x; }
template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }

// Elements 2i and 2i + 1 of a row (4-byte aligned for bf16, 8-byte for float).
__device__ __forceinline__ float2 load2(const __nv_bfloat16* row, int i) {
  return __bfloat1622float2(reinterpret_cast<const __nv_bfloat162*>(row)[i]);
}
__device__ __forceinline__ float2 load2(const float* row, int i) { return reinterpret_cast<const float2*>(row)[i]; }
__device__ __forceinline__ void store2(__nv_bfloat16* row, int i, float a, float b) {
  reinterpret_cast<__nv_bfloat162*>(row)[i] = __floats2bfloat162_rn(a, b);
}
__device__ __forceinline__ void store2(float* row, int i, float a, float b) {
  reinterpret_cast<float2*>(row)[i] = make_float2(a, b);
}

} // namespace pagoda::cuda
