// The engine: owns the backend, the KV block manager, the scheduler and the sampler, checks
// settings and requests the way vLLM does, and runs the step loop on its own thread:
// schedule → build the ForwardBatch → backend.forward → sample → one callback per step
// carrying every new token (and finish) of every sequence.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "engine/block_manager.h"
#include "engine/engine_config.h"
#include "engine/engine_stats.h"
#include "engine/logit_adjuster.h"
#include "engine/model_facts.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"

namespace pagoda {

// What one step produced for one output sequence of a request.
struct SequenceDelta {
  std::string request_id;
  int32_t index = 0;
  std::vector<int32_t> token_ids;
  bool has_logprobs = false;
  std::vector<TokenLogprobs> logprobs; // one per token when has_logprobs
  // Prompt logprobs of the prompt tokens computed this step, in order from position 1 on.
  std::vector<TokenLogprobs> prompt_logprobs;
  FinishReason finish_reason = FinishReason::None;
  int32_t stop_token_id = -1;
  bool request_finished = false; // every one of the request's n outputs has finished
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_tokens = 0;
};

// Where one step's time went, and how much the backend had to read: what benchmarks need
// for GPU idle time and the bandwidth roofline.
struct StepTiming {
  int32_t num_seqs = 0;       // scheduled sequences (0: nothing was scheduled)
  int32_t num_tokens = 0;     // new tokens; == num_seqs on a decode-only step
  int64_t context_tokens = 0; // sum of context lengths: the KV tokens attention read
  double host_ms = 0.0;       // step() wall time outside the backend's forward
  double forward_ms = 0.0;    // the backend's forward (and sampling) on the host clock
  double device_ms = -1.0;    // Backend::last_step_device_time(): the step's span, < 0 when unknown
  double device_gap_ms = -1.0; // the device's idle time since the step before ended, < 0 when unknown
  bool decode_only() const { return num_seqs > 0 && num_tokens == num_seqs; }
};

struct StepOutput {
  std::vector<SequenceDelta> deltas;
  StepTiming timing;
  std::string error; // set when the forward failed: every request was finished with Abort
  bool empty() const { return deltas.empty() && error.empty(); }
};

using StepCallback = std::function<void(StepOutput&&)>;

class LLMEngine {
public:
  // Builds the backend named by config.device and loads the model.
  static std::unique_ptr<LLMEngine> load(const EngineConfig& config);
  // Sizes and allocates the KV cache on `backend`; throws pagoda::Error on a bad setting.
  LLMEngine(EngineConfig config, std::unique_ptr<Backend> backend, ModelFacts model);
  ~LLMEngine();
  LLMEngine(const LLMEngine&) = delete;
  LLMEngine& operator=(const LLMEngine&) = delete;

  // Checks the request (throws pagoda::Error naming the bad value) and queues its n sequences.
  void add_request(const std::string& request_id, std::vector<int32_t> prompt_token_ids,
                   const SamplingParams& params);
  // Frees the request's blocks now; its final Abort deltas come with the next step output.
  bool abort(const std::string& request_id);
  // Structured output: the allowed-token bitmask ((vocab_size + 31) / 32 words) for output
  // `position` of output `index` of a constrained request (SamplingParams::constrained). The
  // engine samples that position only once its mask is here; the caller sends the next
  // mask when it sees the token (the forward of the next step runs meanwhile). Throws
  // pagoda::Error for an unknown request, a wrong index or size; a finished output ignores it.
  void set_token_mask(const std::string& request_id, int32_t index, int32_t position, const uint32_t* words,
                      size_t num_words);
  // How long a constrained sequence waits for its mask before it is aborted (a caller that
  // died must not stall the batch). Default 60 s.
  void set_token_mask_timeout(double seconds) { mask_timeout_s_ = seconds; }
  // One engine step on the caller's thread (tests, benchmarks). Not with start().
  StepOutput step();
  bool has_unfinished() const;

  // Runs step() on an engine thread, calling `on_step` once per non-empty step.
  void start(StepCallback on_step);
  // Stops the engine thread (unfinished requests stay queued). Idempotent.
  void stop();

  EngineStats stats() const;
  const ModelFacts& model() const { return model_; }
  const EngineConfig& config() const { return config_; }
  const MemoryProfile& memory_profile() const { return profile_; }
  Backend& backend() { return *backend_; }

private:
  struct Request {
    std::vector<std::shared_ptr<Sequence>> seqs;
    int32_t num_unfinished = 0;
  };

