// vLLM's penalty semantics: repetition over prompt and output tokens, presence and frequency
// over output tokens, logit_bias added after them; EOS (unless ignore_eos) and stop_token_ids masked before min_tokens.
#include "engine/logit_adjuster.h"

namespace pagoda {

LogitAdjuster::LogitAdjuster(int32_t vocab_size, std::vector<int32_t> eos_token_ids)
    : vocab_size_(vocab_size), eos_token_ids_(std::move(eos_token_ids)), slot_(vocab_size, -1) {}

bool LogitAdjuster::needed(const Sequence& seq) const {
  const SamplingParams& p = *seq.params;
  return p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0 ||
         !p.logit_bias.empty() || seq.num_output_tokens() < p.min_tokens;
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
  int32_t total = seq.num_tokens();
  // A step launched ahead: the newest token is a placeholder (-1 - r) only the device can resolve.
  // Every entry is built over the known tokens; the newest gets one entry of its own, last, that
  // the device merges into the entry of the token it turns out to be (with_newest).
  const bool newest_unknown = total > 0 && toks[total - 1] < 0;
  if (newest_unknown) --total;
  const float rp = static_cast<float>(p.repetition_penalty);
  const float frequency = static_cast<float>(p.frequency_penalty), presence = static_cast<float>(p.presence_penalty);
  const bool counts = frequency != 0.0f || presence != 0.0f;
  if (rp != 1.0f)
    for (int32_t i = 0; i < total; ++i) entry(toks[i], out, first).repetition = rp;
  if (counts)
    for (int32_t i = seq.num_prompt_tokens; i < total; ++i) ++entry(toks[i], out, first).count;
  for (const auto& [token, bias] : p.logit_bias) entry(token, out, first).bias = bias;
  if (seq.num_output_tokens() < p.min_tokens) {
    if (!p.ignore_eos)
      for (int32_t t : eos_token_ids_)
        if (t >= 0 && t < vocab_size_) entry(t, out, first).masked = 1;
    for (int32_t t : p.stop_token_ids) entry(t, out, first).masked = 1;
  }
  for (size_t i = first; i < out.size(); ++i) {
    slot_[out[i].token] = -1;
    out[i].frequency = frequency;
    out[i].presence = presence;
  }
  if (newest_unknown && (rp != 1.0f || counts)) {
    LogitAdjustment newest;
    newest.token = toks[total];
    newest.repetition = rp;
    newest.frequency = frequency;
    newest.presence = presence;
    newest.count = counts ? 1 : 0;
    out.push_back(newest);
  }
}

} // namespace pagoda
