// The engine step; see llm_engine.h. (LLMEngine::load is in engine_load.cpp; the checks of its
// settings and requests and the KV cache sizing in engine_checks.cpp.)
#include "engine/llm_engine.h"

#include <algorithm>
#include <chrono>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sstream>

#include "error.h"

namespace pagoda {

namespace {

constexpr double kRateWindowSeconds = 10.0;

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

uint64_t sibling_seed(uint64_t seed, int32_t index) {
  if (index == 0) return seed;
  uint64_t x = seed + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(index);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 31);
}

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

std::string with_hint(const std::string& what, const std::string& change) {
  return what + "; " + change + ".";
}

// glibc keeps memory freed by every thread's arena for reuse, and a burst of requests (the
// engine's step buffers, the runner's request and response buffers) leaves most of its pages
// resident for good. Going idle is the moment to hand the free pages back.
void return_free_heap_to_os() {
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

} // namespace

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
  case FinishReason::Stop: return "stop";
  case FinishReason::Length: return "length";
  case FinishReason::Abort: return "abort";
  case FinishReason::None: return "";
  }
  return "";
}

LLMEngine::LLMEngine(EngineConfig config, std::unique_ptr<Backend> backend, ModelFacts model)
    : config_(std::move(config)), backend_(std::move(backend)), model_(std::move(model)),
      rng_(config_.seed) {
  validate_config();
  profile_ = backend_->profile(config_.max_num_batched_tokens, config_.max_num_seqs);
  int32_t num_blocks = choose_num_blocks();
  backend_->allocate_kv_cache(num_blocks, config_.block_size);
  blocks_ = std::make_unique<BlockManager>(num_blocks, config_.block_size,
                                           config_.enable_prefix_caching,
                                           backend_->kv_cache_committed_on_touch());
  SchedulerConfig sc;
  sc.max_num_seqs = config_.max_num_seqs;
  sc.max_num_batched_tokens = config_.max_num_batched_tokens;
  sc.enable_chunked_prefill = config_.enable_chunked_prefill;
  scheduler_ = std::make_unique<Scheduler>(sc, *blocks_);
  sampler_ = std::make_unique<Sampler>(model_.vocab_size, model_.eos_token_ids);
  adjuster_ = std::make_unique<LogitAdjuster>(model_.vocab_size, model_.eos_token_ids);
  device_sampling_ = backend_->samples_on_device();
  async_sampling_ = device_sampling_ && backend_->supports_async_sampling();
}

LLMEngine::~LLMEngine() { stop(); }

void LLMEngine::add_request(const std::string& request_id, std::vector<int32_t> prompt,
                            const SamplingParams& params) {
  std::lock_guard<std::mutex> lock(mutex_);
  validate_request(request_id, prompt, params);
  auto shared_params = std::make_shared<const SamplingParams>(params);
  const int32_t num_prompt = static_cast<int32_t>(prompt.size());
  const int32_t max_tokens = params.max_tokens > 0 ? params.max_tokens
                                                   : config_.max_model_len - num_prompt;
  const uint64_t seed = params.seed ? *params.seed : rng_();
  Request request;
  for (int32_t i = 0; i < params.n; ++i) {
    auto seq = std::make_shared<Sequence>();
    seq->seq_id = next_seq_id_++;
    seq->request_id = request_id;
    seq->index = i;
    seq->token_ids = prompt;
    seq->num_prompt_tokens = num_prompt;
    seq->params = shared_params;
    seq->max_tokens = max_tokens;
    seq->rng.seed(sibling_seed(seed, i));
    if (i > 0 && config_.enable_prefix_caching) seq->prefill_leader = request.seqs[0];
    request.seqs.push_back(seq);
  }
  request.num_unfinished = params.n;
  if (params.prompt_logprobs >= 0 && num_prompt > 1) ++prompt_logprob_requests_;
  for (const auto& seq : request.seqs) scheduler_->add(seq);
  requests_.emplace(request_id, std::move(request));
  wake_.notify_all();
}

