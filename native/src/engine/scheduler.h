// Continuous batching: each step takes running sequences first (decodes and unfinished
// prefill chunks), then admits waiting ones in arrival order, within max_num_seqs and
// max_num_batched_tokens. When KV blocks run out, the most recently admitted running sequence
// is preempted by recomputation: its blocks are freed and it returns to the front of waiting.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"

namespace pagoda {

struct SchedulerConfig {
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 2048;
  bool enable_chunked_prefill = true;
};

struct ScheduledSequence {
  std::shared_ptr<Sequence> seq;
  int32_t num_new_tokens = 0; // computed this step, starting at seq->num_computed_tokens
  // This step reaches the end of the sequence's tokens, so a token is sampled from its logits.
  bool samples = false;
};

struct SchedulerOutput {
  std::vector<ScheduledSequence> scheduled;
  int32_t num_tokens = 0;
  bool empty() const { return scheduled.empty(); }
};

class Scheduler {
public:
  Scheduler(const SchedulerConfig& config, BlockManager& blocks);

  void add(std::shared_ptr<Sequence> seq); // to the back of waiting
  SchedulerOutput schedule();
  // After the forward: the scheduled tokens now have K/V in the cache; full blocks enter
  // the prefix cache. Sequences finished (aborted) meanwhile are skipped.
  void on_step_computed(const SchedulerOutput& out);
  // Frees seq's blocks and drops it from running / waiting.
  void finish(const std::shared_ptr<Sequence>& seq, FinishReason reason);
  // Finishes every unfinished sequence of request_id with Abort; returns them.
  std::vector<std::shared_ptr<Sequence>> abort(const std::string& request_id);

  bool has_unfinished() const { return !running_.empty() || !waiting_.empty(); }
  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t num_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  int64_t num_preemptions() const { return num_preemptions_; }

private:
  void preempt(const std::shared_ptr<Sequence>& seq);
  bool schedule_running(SchedulerOutput& out, int32_t& budget);
  void schedule_waiting(SchedulerOutput& out, int32_t& budget);

  SchedulerConfig config_;
  BlockManager& blocks_;
  std::vector<std::shared_ptr<Sequence>> running_; // admission order
  std::deque<std::shared_ptr<Sequence>> waiting_;
  int64_t num_preemptions_ = 0;
};

} // namespace pagoda
