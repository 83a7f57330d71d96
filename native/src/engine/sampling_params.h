// Per-request sampling settings, named and bounded as vLLM's SamplingParams, and the check
// that rejects a bad value naming the parameter and the accepted range.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace pagoda {

struct SamplingParams {
  int32_t n = 1;
  int32_t max_tokens = -1;  // -1: up to max_model_len - prompt length
  int32_t min_tokens = 0;   // EOS and stop_token_ids are masked until this many are generated
  double temperature = 1.0; // < 1e-5: greedy
  int32_t top_k = -1;       // -1: all tokens
  double top_p = 1.0;
  double min_p = 0.0;
  double repetition_penalty = 1.0;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  std::optional<uint64_t> seed;  // absent: drawn from the engine's generator
  int32_t logprobs = -1;         // -1: none; 0: the chosen token's; k: plus the top k
  int32_t prompt_logprobs = -1;  // likewise for each prompt token after the first (echo)
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  // OpenAI's logit_bias: (token, bias in [-100, 100]) added to the logit before sampling.
  std::vector<std::pair<int32_t, float>> logit_bias;
  // Structured output: each sampled token of this request waits for an allowed-token bitmask
  // (LLMEngine::set_token_mask) for its position, computed by the caller's grammar matcher.
  bool constrained = false;

  bool greedy() const { return temperature < 1e-5; }
};

// Largest logprobs a request may ask for (vLLM's max_logprobs default).
constexpr int32_t kMaxLogprobs = 20;

// Throws pagoda::Error naming the first bad parameter, e.g.
// "temperature must be non-negative, got -1". vocab_size bounds stop_token_ids.
void validate_sampling_params(const SamplingParams& params, int32_t vocab_size);

} // namespace pagoda