SequenceDelta LLMEngine::finished_delta(const Sequence& seq) {
  SequenceDelta d;
  d.request_id = seq.request_id;
  d.index = seq.index;
  d.has_logprobs = seq.params->logprobs >= 0;
  d.finish_reason = seq.finish_reason;
  d.stop_token_id = seq.stop_token_id;
  d.prompt_tokens = seq.num_prompt_tokens;
  d.completion_tokens = seq.num_output_tokens() - (seq.pending_token >= 0 ? 1 : 0); // a placeholder is no output
  d.cached_tokens = seq.num_cached_tokens;
  return d;
}

// Called with the lock held when seq has just finished: settles the request's bookkeeping.
void LLMEngine::on_sequence_finished(const Sequence& seq, SequenceDelta& delta) {
  if (seq.wants_prompt_logprobs()) --prompt_logprob_requests_; // finished before its prompt was
  auto it = requests_.find(seq.request_id);
  if (it == requests_.end()) return;
  if (--it->second.num_unfinished == 0) {
    delta.request_finished = true;
    requests_.erase(it);
  }
}

bool LLMEngine::abort(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto aborted = scheduler_->abort(request_id);
  for (const auto& seq : aborted) {
    SequenceDelta d = finished_delta(*seq);
    on_sequence_finished(*seq, d);
    pending_.push_back(std::move(d));
  }
  if (!aborted.empty()) {
    wake_.notify_all();
    mask_ready_.notify_all();
  }
  return !aborted.empty();
}

void LLMEngine::set_token_mask(const std::string& request_id, int32_t index, int32_t position,
                               const uint32_t* words, size_t num_words) {
  const size_t want = (static_cast<size_t>(model_.vocab_size) + 31) / 32;
  if (num_words != want) {
    throw Error("token mask has " + std::to_string(num_words) + " words; this model's vocabulary needs " +
                std::to_string(want));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return; // finished or aborted meanwhile: nothing waits for it
  if (index < 0 || static_cast<size_t>(index) >= it->second.seqs.size())
    throw Error("token mask for output " + std::to_string(index) + " of a request with " +
                std::to_string(it->second.seqs.size()));
  Sequence& seq = *it->second.seqs[static_cast<size_t>(index)];
  if (!seq.params->constrained) throw Error("token mask for a request that is not constrained");
  if (seq.is_finished()) return;
  seq.token_mask.assign(words, words + num_words);
  seq.token_mask_position = position;
  mask_ready_.notify_all();
}

bool LLMEngine::mask_missing(const ScheduledSequence& s) const {
  const Sequence& seq = *s.seq;
  return s.samples && !seq.is_finished() && seq.params->constrained &&
         seq.token_mask_position != seq.num_output_tokens();
}

bool LLMEngine::await_token_masks(const SchedulerOutput& out, std::unique_lock<std::mutex>& lock) {
  auto missing = [&] {
    return std::any_of(out.scheduled.begin(), out.scheduled.end(),
                       [&](const ScheduledSequence& s) { return mask_missing(s); });
  };
  if (!missing()) return true; // unconstrained batches never wait
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(mask_timeout_s_);
  if (!mask_ready_.wait_until(lock, deadline, [&] { return stopping_ || !missing(); })) {
    for (const ScheduledSequence& s : out.scheduled) {
      if (!mask_missing(s)) continue;
      for (const auto& seq : scheduler_->abort(s.seq->request_id)) {
        SequenceDelta d = finished_delta(*seq);
        on_sequence_finished(*seq, d);
        pending_.push_back(std::move(d));
      }
    }
  }
  return !stopping_;
}

bool LLMEngine::has_unfinished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return scheduler_->has_unfinished() || !pending_.empty() || !in_flight_.empty();
}

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
  const double device_ms = error.empty() ? backend_->last_step_device_ms() : -1.0;
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
  record_timing(batch, step_start, forward_start, forward_end, device_ms, result.timing);
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
  // next step may read the new token's value on the host (penalties, min_tokens masking, a
  // grammar's next mask).
  for (const ScheduledSequence& s : prev.scheduled.scheduled) {
    if (s.seq->is_finished()) continue;
    if (!s.samples || adjuster_->needed(*s.seq) || s.seq->params->constrained) return false;
  }
  scheduler_->on_step_computed(prev.scheduled); // its K/V are being written; full blocks hash known tokens
  prev.advanced = true;
  // The placeholder is already the backend's: -1 - r, the id prev samples for its row r, so
  // build_batch copies it into `next` like any token. It is filled in (collect) before any
  // step after `next` can read it.
  for (size_t i = 0; i < prev.scheduled.scheduled.size(); ++i) {
    Sequence& seq = *prev.scheduled.scheduled[i].seq;
    if (seq.is_finished()) continue;
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
  record_timing(done.batch, done.step_start, done.launch_time, forward_end, backend_->last_step_device_ms(),
                result.timing);
  return result;
}

