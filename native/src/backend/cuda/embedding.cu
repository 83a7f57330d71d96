// Embedding lookup (and row gather): one block per output row, 16-byte loads. Instantiated for
// bf16 tables into bf16 rows or the float32 residual stream, and float32 into float32 (the
// float32 compute path).
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

__device__ __forceinline__ void zero8(bf16* dst) { *reinterpret_cast<Bf16x8*>(dst) = Bf16x8{}; }
__device__ __forceinline__ void zero8(float* dst) {
  reinterpret_cast<float4*>(dst)[0] = make_float4(0.f, 0.f, 0.f, 0.f);
  reinterpret_cast<float4*>(dst)[1] = make_float4(0.f, 0.f, 0.f, 0.f);
}

} // namespace

template <typename Table, typename Out>
__global__ void embedding_gather_kernel(const int32_t* ids, const Table* table,
                                        Out* __restrict__ out, int hidden, int num_rows) {
  pdl_wait();
  pdl_launch_dependents();
  const int token = blockIdx.x;
  const int id = ids[token];
  const bool valid = id >= 0 && id < num_rows;
  Out* dst = out + static_cast<int64_t>(token) * hidden;
  const Table* src = table + static_cast<int64_t>(valid ? id : 0) * hidden;
  for (int i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    if (valid) copy8(src + i, dst + i);
    else zero8(dst + i);
  }
}

namespace {

template <typename Table, typename Out>
void launch_embedding(const int32_t* ids, const Table* table, Out* out, int num_tokens, int hidden, int num_rows,
                      cudaStream_t stream) {
  if (hidden % 8 != 0)
    throw Error("embedding_gather: hidden size " + std::to_string(hidden) +
                " must be a multiple of 8 for the CUDA backend");
  if (num_tokens == 0) return;
  const int vectors = hidden / 8;
  const int threads = vectors >= 128 ? 128 : ((vectors + 31) / 32) * 32;
  launch_pdl("embedding_gather_kernel", embedding_gather_kernel<Table, Out>, dim3(num_tokens), dim3(threads), 0,
             stream, ids, table, out, hidden, num_rows);
}

} // namespace

void embedding_gather(const int32_t* ids, const bf16* table, bf16* out, int num_tokens, int hidden, int num_rows,
                      cudaStream_t stream) {
  launch_embedding(ids, table, out, num_tokens, hidden, num_rows, stream);
}
void embedding_gather(const int32_t* ids, const bf16* table, float* out, int num_tokens, int hidden, int num_rows,
                      cudaStream_t stream) {
  launch_embedding(ids, table, out, num_tokens, hidden, num_rows, stream);
}
void embedding_gather(const int32_t* ids, const float* table, float* out, int num_tokens, int hidden, int num_rows,
                      cudaStream_t stream) {
  launch_embedding(ids, table, out, num_tokens, hidden, num_rows, stream);
}

} // namespace pagoda::cuda
