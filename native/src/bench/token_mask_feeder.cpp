// Fixed random token masks for benchmarks; see token_mask_feeder.h.
#include "bench/token_mask_feeder.h"

#include <random>

namespace pagoda {

TokenMaskFeeder::TokenMaskFeeder(int32_t vocab_size, uint64_t seed, int32_t num_masks)
    : words_((vocab_size + 31) / 32) {
  std::mt19937_64 rng(seed);
  for (int32_t m = 0; m < num_masks; ++m) {
    std::vector<uint32_t> mask(static_cast<size_t>(words_));
    for (uint32_t& w : mask) w = static_cast<uint32_t>(rng());
    if (vocab_size % 32) mask.back() &= (1u << (vocab_size % 32)) - 1u; // no bits past the vocabulary
    mask[0] |= 1u << 3;                                                  // never empty
    masks_.push_back(std::move(mask));
  }
}

SamplingParams TokenMaskFeeder::constrained(SamplingParams params) {
  params.constrained = true;
  return params;
}

void TokenMaskFeeder::send(LLMEngine& e, const std::string& request_id, int32_t position) {
  const std::vector<uint32_t>& mask = masks_[static_cast<size_t>(position) % masks_.size()];
  e.set_token_mask(request_id, 0, position, mask.data(), mask.size());
  ++masks_sent_;
}

void TokenMaskFeeder::started(LLMEngine& e, const std::string& request_id) {
  positions_[request_id] = 0;
  send(e, request_id, 0);
}

void TokenMaskFeeder::after_step(LLMEngine& e, const StepOutput& out) {
  for (const SequenceDelta& d : out.deltas) {
    auto it = positions_.find(d.request_id);
    if (it == positions_.end()) continue;
    if (d.finish_reason != FinishReason::None) {
      positions_.erase(it);
      continue;
    }
    it->second += static_cast<int32_t>(d.token_ids.size());
    if (!d.token_ids.empty()) send(e, d.request_id, it->second);
  }
}

} // namespace pagoda
