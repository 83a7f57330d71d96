// Embedding lookup (and row gather): one block per output row, 16-byte loads; the output is
// bf16 or float32 (the backend's residual stream).
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

__device__ __forceinline__ void store_row8(bf16* dst, const Bf16x8& v) { *reinterpret_cast<Bf16x8*>(dst) = v; }
__device__ __forceinline__ void store_row8(float* dst, const Bf16x8& v) {
  float f[8];
  unpack8(v, f);
  reinterpret_cast<float4*>(dst)[0] = make_float4(f[0], f[1], f[2], f[3]);
  reinterpret_cast<float4*>(dst)[1] = make_float4(f[4], f[5], f[6], f[7]);
}

} // namespace

template <typename Out>
__global__ void embedding_gather_kernel(const int32_t* __restrict__ ids, const bf16* __restrict__ table,
                                        Out* __restrict__ out, int hidden, int num_rows) {
  const int token = blockIdx.x;
  const int id = ids[token];
  const bool valid = id >= 0 && id < num_rows;
  Out* dst = out + static_cast<int64_t>(token) * hidden;
  const bf16* src = table + static_cast<int64_t>(valid ? id : 0) * hidden;
  for (int i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    Bf16x8 v = {};
    if (valid) v = *reinterpret_cast<const Bf16x8*>(src + i);
    store_row8(dst + i, v);
  }
}

namespace {

template <typename Out>
void launch_embedding(const int32_t* ids, const bf16* table, Out* out, int num_tokens, int hidden, int num_rows,
                      cudaStream_t stream) {
  if (hidden % 8 != 0)
    throw Error("embedding_gather: hidden size " + std::to_string(hidden) +
                " must be a multiple of 8 for the CUDA backend");
  if (num_tokens == 0) return;
  const int vectors = hidden / 8;
  const int threads = vectors >= 128 ? 128 : ((vectors + 31) / 32) * 32;
  embedding_gather_kernel<Out><<<num_tokens, threads, 0, stream>>>(ids, table, out, hidden, num_rows);
  PAGODA_CUDA_CHECK_LAUNCH("embedding_gather_kernel");
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

} // namespace pagoda::cuda
