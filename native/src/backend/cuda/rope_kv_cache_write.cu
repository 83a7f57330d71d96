// rope_neox and kv_cache_write as one kernel for the decode and prefill paths (PAGODA_DECODE_FUSED):
// one launch a layer fewer. A block rotates a few heads of one token; blocks of KV heads also
// write the rotated k and the v of their head into the paged cache at the token's slot.
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/fp8_kv.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

// rope.cu's rope_neox_kernel arithmetic, the same expressions (the plain path's bits): the angle
// in full-precision sincos, then the rotated pair.
__device__ __forceinline__ void rope_angle(int32_t position, float inv_freq, float& s, float& c) {
  sincosf(static_cast<float>(position) * inv_freq, &s, &c);
}
__device__ __forceinline__ float2 rope_rotate(float x1, float x2, float c, float s) {
  return make_float2(x1 * c - x2 * s, x2 * c + x1 * s);
}

// One cache element as kv_cache_write stores it: the bf16 value, or the e4m3 code of
// value * inv_scale (the conversion is per element, so one code of a pair is the same code).
template <bool kFp8> struct CacheStore;
template <> struct CacheStore<false> {
  using Elem = bf16;
  __device__ static void put(bf16* dst, bf16 x, float) { *dst = x; }
};
template <> struct CacheStore<true> {
  using Elem = uint8_t;
  __device__ static void put(uint8_t* dst, bf16 x, float inv_scale) {
    *dst = static_cast<uint8_t>(fp8x2_from_floats(__bfloat162float(x) * inv_scale, 0.f) & 0xffu);
  }
};

} // namespace

// Grid: (token, head group); heads 0..num_q_heads-1 are q's, the next num_kv_heads k's (with
// v). Thread i of a head owns frequency i: elements i and i + rotary_dim / 2.
template <bool kFp8>
__global__ void rope_kv_cache_write_kernel(bf16* __restrict__ q, bf16* __restrict__ k, const bf16* __restrict__ v,
                                           int64_t token_stride, const int32_t* __restrict__ positions,
                                           const float* __restrict__ inv_freq,
                                           const int32_t* __restrict__ slot_mapping,
                                           typename CacheStore<kFp8>::Elem* __restrict__ k_cache,
                                           typename CacheStore<kFp8>::Elem* __restrict__ v_cache, float k_inv_scale,
                                           float v_inv_scale, int num_q_heads, int num_kv_heads, int head_dim,
                                           int rotary_dim, int block_size) {
  using Store = CacheStore<kFp8>;
  const int64_t token = blockIdx.x;
  const int half = rotary_dim / 2;
  const int heads_per_block = blockDim.x / half;
  const int i = threadIdx.x % half;
  const int head = blockIdx.y * heads_per_block + threadIdx.x / half;
  const bool active = head < num_q_heads + num_kv_heads;
  // Step inputs (uploaded before the step's first kernel): read before the PDL wait.
  float s = 0.f, c = 1.f;
  if (active) rope_angle(positions[token], inv_freq[i], s, c);
  const int32_t slot = slot_mapping[token];
  pdl_wait();
  pdl_launch_dependents();
  if (!active) return;
  const bool is_q = head < num_q_heads;
  const int kv_head = head - num_q_heads;
  bf16* row = (is_q ? q + static_cast<int64_t>(head) * head_dim : k + static_cast<int64_t>(kv_head) * head_dim) +
              token * token_stride;
  const float2 y = rope_rotate(__bfloat162float(row[i]), __bfloat162float(row[i + half]), c, s);
  const bf16 y1 = __float2bfloat16(y.x), y2 = __float2bfloat16(y.y);
  row[i] = y1;
  row[i + half] = y2;
  if (is_q || slot < 0) return;
  const int64_t dst = ((static_cast<int64_t>(slot / block_size) * num_kv_heads + kv_head) * block_size +
                       slot % block_size) * head_dim;
  typename Store::Elem* k_dst = k_cache + dst;
  typename Store::Elem* v_dst = v_cache + dst;
  Store::put(k_dst + i, y1, k_inv_scale);
  Store::put(k_dst + i + half, y2, k_inv_scale);
  for (int d = rotary_dim + i; d < head_dim; d += half) Store::put(k_dst + d, row[d], k_inv_scale); // unrotated tail
  const bf16* v_row = v + token * token_stride + static_cast<int64_t>(kv_head) * head_dim;
  for (int d = i; d < head_dim; d += half) Store::put(v_dst + d, v_row[d], v_inv_scale);
}

