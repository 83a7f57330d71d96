// Turns one sequence's logits into its next token, as vLLM's sampler does: penalties, then
// greedy or temperature / min_p / top_k / top_p sampling drawn from the sequence's own RNG
// (so a seeded request gives the same tokens whatever else is in the batch), and logprobs
// taken from the unmodified log-softmax.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/logit_adjuster.h"
#include "engine/sequence.h"

namespace pagoda {

struct TokenLogprobs {
  float logprob = 0.0f; // of the chosen token
  int32_t rank = 1;      // 1 + how many tokens have a larger logit than the chosen one
  std::vector<std::pair<int32_t, float>> top; // the top `logprobs` tokens, best first
};

struct SampledToken {
  int32_t token_id = -1;
  bool has_logprobs = false;
  TokenLogprobs logprobs;
};

class Sampler {
public:
  Sampler(int32_t vocab_size, std::vector<int32_t> eos_token_ids);

  // logits: vocab_size floats for seq's last position. Reads seq's tokens (penalties,
  // min_tokens) and draws from seq.rng when not greedy. token_mask (structured output): a
  // bitmask of (vocab_size + 31) / 32 words; tokens whose bit is clear are never chosen.
  // Logprobs stay those of the unmodified logits.
  SampledToken sample(const float* logits, Sequence& seq, const uint32_t* token_mask = nullptr);

  // The log-softmax of `logits` at `token`, and the top `top_n` (prompt logprobs).
  TokenLogprobs logprobs_of(const float* logits, int32_t token, int32_t top_n) {
    return raw_logprobs(logits, token, top_n);
  }

  int32_t vocab_size() const { return vocab_size_; }
  const std::vector<int32_t>& eos_token_ids() const { return eos_token_ids_; }

private:
  int32_t sample_random(const Sequence& seq, std::mt19937_64& rng);
  TokenLogprobs raw_logprobs(const float* logits, int32_t chosen, int32_t top_n);

  int32_t vocab_size_;
  std::vector<int32_t> eos_token_ids_;
  LogitAdjuster adjuster_;
  std::vector<LogitAdjustment> adjustments_;
  std::vector<float> work_;            // logits being processed
  std::vector<int32_t> candidates_;
};

// A double in [0, 1) from the top 53 bits: the same on every platform and standard library.
double uniform01(std::mt19937_64& rng);

// Sets every logit whose bit in `mask` is clear to -inf (a row of `vocab` logits).
void apply_token_mask(float* logits, const uint32_t* mask, int32_t vocab);

inline bool token_allowed(const uint32_t* mask, int32_t token) {
  return (mask[token >> 5] >> (token & 31)) & 1u;
}

} // namespace pagoda
