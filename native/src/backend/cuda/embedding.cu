// Embedding lookup (and row gather): one block per output row, 16-byte copies.
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

__global__ void embedding_gather_kernel(const int32_t* __restrict__ ids,
                                        const Bf16x8* __restrict__ table,
                                        Bf16x8* __restrict__ out, int vectors_per_row,
                                        int num_rows) {
  const int token = blockIdx.x;
  const int id = ids[token];
  const bool valid = id >= 0 && id < num_rows;
  Bf16x8* dst = out + static_cast<int64_t>(token) * vectors_per_row;
  const Bf16x8* src = table + static_cast<int64_t>(valid ? id : 0) * vectors_per_row;
  for (int i = threadIdx.x; i < vectors_per_row; i += blockDim.x) {
    Bf16x8 v = {};
    if (valid) v = src[i];
    dst[i] = v;
  }
}

void embedding_gather(const int32_t* ids, const bf16* table, bf16* out, int num_tokens,
                      int hidden, int num_rows, cudaStream_t stream) {
  if (hidden % 8 != 0) throw Error("embedding_gather: hidden size " + std::to_string(hidden) +
                                   " must be a multiple of 8 for the CUDA backend");
  if (num_tokens == 0) return;
  const int vectors = hidden / 8;
  const int threads = vectors >= 128 ? 128 : ((vectors + 31) / 32) * 32;
  embedding_gather_kernel<<<num_tokens, threads, 0, stream>>>(
      ids, reinterpret_cast<const Bf16x8*>(table), reinterpret_cast<Bf16x8*>(out), vectors,
      num_rows);
  PAGODA_CUDA_CHECK_LAUNCH("embedding_gather_kernel");
}

} // namespace pagoda::cuda
