// Rotary inverse frequencies for every scaling type the engine supports (default, linear,
// dynamic NTK, llama3), computed on the host as transformers does; every backend uses these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pagoda {

struct ModelConfig;

struct RopeSpec {
  std::string type = "default";  // "default" | "linear" | "dynamic" | "llama3"
  double theta = 10000.0;
  int rotary_dim = 0;            // usually head_dim
  double factor = 1.0;           // linear, dynamic, llama3
  double low_freq_factor = 1.0;  // llama3
  double high_freq_factor = 4.0; // llama3
  int original_max_position = 0; // llama3 and dynamic (max_position_embeddings)
};

RopeSpec rope_spec(const ModelConfig& config);

// inv_freq[i] for i < rotary_dim / 2. `context_len` matters only for "dynamic" (NTK-aware):
// as in transformers, the base grows once a sequence passes the original maximum position,
// and the frequencies equal the default ones before that. Throws pagoda::Error for an
// unsupported type or inconsistent numbers.
std::vector<float> rope_inv_freq(const RopeSpec& spec, int64_t context_len);

} // namespace pagoda
