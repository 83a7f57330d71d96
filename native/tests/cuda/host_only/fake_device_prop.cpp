// sizeof(cudaDeviceProp) from CUDA's own header, for fake_cudart.cpp (which declares its entry
// points itself and so cannot include that header), and the entry points whose arguments are CUDA's
// own structs.
#include <cuda_runtime_api.h>

size_t fake_device_prop_size() { return sizeof(cudaDeviceProp); }

// Plain attributes of a kernel (quant_gemm.cu loads gather_columns_kernel's module this way).
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, const void*) {
  *attributes = cudaFuncAttributes{};
  attributes->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}
