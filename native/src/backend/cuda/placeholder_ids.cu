// Token ids of a step launched before the previous step's ids reached the host: an id
// -1 - r becomes the id the previous step sampled for its row r, read where it already is.
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"

namespace pagoda::cuda {

__global__ void resolve_placeholder_ids_kernel(int32_t* __restrict__ token_ids, int n,
                                               const int32_t* __restrict__ previous_ids) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int32_t id = token_ids[i];
  if (id < 0) token_ids[i] = previous_ids[-1 - id];
}

void resolve_placeholder_ids(int32_t* token_ids, int n, const int32_t* previous_ids, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int kThreads = 256;
  resolve_placeholder_ids_kernel<<<(n + kThreads - 1) / kThreads, kThreads, 0, stream>>>(token_ids, n, previous_ids);
  PAGODA_CUDA_CHECK_LAUNCH("resolve_placeholder_ids_kernel");
}

} // namespace pagoda::cuda
