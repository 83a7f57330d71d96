// The engine's step: build the forward batch from the scheduler's choice, run it on the backend
// (one step at a time, or step N+1 prepared and launched while step N runs), collect what it sampled.
#include <algorithm>
#include <string>

#include "engine/engine_clock.h"
#include "engine/llm_engine.h"
#include "error.h"

namespace pagoda {

namespace {

// Empty when the backend's sampled rows are whole: an id in the vocabulary per row and a
// logprob per row when any row asked for one.
std::string check_sampled(const SampledRows& s, const std::vector<RowSampling>& rows, int32_t vocab) {
  if (s.token_ids.size() != rows.size()) return "backend sampled a wrong number of rows";
  const bool logprobs = std::any_of(rows.begin(), rows.end(), [](const RowSampling& r) { return r.want_logprob; });
  if (logprobs && s.logprobs.size() != rows.size()) return "backend returned no logprobs";
  int32_t top_n = 0;
  for (const RowSampling& r : rows) top_n = std::max(top_n, r.top_logprobs);
  if (top_n > 0 && (s.top_n < top_n || s.top_ids.size() != rows.size() * static_cast<size_t>(s.top_n) ||
                    s.top_logprobs.size() != s.top_ids.size()))
    return "backend returned too few top logprobs";
  for (int32_t id : s.top_ids)
    if (id < 0 || id >= vocab) return "backend returned top logprob token id " + std::to_string(id) + " outside the vocabulary";
  for (int32_t id : s.token_ids)
    if (id < 0 || id >= vocab) return "backend sampled token id " + std::to_string(id) + " outside the vocabulary";
  return "";
}

} // namespace

ForwardBatch LLMEngine::build_batch(const SchedulerOutput& out) const {
  ForwardBatch b;
  const int32_t bs = config_.block_size;
  b.token_ids.reserve(out.num_tokens);
  b.positions.reserve(out.num_tokens);
  b.slot_mapping.reserve(out.num_tokens);
  b.query_start.push_back(0);
  for (const ScheduledSequence& s : out.scheduled) {
    b.max_blocks_per_seq = std::max<int32_t>(b.max_blocks_per_seq,
                                             static_cast<int32_t>(s.seq->block_table.size()));
  }
  b.block_tables.assign(static_cast<size_t>(out.scheduled.size()) * b.max_blocks_per_seq, -1);
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    const Sequence& seq = *out.scheduled[i].seq;
    const int32_t start = seq.num_computed_tokens;
    const int32_t end = start + out.scheduled[i].num_new_tokens;
    for (int32_t pos = start; pos < end; ++pos) {
      b.token_ids.push_back(seq.token_ids[pos]);
      b.positions.push_back(pos);
      b.slot_mapping.push_back(seq.block_table[pos / bs] * bs + pos % bs);
    }
    b.query_start.push_back(static_cast<int32_t>(b.token_ids.size()));
    b.context_lens.push_back(end);
    std::copy(seq.block_table.begin(), seq.block_table.end(),
              b.block_tables.begin() + static_cast<std::ptrdiff_t>(i) * b.max_blocks_per_seq);
  }
  return b;
}

