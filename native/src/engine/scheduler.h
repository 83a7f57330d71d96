// Continuous batching: each step takes running sequences first (decodes and unfinished
// prefill chunks), then admits waiting ones in arrival order, within max_num_seqs and
// max_num_batched_tokens. When KV blocks run out, the most recently admitted running sequence
// is preempted by recomputation: its blocks are freed and it returns to the front of waiting.
// While the queue is backed up, admission may wait a few steps to take several prompts at once.
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
  // Admission batching, while the queue is backed up (more sequences waiting than free slots) and others run: new
  // prompts wait until the ones the free slots would take bring admission_min_tokens (or the step's remaining
  // budget), for at most admission_max_hold_steps steps with a slot free. A step's GEMMs run far below the tensor
  // cores' rate at a few hundred rows and near it past a thousand, so a burst's tail, where slots free one or two a
  // step, computes its prompts in fewer, fuller steps. 0: admit at once.
  int32_t admission_min_tokens = 0;
  int32_t admission_max_hold_steps = 8;
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
  int64_t num_held_steps() const { return num_held_steps_; } // steps admission batching held a free slot

private:
  void preempt(const std::shared_ptr<Sequence>& seq);
  bool schedule_running(SchedulerOutput& out, int32_t& budget);
  void schedule_waiting(SchedulerOutput& out, int32_t& budget);
  bool hold_admission(int32_t budget) const;

  SchedulerConfig config_;
  BlockManager& blocks_;
  std::vector<std::shared_ptr<Sequence>> running_; // admission order
  std::deque<std::shared_ptr<Sequence>> waiting_;
  int64_t num_preemptions_ = 0;
  int32_t held_steps_ = 0; // consecutive steps admission was held with a slot free
  int64_t num_held_steps_ = 0;
};

} // namespace pagoda
