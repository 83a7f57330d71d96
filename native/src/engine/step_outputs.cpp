// What a step's sampled tokens do to their sequences: stop checks, the rows the device samples,
// token-rate bookkeeping, prompt logprobs, and failing every request when a step breaks.
#include <algorithm>
#include <string>

#include "engine/engine_clock.h"
#include "engine/llm_engine.h"
#include "error.h"

namespace pagoda {

namespace {

constexpr double kRateWindowSeconds = 10.0;

} // namespace

FinishReason LLMEngine::check_stop(Sequence& seq, int32_t token) const {
  const SamplingParams& p = *seq.params;
  const bool past_min = seq.num_output_tokens() >= p.min_tokens;
  if (past_min && !p.ignore_eos &&
      std::find(model_.eos_token_ids.begin(), model_.eos_token_ids.end(), token) !=
          model_.eos_token_ids.end()) {
    seq.stop_token_id = token;
    return FinishReason::Stop;
  }
  if (past_min && std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) !=
                      p.stop_token_ids.end()) {
    seq.stop_token_id = token;
    return FinishReason::Stop;
  }
  if (seq.num_output_tokens() >= seq.max_tokens) return FinishReason::Length;
  if (seq.num_tokens() >= config_.max_model_len) return FinishReason::Length;
  return FinishReason::None;
}

void LLMEngine::device_sampling_rows(const SchedulerOutput& out, StepSampling& sampling) {
  sampling.rows.assign(out.scheduled.size(), RowSampling{});
  sampling.adjustments.clear();
  sampling.token_masks.clear();
  sampling.mask_words = (model_.vocab_size + 31) / 32;
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    const ScheduledSequence& s = out.scheduled[i];
    Sequence& seq = *s.seq;
    if (!s.samples || seq.is_finished()) continue; // greedy placeholder: its id is not used
    const SamplingParams& p = *seq.params;
    RowSampling& r = sampling.rows[i];
    r.want_logprob = p.logprobs >= 0;
    r.top_logprobs = std::max(0, p.logprobs);
    r.adjust_begin = static_cast<int32_t>(sampling.adjustments.size());
    adjuster_->append(seq, sampling.adjustments);
    r.adjust_end = static_cast<int32_t>(sampling.adjustments.size());
    if (p.constrained && seq.token_mask_position == seq.num_output_tokens()) {
      r.mask_row = static_cast<int32_t>(sampling.token_masks.size() / static_cast<size_t>(sampling.mask_words));
      sampling.token_masks.insert(sampling.token_masks.end(), seq.token_mask.begin(), seq.token_mask.end());
    }
    if (p.greedy()) continue;
    r.temperature = static_cast<float>(p.temperature);
    r.top_k = p.top_k;
    r.top_p = static_cast<float>(p.top_p);
    r.min_p = static_cast<float>(p.min_p);
    // The same one draw per sampled token the host Sampler takes from this generator.
    r.uniform = uniform01(seq.rng);
  }
}

void LLMEngine::process_sampled(const SchedulerOutput& out, const std::vector<float>* logits,
                                const SampledRows* sampled, StepOutput& result) {
  const size_t vocab = static_cast<size_t>(model_.vocab_size);
  int32_t generated = 0;
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    const ScheduledSequence& s = out.scheduled[i];
    Sequence& seq = *s.seq;
    if (!s.samples || seq.is_finished()) continue;
    // A placeholder for this token (the next step went ahead) is not an output yet.
    const bool placeholder = seq.pending_token >= 0;
    if (seq.num_output_tokens() - (placeholder ? 1 : 0) == 0) totals_.prompt_tokens_total += seq.num_prompt_tokens;
    SampledToken t;
    if (sampled) {
      t.token_id = sampled->token_ids[i];
      if (seq.params->logprobs >= 0) {
        t.has_logprobs = true;
        t.logprobs.logprob = sampled->logprobs[i];
        for (int32_t k = 0; k < seq.params->logprobs; ++k) {
          const size_t at = i * static_cast<size_t>(sampled->top_n) + static_cast<size_t>(k);
          t.logprobs.top.emplace_back(sampled->top_ids[at], sampled->top_logprobs[at]);
        }
      }
    } else {
      const bool masked = seq.params->constrained && seq.token_mask_position == seq.num_output_tokens();
      t = sampler_->sample(logits->data() + i * vocab, seq, masked ? seq.token_mask.data() : nullptr);
    }
    if (placeholder) {
      seq.token_ids[static_cast<size_t>(seq.pending_token)] = t.token_id;
      seq.pending_token = -1;
    } else {
      seq.token_ids.push_back(t.token_id);
    }
    ++generated;
    SequenceDelta d = finished_delta(seq);
    d.token_ids.push_back(t.token_id);
    if (t.has_logprobs) d.logprobs.push_back(std::move(t.logprobs));
    FinishReason reason = check_stop(seq, t.token_id);
    if (reason != FinishReason::None) {
      scheduler_->finish(s.seq, reason);
      d.finish_reason = reason;
      d.stop_token_id = seq.stop_token_id;
      on_sequence_finished(seq, d);
    } else {
      d.finish_reason = FinishReason::None;
    }
    result.deltas.push_back(std::move(d));
  }
  totals_.generation_tokens_total += generated;
  const double t = now_seconds();
  recent_generated_.emplace_back(t, generated);
  while (!recent_generated_.empty() && recent_generated_.front().first < t - kRateWindowSeconds) {
    recent_generated_.pop_front();
  }
}

void LLMEngine::fail_all(const std::string& message, StepOutput& result) {
  std::vector<std::string> ids;
  for (const auto& kv : requests_) ids.push_back(kv.first);
  for (const auto& id : ids) {
    for (const auto& seq : scheduler_->abort(id)) {
      SequenceDelta d = finished_delta(*seq);
      on_sequence_finished(*seq, d);
      result.deltas.push_back(std::move(d));
    }
  }
  result.error = message;
}

void LLMEngine::take_prompt_logprobs(const SchedulerOutput& out, const ForwardBatch& batch,
                                     std::vector<float>& logits, StepOutput& result) {
  const size_t vocab = static_cast<size_t>(model_.vocab_size);
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    Sequence& seq = *out.scheduled[i].seq;
    if (seq.is_finished() || !seq.wants_prompt_logprobs()) continue;
    SequenceDelta d = finished_delta(seq);
    d.finish_reason = FinishReason::None;
    for (int32_t t = batch.query_start[i]; t < batch.query_start[i + 1]; ++t) {
      const int32_t next = batch.positions[static_cast<size_t>(t)] + 1; // the token row t predicts
      if (next != seq.prompt_logprobs_next || next >= seq.num_prompt_tokens) continue;
      d.prompt_logprobs.push_back(sampler_->logprobs_of(logits.data() + static_cast<size_t>(t) * vocab,
                                                        seq.token_ids[static_cast<size_t>(next)],
                                                        seq.params->prompt_logprobs));
      ++seq.prompt_logprobs_next;
    }
    if (!seq.wants_prompt_logprobs()) --prompt_logprob_requests_;
    if (!d.prompt_logprobs.empty()) result.deltas.push_back(std::move(d));
  }
  for (size_t i = 0; i < out.scheduled.size(); ++i) { // rows only move down: i <= its last row
    const size_t last = static_cast<size_t>(batch.query_start[i + 1] - 1);
    if (last != i) std::copy_n(logits.begin() + last * vocab, vocab, logits.begin() + i * vocab);
  }
}

} // namespace pagoda
