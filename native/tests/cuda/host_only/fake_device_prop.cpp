// sizeof(cudaDeviceProp) from CUDA's own header, for fake_cudart.cpp (which declares its entry
// points itself and so cannot include that header).
#include <cuda_runtime_api.h>

size_t fake_device_prop_size() { return sizeof(cudaDeviceProp); }
