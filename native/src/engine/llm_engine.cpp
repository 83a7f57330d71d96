// The engine's requests and its thread: intake (add, abort, token masks), the loop that steps while
// work is pending, and the stats it reports. The step itself is in engine_step.cpp, what sampled
// tokens do to sequences in step_outputs.cpp, LLMEngine::load in engine_load.cpp, the checks of
// settings and requests and the KV cache sizing in engine_checks.cpp.
#include "engine/llm_engine.h"

#include <algorithm>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "engine/engine_clock.h"
#include "error.h"

namespace pagoda {

namespace {

uint64_t sibling_seed(uint64_t seed, int32_t index) {
  if (index == 0) return seed;
  uint64_t x = seed + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(index);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 31);
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
      parked_ = true;
      wake_.wait(lock, has_work);
      parked_ = false;
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
  s.idle = parked_;
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