StepOutput LLMEngine::step() {
  // Steps carrying prompt logprobs run here, synchronously, once nothing is in flight.
  if (async_sampling_ && !(in_flight_.empty() && prompt_logprob_requests_ > 0)) return step_async();
  const double step_start = now_seconds();
  StepOutput result;
  SchedulerOutput scheduled;
  ForwardBatch batch;
  bool on_device = false;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    scheduled = scheduler_->schedule();
    last_step_ran_ = !scheduled.empty();
    if (scheduled.empty()) {
      result.deltas = std::move(pending_);
      pending_.clear();
      return result;
    }
    batch = build_batch(scheduled);
    batch.all_logits = std::any_of(scheduled.scheduled.begin(), scheduled.scheduled.end(),
                                   [](const ScheduledSequence& s) { return s.seq->wants_prompt_logprobs(); });
    on_device = device_sampling_ && !batch.all_logits;
    // Sampling on the device takes the masks with the launch; on the host they are awaited
    // after the forward, so the caller's grammar work overlaps it.
    if (on_device && !await_token_masks(scheduled, lock)) {
      fail_all("the engine stopped while a constrained request waited for its token mask", result);
      return result;
    }
    result.deltas = std::move(pending_);
    pending_.clear();
    if (on_device) device_sampling_rows(scheduled, step_sampling_);
    ++totals_.num_steps;
  }
  // The forward runs unlocked so abort() and add_request() never wait for it. A sequence
  // aborted meanwhile has released its blocks; nothing reuses them before the next schedule.
  std::vector<float>& logits = logits_;
  std::string error;
  const double forward_start = now_seconds();
  try {
    if (on_device) on_device = backend_->forward_sampled(batch, step_sampling_, sampled_);
    if (on_device) {
      error = check_sampled(sampled_, step_sampling_.rows, model_.vocab_size);
    } else {
      backend_->forward(batch, logits);
      const size_t rows = static_cast<size_t>(batch.all_logits ? batch.num_tokens() : batch.num_seqs());
      if (logits.size() < rows * model_.vocab_size) {
        error = "backend returned too few logits";
      }
    }
  } catch (const std::exception& e) {
    error = std::string("forward failed: ") + e.what();
  }
  const double forward_end = now_seconds();
  const StepDeviceTime device = error.empty() ? backend_->last_step_device_time() : StepDeviceTime{};
  std::unique_lock<std::mutex> lock(mutex_);
  if (error.empty() && !on_device && !await_token_masks(scheduled, lock))
    error = "the engine stopped while a constrained request waited for its token mask";
  for (SequenceDelta& d : pending_) result.deltas.push_back(std::move(d)); // aborts meanwhile
  pending_.clear();
  if (!error.empty()) {
    fail_all(error, result);
    return result;
  }
  if (batch.all_logits) take_prompt_logprobs(scheduled, batch, logits, result);
  scheduler_->on_step_computed(scheduled);
  process_sampled(scheduled, on_device ? nullptr : &logits, on_device ? &sampled_ : nullptr, result);
  record_timing(batch, step_start, forward_start, forward_end, device, result.timing);
  return result;
}

bool LLMEngine::prepare_step(InFlight& step, std::unique_lock<std::mutex>& lock) {
  if (prompt_logprob_requests_ > 0) return false; // step() runs those synchronously
  step.scheduled = scheduler_->schedule();
  if (step.scheduled.empty()) return false;
  if (!await_token_masks(step.scheduled, lock)) throw Error("the engine stopped while a constrained request waited for its token mask");
  step.batch = build_batch(step.scheduled);
  device_sampling_rows(step.scheduled, step.sampling);
  ++totals_.num_steps;
  return true;
}

bool LLMEngine::prepare_ahead(InFlight& prev, InFlight& next, std::unique_lock<std::mutex>& lock) {
  // Each sequence prev samples for must be able to continue on a placeholder: nothing of its
  // next step may read the new token's value on the host. A grammar's next mask does; the
  // penalties do not (the newest token's share goes in an adjustment entry the device resolves),
  // nor do logit_bias and min_tokens (they need only the count, which the placeholder keeps). One
  // that samples nothing (a prompt chunk before its last) continues with its next prompt tokens,
  // known already, so it holds nothing back (else every step behind a chunked prompt would start
  // on an idle device), unless a grammar will want its first mask.
  for (const ScheduledSequence& s : prev.scheduled.scheduled)
    if (!s.seq->is_finished() && s.seq->params->constrained) return false;
  scheduler_->on_step_computed(prev.scheduled); // its K/V are being written; full blocks hash known tokens
  prev.advanced = true;
  // The placeholder is already the backend's: -1 - r, the id prev samples for its row r, so
  // build_batch copies it into `next` like any token. It is filled in (collect) before any
  // step after `next` can read it.
  for (size_t i = 0; i < prev.scheduled.scheduled.size(); ++i) {
    Sequence& seq = *prev.scheduled.scheduled[i].seq;
    if (seq.is_finished() || !prev.scheduled.scheduled[i].samples) continue;
    seq.pending_token = seq.num_tokens();
    seq.token_ids.push_back(-1 - static_cast<int32_t>(i));
  }
  prepare_step(next, lock); // nothing runnable: prev's results come as usual
  return true;
}

