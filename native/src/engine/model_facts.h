// The few facts about the loaded model that the runtime needs (limits, vocabulary, special
// tokens), kept apart from the loader's ModelConfig so the runtime can be tested alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pagoda {

struct ModelConfig;

struct ModelFacts {
  std::string architecture;
  int32_t vocab_size = 0;
  int32_t max_position_embeddings = 0;
  std::vector<int32_t> eos_token_ids;
  int32_t bos_token_id = -1; // -1: none
  std::string dtype;         // compute dtype the backend runs
};

ModelFacts model_facts_of(const ModelConfig& config);

} // namespace pagoda