namespace {

template <bool kFp8>
void launch_fused(bf16* q, bf16* k, const bf16* v, int64_t token_stride, const int32_t* positions,
                  const float* inv_freq, const int32_t* slot_mapping, typename CacheStore<kFp8>::Elem* k_cache,
                  typename CacheStore<kFp8>::Elem* v_cache, float k_inv_scale, float v_inv_scale, int num_tokens,
                  int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim, int block_size,
                  cudaStream_t stream) {
  // The refusals rope_neox and kv_cache_write would give.
  if (rotary_dim % 2 != 0 || rotary_dim > head_dim || rotary_dim > 512 || rotary_dim <= 0)
    throw Error("rope_kv_cache_write: rotary_dim " + std::to_string(rotary_dim) + " with head_dim " +
                std::to_string(head_dim) + " is not supported (even, 2..min(head_dim, 512))");
  if (head_dim % 8 != 0 || token_stride % 8 != 0)
    throw Error("rope_kv_cache_write: head_dim " + std::to_string(head_dim) +
                " and the token stride must be multiples of 8 for the CUDA backend");
  if (block_size <= 0) throw Error("rope_kv_cache_write: block_size must be positive");
  if (num_tokens == 0) return;
  const int half = rotary_dim / 2;
  // A whole number of heads a block, about 256 threads, so a batch-1 step spreads over SMs.
  int threads = half * ((256 + half - 1) / half);
  if (threads > 1024) threads = half;
  const int heads_per_block = threads / half;
  const int groups = (num_q_heads + num_kv_heads + heads_per_block - 1) / heads_per_block;
  launch_pdl("rope_kv_cache_write_kernel", rope_kv_cache_write_kernel<kFp8>, dim3(num_tokens, groups), dim3(threads),
             0, stream, q, k, v, token_stride, positions, inv_freq, slot_mapping, k_cache, v_cache, k_inv_scale,
             v_inv_scale, num_q_heads, num_kv_heads, head_dim, rotary_dim, block_size);
}

} // namespace

void rope_kv_cache_write(bf16* q, bf16* k, const bf16* v, int64_t token_stride, const int32_t* positions,
                         const float* inv_freq, const int32_t* slot_mapping, bf16* k_cache, bf16* v_cache,
                         int num_tokens, int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim,
                         int block_size, cudaStream_t stream) {
  launch_fused<false>(q, k, v, token_stride, positions, inv_freq, slot_mapping, k_cache, v_cache, 1.f, 1.f,
                      num_tokens, num_q_heads, num_kv_heads, head_dim, rotary_dim, block_size, stream);
}

void rope_kv_cache_write(bf16* q, bf16* k, const bf16* v, int64_t token_stride, const int32_t* positions,
                         const float* inv_freq, const int32_t* slot_mapping, uint8_t* k_cache, uint8_t* v_cache,
                         float k_scale, float v_scale, int num_tokens, int num_q_heads, int num_kv_heads,
                         int head_dim, int rotary_dim, int block_size, cudaStream_t stream) {
  if (!(k_scale > 0.f) || !(v_scale > 0.f)) throw Error("rope_kv_cache_write: the fp8 KV scales must be positive");
  // 1 / scale on the host, as kv_cache_write passes it: the same products, the same codes.
  launch_fused<true>(q, k, v, token_stride, positions, inv_freq, slot_mapping, k_cache, v_cache, 1.f / k_scale,
                     1.f / v_scale, num_tokens, num_q_heads, num_kv_heads, head_dim, rotary_dim, block_size, stream);
}

} // namespace pagoda::cuda
