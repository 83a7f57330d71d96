// Rotary inverse frequencies for every scaling type the engine supports, computed on the
// host once (per context length for "dynamic") and uploaded for rope_neox.
#pragma once

#include <string>
#include <vector>

namespace pagoda::cuda {

struct RopeSpec {
  std::string type = "default"; // "default" | "linear" | "dynamic" | "llama3"
  double theta = 10000.0;
  int rotary_dim = 0;           // usually head_dim
  double factor = 1.0;          // linear, dynamic, llama3
  double low_freq_factor = 1.0; // llama3
  double high_freq_factor = 4.0; // llama3
  int original_max_position = 0; // llama3 and dynamic (max_position_embeddings)
};

// inv_freq[i] for i < rotary_dim / 2. `context_len` matters only for "dynamic" (NTK-aware):
// as in Hugging Face transformers, the base grows once a sequence passes the original
// maximum position, and frequencies equal the default ones before that.
std::vector<float> rope_inv_freq(const RopeSpec& spec, int context_len);

} // namespace pagoda::cuda
