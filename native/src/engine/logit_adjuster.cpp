// vLLM's penalty semantics: repetition over prompt and output tokens, presence and frequency
// over output tokens, logit_bias added after them; EOS (unless ignore_eos) and stop_token_ids masked before min_tokens.
#include "engine/logit_adjuster.h"

namespace pagoda {

LogitAdjuster::LogitAdjuster(int32_t vocab_size, std::vector<int32_t> eos_token_ids)
    : vocab_size_(vocab_size), eos_token_ids_(std::move(eos_token_ids)), slot_(vocab_size, -1),
      counts_(vocab_size, 0) {}

bool LogitAdjuster::needed(const Sequence& seq) const {
  const SamplingParams& p = *seq.params;
  return p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0 ||
         !p.logit_bias.empty() || seq.num_output_tokens() < p.min_tokens;
}

bool LogitAdjuster::reads_tokens(const Sequence& seq) const {
  const SamplingParams& p = *seq.params;
  return p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0;
}

LogitAdjustment& LogitAdjuster::entry(int32_t token, std::vector<LogitAdjustment>& out, size_t first) {
  int32_t& slot = slot_[token];
  if (slot < 0) {
    slot = static_cast<int32_t>(out.size() - first);
    LogitAdjustment a;
    a.token = token;
    out.push_back(a);
  }
  return out[first + static_cast<size_t>(slot)];
}

void LogitAdjuster::append(const Sequence& seq, std::vector<LogitAdjustment>& out) {
  if (!needed(seq)) return;
  const SamplingParams& p = *seq.params;
  const size_t first = out.size();
  const int32_t* toks = seq.token_ids.data();
  const int32_t total = seq.num_tokens();
  if (p.repetition_penalty != 1.0) {
    const float rp = static_cast<float>(p.repetition_penalty);
    for (int32_t i = 0; i < total; ++i) entry(toks[i], out, first).repetition = rp;
  }
  if (p.presence_penalty != 0.0 || p.frequency_penalty != 0.0) {
    for (int32_t i = seq.num_prompt_tokens; i < total; ++i) ++counts_[toks[i]];
    for (int32_t i = seq.num_prompt_tokens; i < total; ++i) {
      const int32_t t = toks[i];
      if (counts_[t] == 0) continue; // already entered
      entry(t, out, first).subtract = static_cast<float>(p.frequency_penalty * counts_[t] + p.presence_penalty);
      counts_[t] = 0;
    }
  }
  for (const auto& [token, bias] : p.logit_bias) entry(token, out, first).subtract -= bias;
  if (seq.num_output_tokens() < p.min_tokens) {
    if (!p.ignore_eos)
      for (int32_t t : eos_token_ids_)
        if (t >= 0 && t < vocab_size_) entry(t, out, first).masked = 1;
    for (int32_t t : p.stop_token_ids) entry(t, out, first).masked = 1;
  }
  for (size_t i = first; i < out.size(); ++i) slot_[out[i].token] = -1;
}

} // namespace pagoda
