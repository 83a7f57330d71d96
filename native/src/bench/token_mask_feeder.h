// Structured output without a grammar engine, for benchmarks: constrained requests get fixed random
// allowed-token masks (about half the vocabulary each, seeded), sent to the engine the way the
// runner sends xgrammar's, one position ahead, through LLMEngine::set_token_mask and so through the
// same sampler path (CPU Sampler or the CUDA sample_rows kernel).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/llm_engine.h"

namespace pagoda {

class TokenMaskFeeder {
public:
  TokenMaskFeeder(int32_t vocab_size, uint64_t seed, int32_t num_masks = 16);

  // Marks params constrained; call add_request with them, then started(request_id).
  static SamplingParams constrained(SamplingParams params);
  // Sends output 0's mask for position 0.
  void started(LLMEngine& e, const std::string& request_id);
  // After each step: the next mask of every constrained output that produced a token.
  void after_step(LLMEngine& e, const StepOutput& out);

  int64_t masks_sent() const { return masks_sent_; }

private:
  void send(LLMEngine& e, const std::string& request_id, int32_t position);

  int32_t words_;
  std::vector<std::vector<uint32_t>> masks_;
  std::map<std::string, int32_t> positions_; // constrained request -> tokens so far
  int64_t masks_sent_ = 0;
};

} // namespace pagoda
