// Continuous batching with chunked prefill and preemption by recomputation; see scheduler.h.
#include "engine/scheduler.h"

#include <algorithm>

#include "error.h"

namespace pagoda {

namespace {

// A sibling of an n > 1 request waits until output 0 has computed the prompt, so the prompt's
// full blocks come from the prefix cache instead of being computed n times.
bool gated_on_leader(const Sequence& seq) {
  const auto& leader = seq.prefill_leader;
  return leader && !leader->is_finished() && leader->num_output_tokens() == 0;
}

template <typename C> void erase_seq(C& c, const Sequence* seq) {
  auto it = std::find_if(c.begin(), c.end(), [&](const auto& p) { return p.get() == seq; });
  if (it != c.end()) c.erase(it);
}

} // namespace

Scheduler::Scheduler(const SchedulerConfig& config, BlockManager& blocks)
    : config_(config), blocks_(blocks) {}

void Scheduler::add(std::shared_ptr<Sequence> seq) {
  seq->status = SequenceStatus::Waiting;
  waiting_.push_back(std::move(seq));
}

void Scheduler::preempt(const std::shared_ptr<Sequence>& seq) {
  blocks_.free(*seq);
  seq->status = SequenceStatus::Waiting;
  waiting_.push_front(seq);
  ++num_preemptions_;
}

// Returns false when a sequence had to be preempted (then nothing new is admitted this step).
bool Scheduler::schedule_running(SchedulerOutput& out, int32_t& budget) {
  bool preempted_any = false;
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    std::shared_ptr<Sequence> seq = running_[i];
    int32_t remaining = seq->num_tokens() - seq->num_computed_tokens;
    int32_t num_new = std::min(remaining, budget);
    if (num_new < remaining && !config_.enable_chunked_prefill) break;
    bool self_preempted = false;
    while (!blocks_.can_append(*seq, num_new)) {
      std::shared_ptr<Sequence> victim = running_.back();
      running_.pop_back();
      preempt(victim);
      preempted_any = true;
      if (victim == seq) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    blocks_.append_slots(*seq, num_new);
    out.scheduled.push_back({seq, num_new, num_new == remaining});
    out.num_tokens += num_new;
    budget -= num_new;
    ++i;
  }
  return !preempted_any;
}

void Scheduler::schedule_waiting(SchedulerOutput& out, int32_t& budget) {
  for (size_t i = 0; i < waiting_.size() && budget > 0 &&
                     static_cast<int32_t>(running_.size()) < config_.max_num_seqs;) {
    std::shared_ptr<Sequence> seq = waiting_[i];
    if (gated_on_leader(*seq)) {
      ++i;
      continue;
    }
    // Prompt logprobs need the prompt's logits: those sequences compute their prompt anew.
    PrefixMatch match = seq->wants_prompt_logprobs() ? PrefixMatch{} : blocks_.match_prefix(*seq);
    int32_t cached = static_cast<int32_t>(match.block_ids.size()) * blocks_.block_size();
    int32_t remaining = seq->num_tokens() - cached;
    int32_t num_new = std::min(remaining, budget);
    if (num_new < remaining && !config_.enable_chunked_prefill) break;
    if (!blocks_.can_admit(*seq, match, num_new)) break; // first come, first served: no skipping
    blocks_.admit(*seq, match);
    blocks_.append_slots(*seq, num_new);
    seq->status = SequenceStatus::Running;
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
    running_.push_back(seq);
    out.scheduled.push_back({seq, num_new, num_new == remaining});
    out.num_tokens += num_new;
    budget -= num_new;
  }
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int32_t budget = config_.max_num_batched_tokens;
  if (schedule_running(out, budget)) schedule_waiting(out, budget);
  return out;
}

void Scheduler::on_step_computed(const SchedulerOutput& out) {
  for (const ScheduledSequence& s : out.scheduled) {
    if (s.seq->is_finished()) continue;
    s.seq->num_computed_tokens += s.num_new_tokens;
    blocks_.commit_full_blocks(*s.seq);
  }
}

void Scheduler::finish(const std::shared_ptr<Sequence>& seq, FinishReason reason) {
  if (seq->is_finished()) return;
  blocks_.free(*seq);
  seq->status = SequenceStatus::Finished;
  seq->finish_reason = reason;
  erase_seq(running_, seq.get());
  erase_seq(waiting_, seq.get());
}

std::vector<std::shared_ptr<Sequence>> Scheduler::abort(const std::string& request_id) {
  std::vector<std::shared_ptr<Sequence>> found;
  for (const auto& s : running_) if (s->request_id == request_id) found.push_back(s);
  for (const auto& s : waiting_) if (s->request_id == request_id) found.push_back(s);
  for (const auto& s : found) finish(s, FinishReason::Abort);
  return found;
}

} // namespace pagoda
