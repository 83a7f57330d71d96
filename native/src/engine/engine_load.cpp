// LLMEngine::load: the production path, building the backend from the config (kept apart
// from llm_engine.cpp so the runtime links without a backend in its unit tests).
#include "backend/backend.h"
#include "engine/llm_engine.h"
#include "model/model_config.h"

namespace pagoda {

std::unique_ptr<LLMEngine> LLMEngine::load(const EngineConfig& config) {
  std::unique_ptr<Backend> backend = create_backend(config);
  ModelFacts facts = model_facts_of(backend->model_config());
  return std::make_unique<LLMEngine>(config, std::move(backend), std::move(facts));
}

} // namespace pagoda
