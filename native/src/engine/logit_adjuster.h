// Turns a sequence's penalties and min_tokens into LogitAdjustments, one per distinct token
// they touch, for the host Sampler and for backends that sample on the device.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/logit_adjustment.h"
#include "engine/sequence.h"

namespace pagoda {

class LogitAdjuster {
public:
  LogitAdjuster(int32_t vocab_size, std::vector<int32_t> eos_token_ids);

  // Whether seq's next token needs any adjustment (penalties or logit_bias set, or min_tokens not reached).
  bool needed(const Sequence& seq) const;
  // Appends seq's adjustments to out (nothing when !needed(seq)). Where its newest token is a placeholder
  // (-1 - r), the last entry is that token's: what one more output occurrence adds (with_newest).
  void append(const Sequence& seq, std::vector<LogitAdjustment>& out);

private:
  LogitAdjustment& entry(int32_t token, std::vector<LogitAdjustment>& out, size_t first);

  int32_t vocab_size_;
  std::vector<int32_t> eos_token_ids_;
  std::vector<int32_t> slot_;  // token -> index in out while append runs, else -1
};

} // namespace pagoda