void LLMEngine::launch(InFlight& step) {
  step.launch_time = now_seconds();
  backend_->launch_sampled(step.batch, step.sampling);
}

void LLMEngine::fail_in_flight(const std::string& error, size_t collected, StepOutput& result) {
  for (size_t i = collected; i < in_flight_.size(); ++i) {
    try {
      backend_->collect_sampled(sampled_);
    } catch (const std::exception&) { // the step is dropped either way
    }
  }
  in_flight_.clear();
  fail_all(error, result);
}

// Launch step N (when none is in flight), prepare and launch step N + 1 while N runs, then
// collect N: the host's scheduling, batch building and upload overlap the device's work, and
// the one synchronization per step is collect_sampled reading N's ids.
StepOutput LLMEngine::step_async() {
  StepOutput result;
  std::string error;
  try {
    std::unique_lock<std::mutex> lock(mutex_);
    result.deltas = std::move(pending_);
    pending_.clear();
    if (in_flight_.empty()) {
      InFlight first;
      first.step_start = now_seconds();
      if (!prepare_step(first, lock)) {
        last_step_ran_ = false;
        for (SequenceDelta& d : pending_) result.deltas.push_back(std::move(d));
        pending_.clear();
        return result;
      }
      launch(first);
      in_flight_.push_back(std::move(first));
    }
    last_step_ran_ = true;
    if (in_flight_.size() == 1) {
      InFlight next;
      next.step_start = now_seconds();
      if (prepare_ahead(in_flight_.front(), next, lock) && !next.scheduled.empty()) {
        launch(next);
        ++totals_.steps_launched_ahead;
        in_flight_.push_back(std::move(next));
      }
    }
  } catch (const std::exception& e) {
    error = std::string("forward failed: ") + e.what();
  }
  if (!error.empty()) { // a launch failed: collect what did go, then fail everything
    std::lock_guard<std::mutex> lock(mutex_);
    fail_in_flight(error, 0, result);
    return result;
  }
  // The oldest step's ids, waited for without the lock: abort() and add_request() go on.
  try {
    backend_->collect_sampled(sampled_);
  } catch (const std::exception& e) {
    error = std::string("forward failed: ") + e.what();
  }
  const double forward_end = now_seconds();
  std::lock_guard<std::mutex> lock(mutex_);
  for (SequenceDelta& d : pending_) result.deltas.push_back(std::move(d));
  pending_.clear();
  if (error.empty()) error = check_sampled(sampled_, in_flight_.front().sampling.rows, model_.vocab_size);
  if (!error.empty()) {
    fail_in_flight(error, 1, result); // the oldest was collected (or its collect failed)
    return result;
  }
  InFlight done = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (!done.advanced) scheduler_->on_step_computed(done.scheduled);
  process_sampled(done.scheduled, nullptr, &sampled_, result);
  record_timing(done.batch, done.step_start, done.launch_time, forward_end, backend_->last_step_device_time(),
                result.timing);
  return result;
}

// Called with the lock held at the end of a step that ran a forward.
void LLMEngine::record_timing(const ForwardBatch& batch, double step_start, double forward_start,
                              double forward_end, const StepDeviceTime& device, StepTiming& t) {
  t.num_seqs = batch.num_seqs();
  t.num_tokens = batch.num_tokens();
  for (int32_t len : batch.context_lens) t.context_tokens += len;
  t.forward_ms = 1e3 * (forward_end - forward_start);
  t.host_ms = std::max(0.0, 1e3 * (now_seconds() - step_start) - t.forward_ms);
  t.device_ms = device.span_ms;
  t.device_gap_ms = device.gap_before_ms;
  totals_.step_host_ms_total += t.host_ms;
  totals_.step_forward_ms_total += t.forward_ms;
  if (t.device_ms >= 0.0) {
    totals_.step_device_ms_total += t.device_ms;
    totals_.device_timed_step_ms_total += t.host_ms + t.forward_ms;
    ++totals_.device_timed_steps;
    if (t.device_gap_ms >= 0.0) {
      totals_.device_gap_ms_total += t.device_gap_ms;
      totals_.device_gap_span_ms_total += t.device_ms;
      ++totals_.device_gap_steps;
    }
  }
}

} // namespace pagoda
