// Writes each new token's K and V into the paged cache at its slot, eight elements (16 bytes
// of bf16, 32 of float32, 8 of e4m3 codes for kv_cache_dtype fp8) per thread and step. Cache
// layout: [num_blocks, num_kv_heads, block_size, head_dim].
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/fp8_kv.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

// The walk both writers share: this block's token (blockIdx.x) and its slot (a step input, read before the
// PDL wait; a negative slot writes nothing), then each of the thread's 8-element vectors of every KV head
// as write(source offset into k / v, offset into the caches).
template <class Write>
__device__ __forceinline__ void for_each_kv_vector(int64_t token_stride, const int32_t* slot_mapping,
                                                   int num_kv_heads, int head_dim, int block_size, Write&& write) {
  const int64_t token = blockIdx.x;
  const int32_t slot = slot_mapping[token];
  pdl_wait();
  pdl_launch_dependents();
  if (slot < 0) return;
  const int64_t block = slot / block_size;
  const int offset = slot % block_size;
  const int vectors_per_head = head_dim / 8;
  for (int i = threadIdx.x; i < num_kv_heads * vectors_per_head; i += blockDim.x) {
    const int head = i / vectors_per_head;
    const int vec = i % vectors_per_head;
    write(token * token_stride + static_cast<int64_t>(head) * head_dim + vec * 8,
          ((block * num_kv_heads + head) * block_size + offset) * head_dim + vec * 8);
  }
}

// No __restrict__ on the caches: with it the compiler proves k and v read-only here and loads them through
// ld.global.nc, which griddepcontrol.wait does not order (pdl.cuh).
template <typename T>
__global__ void kv_cache_write_kernel(const T* k, const T* v, int64_t token_stride,
                                      const int32_t* slot_mapping, T* k_cache,
                                      T* v_cache, int num_kv_heads, int head_dim, int block_size) {
  for_each_kv_vector(token_stride, slot_mapping, num_kv_heads, head_dim, block_size, [&](int64_t src, int64_t dst) {
    const Raw8<T> kr = load_raw8(k + src), vr = load_raw8(v + src); // both loads in flight at once
    store_raw8(k_cache + dst, kr);
    store_raw8(v_cache + dst, vr);
  });
}

// Eight bf16 values divided by the scale, as eight e4m3 codes.
__device__ __forceinline__ void store8_fp8(const bf16* src, uint8_t* dst, float inv_scale) {
  float v[8];
  load8(src, v);
  uint2 codes;
  codes.x = fp8x2_from_floats(v[0] * inv_scale, v[1] * inv_scale) |
            fp8x2_from_floats(v[2] * inv_scale, v[3] * inv_scale) << 16;
  codes.y = fp8x2_from_floats(v[4] * inv_scale, v[5] * inv_scale) |
            fp8x2_from_floats(v[6] * inv_scale, v[7] * inv_scale) << 16;
  *reinterpret_cast<uint2*>(dst) = codes;
}

__global__ void kv_cache_write_fp8_kernel(const bf16* k, const bf16* v, int64_t token_stride,
                                          const int32_t* slot_mapping, uint8_t* __restrict__ k_cache,
                                          uint8_t* __restrict__ v_cache, float k_inv_scale, float v_inv_scale,
                                          int num_kv_heads, int head_dim, int block_size) {
  for_each_kv_vector(token_stride, slot_mapping, num_kv_heads, head_dim, block_size, [&](int64_t src, int64_t dst) {
    store8_fp8(k + src, k_cache + dst, k_inv_scale);
    store8_fp8(v + src, v_cache + dst, v_inv_scale);
  });
}

namespace {

// Both kernels move whole 8-element vectors.
void check_vector_shape(int head_dim, int64_t token_stride) {
  if (head_dim % 8 != 0 || token_stride % 8 != 0)
    throw Error("kv_cache_write: head_dim " + std::to_string(head_dim) +
                " and the token stride must be multiples of 8 for the CUDA backend");
}

int write_threads(int num_kv_heads, int head_dim) {
  const int vectors = num_kv_heads * head_dim / 8;
  return vectors >= 128 ? 128 : ((vectors + 31) / 32) * 32;
}

template <typename T>
void launch_kv_cache_write(const T* k, const T* v, int64_t token_stride, const int32_t* slot_mapping, T* k_cache,
                           T* v_cache, int num_tokens, int num_kv_heads, int head_dim, int block_size,
                           cudaStream_t stream) {
  check_vector_shape(head_dim, token_stride);
  if (num_tokens == 0) return;
  const int threads = write_threads(num_kv_heads, head_dim);
  launch_pdl("kv_cache_write_kernel", kv_cache_write_kernel<T>, dim3(num_tokens), dim3(threads), 0, stream, k, v,
             token_stride, slot_mapping, k_cache, v_cache, num_kv_heads, head_dim, block_size);
}

} // namespace

void kv_cache_write(const bf16* k, const bf16* v, int64_t token_stride, const int32_t* slot_mapping, bf16* k_cache,
                    bf16* v_cache, int num_tokens, int num_kv_heads, int head_dim, int block_size,
                    cudaStream_t stream) {
  launch_kv_cache_write(k, v, token_stride, slot_mapping, k_cache, v_cache, num_tokens, num_kv_heads, head_dim,
                        block_size, stream);
}
void kv_cache_write(const float* k, const float* v, int64_t token_stride, const int32_t* slot_mapping,
                    float* k_cache, float* v_cache, int num_tokens, int num_kv_heads, int head_dim, int block_size,
                    cudaStream_t stream) {
  launch_kv_cache_write(k, v, token_stride, slot_mapping, k_cache, v_cache, num_tokens, num_kv_heads, head_dim,
                        block_size, stream);
}
void kv_cache_write(const bf16* k, const bf16* v, int64_t token_stride, const int32_t* slot_mapping,
                    uint8_t* k_cache, uint8_t* v_cache, float k_scale, float v_scale, int num_tokens,
                    int num_kv_heads, int head_dim, int block_size, cudaStream_t stream) {
  check_vector_shape(head_dim, token_stride);
  if (!(k_scale > 0.f) || !(v_scale > 0.f)) throw Error("kv_cache_write: the fp8 KV scales must be positive");
  if (num_tokens == 0) return;
  launch_pdl("kv_cache_write_fp8_kernel", kv_cache_write_fp8_kernel, dim3(num_tokens),
             dim3(write_threads(num_kv_heads, head_dim)), 0, stream, k, v, token_stride, slot_mapping, k_cache, v_cache,
             1.f / k_scale, 1.f / v_scale, num_kv_heads, head_dim, block_size);
}

} // namespace pagoda::cuda
