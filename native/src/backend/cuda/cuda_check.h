// Checks every CUDA runtime call and kernel launch; a failure throws pagoda::Error naming
// the call, the file:line and CUDA's own description.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "error.h"

namespace pagoda::cuda {

inline void throw_cuda_error(cudaError_t status, const char* what, const char* file, int line) {
  throw Error(std::string("CUDA error in ") + what + " (" + file + ":" + std::to_string(line) +
              "): " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

} // namespace pagoda::cuda

#define PAGODA_CUDA_CHECK(expr)                                                        \
  do {                                                                                 \
    cudaError_t pagoda_status_ = (expr);                                               \
    if (pagoda_status_ != cudaSuccess)                                                 \
      ::pagoda::cuda::throw_cuda_error(pagoda_status_, #expr, __FILE__, __LINE__);     \
  } while (0)

// After a <<<>>> launch: catches bad launch configurations at once (asynchronous faults
// surface at the next synchronizing call, which is checked too).
#define PAGODA_CUDA_CHECK_LAUNCH(kernel_name)                                          \
  do {                                                                                 \
    cudaError_t pagoda_status_ = cudaGetLastError();                                   \
    if (pagoda_status_ != cudaSuccess)                                                 \
      ::pagoda::cuda::throw_cuda_error(pagoda_status_, "launch of " kernel_name,       \
                                       __FILE__, __LINE__);                            \
  } while (0)
