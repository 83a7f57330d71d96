// Entry point of the CUDA backend (implemented in this folder by the CUDA backend's sources).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace pagoda {

struct EngineConfig;

// Loads the model onto the current CUDA device. Throws pagoda::Error naming the cause.
std::unique_ptr<Backend> create_cuda_backend(const EngineConfig& engine_config);

} // namespace pagoda
