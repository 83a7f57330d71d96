// The CUDA backend: weights uploaded once as bf16 (q/k/v and gate/up fused), a bf16 paged KV
// cache, a forward pass of the kernels in kernels.h and cuBLASLt GEMMs on one stream, and
// float32 logits copied back to the host.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace pagoda {

struct EngineConfig;

// Loads the model named by engine_config and moves it to the current CUDA device.
// Throws pagoda::Error when the model or an option is outside what this backend runs.
std::unique_ptr<Backend> create_cuda_backend(const EngineConfig& engine_config);

} // namespace pagoda
