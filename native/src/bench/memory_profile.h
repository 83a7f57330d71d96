// A loaded engine's device memory, component by component, as JSON (pagoda-bench --profile-only):
// what the platform's planner predicts (weights, activations, other overhead, CUDA graphs, KV cache)
// beside the stages of the load they were measured at.
#pragma once

#include "engine/llm_engine.h"
#include "json.h"

namespace pagoda {

// `load_s`: the load's wall time. Reads the backend's stage log, so call it right after the load.
json::Value memory_profile_json(LLMEngine& engine, double load_s);

// The engine settings memory depends on, as validated by the engine.
json::Value memory_settings_json(const EngineConfig& c);

} // namespace pagoda
