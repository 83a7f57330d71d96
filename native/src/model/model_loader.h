// From engine options to a loaded model: config.json plus safetensors weights, or random
// weights for load_format "dummy". Shared by every backend.
#pragma once

#include "model/model_config.h"
#include "model/weights.h"

namespace pagoda {

struct EngineConfig;

struct LoadedModel {
  ModelConfig config;
  ModelWeights weights;
};

// engine_config.model: a checkpoint folder; with load_format "dummy" also a config.json
// path. Dummy weights use engine_config.dtype ("auto": the config's dtype) and seed.
// Throws pagoda::Error naming the file, tensor or option at fault.
LoadedModel load_model(const EngineConfig& engine_config);

} // namespace pagoda
