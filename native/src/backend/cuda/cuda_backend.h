// The CUDA backend: weights uploaded once as bf16 (q/k/v and gate/up fused), a bf16 paged KV
// cache, a forward pass of the kernels in kernels.h and cuBLASLt GEMMs on one stream, and
// float32 logits copied back to the host.
#pragma once

#include <cstddef>
#include <memory>

#include "backend/backend.h"

namespace pagoda {

struct EngineConfig;

// Loads the model named by engine_config and moves it to the current CUDA device.
// Throws pagoda::Error when the model or an option is outside what this backend runs.
// Decode-only steps replay CUDA graphs captured per padded batch size when
// PAGODA_CUDA_GRAPHS=1 and enforce_eager is off (opt-in until validated on the device).
std::unique_ptr<Backend> create_cuda_backend(const EngineConfig& engine_config);

// How many decode graphs a CUDA backend has captured (0 for any other backend).
size_t cuda_graphs_captured(const Backend& backend);

} // namespace pagoda
