// Writes each new token's K and V into the paged cache at its slot, 16 bytes per thread.
// Cache layout: [num_blocks, num_kv_heads, block_size, head_dim].
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

__global__ void kv_cache_write_kernel(const bf16* __restrict__ k, const bf16* __restrict__ v,
                                      int64_t token_stride, const int32_t* __restrict__ slot_mapping,
                                      bf16* __restrict__ k_cache, bf16* __restrict__ v_cache,
                                      int num_kv_heads, int head_dim, int block_size) {
  const int64_t token = blockIdx.x;
  const int32_t slot = slot_mapping[token];
  if (slot < 0) return;
  const int64_t block = slot / block_size;
  const int offset = slot % block_size;
  const int vectors_per_head = head_dim / 8;
  for (int i = threadIdx.x; i < num_kv_heads * vectors_per_head; i += blockDim.x) {
    const int head = i / vectors_per_head;
    const int vec = i % vectors_per_head;
    const int64_t src = token * token_stride + static_cast<int64_t>(head) * head_dim + vec * 8;
    const int64_t dst = ((block * num_kv_heads + head) * block_size + offset) * head_dim + vec * 8;
    *reinterpret_cast<Bf16x8*>(k_cache + dst) = *reinterpret_cast<const Bf16x8*>(k + src);
    *reinterpret_cast<Bf16x8*>(v_cache + dst) = *reinterpret_cast<const Bf16x8*>(v + src);
  }
}

void kv_cache_write(const bf16* k, const bf16* v, int64_t token_stride,
                    const int32_t* slot_mapping, bf16* k_cache, bf16* v_cache, int num_tokens,
                    int num_kv_heads, int head_dim, int block_size, cudaStream_t stream) {
  if (head_dim % 8 != 0 || token_stride % 8 != 0)
    throw Error("kv_cache_write: head_dim " + std::to_string(head_dim) +
                " and the token stride must be multiples of 8 for the CUDA backend");
  if (num_tokens == 0) return;
  const int vectors = num_kv_heads * head_dim / 8;
  const int threads = vectors >= 128 ? 128 : ((vectors + 31) / 32) * 32;
  kv_cache_write_kernel<<<num_tokens, threads, 0, stream>>>(
      k, v, token_stride, slot_mapping, k_cache, v_cache, num_kv_heads, head_dim, block_size);
  PAGODA_CUDA_CHECK_LAUNCH("kv_cache_write_kernel");
}

} // namespace pagoda::cuda