  void validate_config();
  int32_t choose_num_blocks() const;
  void validate_request(const std::string& request_id, const std::vector<int32_t>& prompt,
                        const SamplingParams& params) const;
  ForwardBatch build_batch(const SchedulerOutput& out) const;
  // Fills sampling (a row per scheduled sequence, with its penalty / min_tokens adjustments)
  // for Backend::forward_sampled and takes each sampling sequence's draw from its generator.
  void device_sampling_rows(const SchedulerOutput& out, StepSampling& sampling);
  // Exactly one of logits (host sampling) and sampled (ids from the backend) is non-null.
  void process_sampled(const SchedulerOutput& out, const std::vector<float>* logits,
                       const SampledRows* sampled, StepOutput& result);
  FinishReason check_stop(Sequence& seq, int32_t token) const;
  // With the lock held: waits (releasing it) until every constrained sequence `out` samples
  // has its mask for its next position; one whose mask does not come in time is aborted.
  // False when the engine is stopping.
  bool await_token_masks(const SchedulerOutput& out, std::unique_lock<std::mutex>& lock);
  bool mask_missing(const ScheduledSequence& s) const;
  // With all_logits: each prompt-logprob sequence's prompt logprobs as deltas, then each
  // sequence's last row moved to row i so sampling reads logits as usual.
  void take_prompt_logprobs(const SchedulerOutput& out, const ForwardBatch& batch, std::vector<float>& logits,
                            StepOutput& result);
  SequenceDelta finished_delta(const Sequence& seq);
  void on_sequence_finished(const Sequence& seq, SequenceDelta& delta);
  void fail_all(const std::string& message, StepOutput& result);
  void record_timing(const ForwardBatch& batch, double step_start, double forward_start, double forward_end,
                     const StepDeviceTime& device, StepTiming& timing);

  // The async path (backends with supports_async_sampling): a step launched on the device and
  // not yet collected. `advanced`: the scheduler already counted its tokens as computed (the
  // next step was scheduled ahead of its results).
  struct InFlight {
    SchedulerOutput scheduled;
    ForwardBatch batch;
    StepSampling sampling;
    double step_start = 0.0, launch_time = 0.0;
    bool advanced = false;
  };
  StepOutput step_async();
  // With the lock held: schedules the next step (an empty output when nothing is runnable)
  // and builds its batch and sampling rows.
  bool prepare_step(InFlight& step, std::unique_lock<std::mutex>& lock);
  // With the lock held, step `prev` in flight: when every sequence it samples can go on
  // without its new token's value, counts prev's tokens computed, gives each of those
  // sequences a placeholder token and prepares the step after it; false (changing nothing)
  // when the step must wait for prev's ids.
  bool prepare_ahead(InFlight& prev, InFlight& next, std::unique_lock<std::mutex>& lock);
  void launch(InFlight& step);
  // With the lock held, after an error: collects the launched steps past the first
  // `collected` (already read), forgets them all and finishes every request (fail_all).
  void fail_in_flight(const std::string& error, size_t collected, StepOutput& result);
  void loop();

  EngineConfig config_;
  std::unique_ptr<Backend> backend_;
  ModelFacts model_;
  MemoryProfile profile_;
  std::unique_ptr<BlockManager> blocks_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Sampler> sampler_;
  std::vector<float> logits_; // reused every step: [scheduled seqs x vocab] can be large
  bool device_sampling_ = false; // the backend samples where its logits are
  SampledRows sampled_;          // reused every step when it does
  StepSampling step_sampling_;   // likewise
  std::unique_ptr<LogitAdjuster> adjuster_;
  bool async_sampling_ = false;  // device sampling launched ahead of the previous step's ids
  std::deque<InFlight> in_flight_; // launched, not collected (guarded by mutex_; at most 2)
  std::mt19937_64 rng_; // seeds for requests that bring none

  mutable std::mutex mutex_; // guards everything below and the scheduler / blocks / sequences
  std::unordered_map<std::string, Request> requests_;
  std::vector<SequenceDelta> pending_; // Abort finishes waiting for the next step output
  int64_t next_seq_id_ = 0;
  EngineTotals totals_;
  bool last_step_ran_ = false; // the last step() scheduled work (the loop idles when not)
  std::deque<std::pair<double, int32_t>> recent_generated_; // (seconds, tokens) per step

  std::condition_variable wake_;
  std::condition_variable mask_ready_; // a token mask arrived, a request was aborted, or stop
  double mask_timeout_s_ = 60.0;
  // Requests whose prompt logprobs are not all out: while any, steps run synchronously on the
  // host with all logits (prompt logprobs are rare; the async device path needs no change).
  std::atomic<int32_t> prompt_logprob_requests_{0};
  bool stopping_ = false;
  bool parked_ = false; // the loop waits for work, its idle release done (see EngineStats::idle)
  std::thread thread_;
  StepCallback on_step_;
};

} // namespace pagoda