// Called with the lock held at the end of a step that ran a forward.
void LLMEngine::record_timing(const ForwardBatch& batch, double step_start, double forward_start,
                              double forward_end, double device_ms, StepTiming& t) {
  t.num_seqs = batch.num_seqs();
  t.num_tokens = batch.num_tokens();
  for (int32_t len : batch.context_lens) t.context_tokens += len;
  t.forward_ms = 1e3 * (forward_end - forward_start);
  t.host_ms = std::max(0.0, 1e3 * (now_seconds() - step_start) - t.forward_ms);
  t.device_ms = device_ms;
  totals_.step_host_ms_total += t.host_ms;
  totals_.step_forward_ms_total += t.forward_ms;
  if (device_ms >= 0.0) {
    totals_.step_device_ms_total += device_ms;
    ++totals_.device_timed_steps;
  }
}

void LLMEngine::loop() {
  bool worked_since_idle = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto has_work = [&] {
        return stopping_ || scheduler_->has_unfinished() || !pending_.empty() || !in_flight_.empty();
      };
      if (!has_work() && worked_since_idle) {
        // Only this thread hands out blocks, so the runs stay empty while the lock is off.
        worked_since_idle = false;
        std::vector<std::pair<int32_t, int32_t>> empty;
        if (backend_->kv_cache_committed_on_touch()) empty = blocks_->empty_touched_runs();
        lock.unlock();
        for (const auto& run : empty) backend_->release_kv_blocks(run.first, run.second);
        return_free_heap_to_os();
        lock.lock();
      }
      wake_.wait(lock, has_work);
      if (stopping_) return;
    }
    worked_since_idle = true;
    StepOutput out = step();
    const bool ran = last_step_ran_;
    if (!out.empty() && on_step_) on_step_(std::move(out));
    if (!ran) {
      // Work is queued but none could be scheduled (it waits on a sibling's prefill): do
      // not spin; an abort, a new request or stop wakes the loop early.
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(1), [&] { return stopping_ || !pending_.empty(); });
    }
  }
}

void LLMEngine::start(StepCallback on_step) {
  if (thread_.joinable()) throw Error("engine loop already started");
  on_step_ = std::move(on_step);
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void LLMEngine::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  mask_ready_.notify_all();
  if (thread_.joinable()) thread_.join();
}

EngineStats LLMEngine::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  EngineStats s;
  s.num_running = scheduler_->num_running();
  s.num_waiting = scheduler_->num_waiting();
  BlockManagerStats b = blocks_->stats();
  s.kv_blocks_total = b.total;
  s.kv_blocks_used = b.used;
  s.kv_blocks_free = b.free;
  s.kv_blocks_cached = b.cached;
  s.kv_blocks_touched = b.touched;
  s.kv_cache_usage = b.total > 0 ? static_cast<double>(b.used) / b.total : 0.0;
  s.prefix_cache_queries = b.prefix_queries;
  s.prefix_cache_hits = b.prefix_hits;
  s.num_preemptions = scheduler_->num_preemptions();
  static_cast<EngineTotals&>(s) = totals_;
  if (recent_generated_.size() >= 2) {
    double span = now_seconds() - recent_generated_.front().first;
    int64_t tokens = 0;
    for (size_t i = 1; i < recent_generated_.size(); ++i) tokens += recent_generated_[i].second;
    if (span > 0) s.tokens_per_second = static_cast<double>(tokens) / span;
  }
  s.max_model_len = config_.max_model_len;
  s.block_size = config_.block_size;
  s.device = backend_->name();
  return s;
}

} // namespace pagoda
