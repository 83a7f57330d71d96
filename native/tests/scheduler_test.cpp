// Scheduler: token budget and chunked prefill, max_num_seqs, decode-first ordering, FCFS,
// preemption by recomputation when blocks run out, and abort freeing blocks at once.
#include <memory>
#include <numeric>

#include "check.h"
#include "engine/scheduler.h"

using namespace pagoda;

namespace {

std::shared_ptr<Sequence> make_seq(const std::string& id, int32_t prompt_len, int32_t first = 1) {
  auto s = std::make_shared<Sequence>();
  s->request_id = id;
  s->token_ids.resize(prompt_len);
  std::iota(s->token_ids.begin(), s->token_ids.end(), first);
  s->num_prompt_tokens = prompt_len;
  s->params = std::make_shared<SamplingParams>();
  return s;
}

// Plays the engine's part after a forward: computed tokens land, sampling appends a token.
void complete_step(Scheduler& sched, const SchedulerOutput& out) {
  sched.on_step_computed(out);
  for (const auto& s : out.scheduled) {
    if (s.samples && !s.seq->is_finished()) s.seq->token_ids.push_back(7);
  }
}

int32_t scheduled_tokens_of(const SchedulerOutput& out, const Sequence* seq) {
  for (const auto& s : out.scheduled) if (s.seq.get() == seq) return s.num_new_tokens;
  return 0;
}

void test_chunked_prefill() {
  BlockManager bm(64, 4, true);
  Scheduler sched({8, 8, true}, bm);
  auto a = make_seq("a", 20);
  sched.add(a);
  std::vector<int32_t> chunks;
  std::vector<bool> samples;
  for (int step = 0; step < 3; ++step) {
    SchedulerOutput out = sched.schedule();
    CHECK_EQ(out.scheduled.size(), size_t{1});
    chunks.push_back(out.scheduled[0].num_new_tokens);
    samples.push_back(out.scheduled[0].samples);
    CHECK(out.num_tokens <= 8);
    complete_step(sched, out);
  }
  CHECK((chunks == std::vector<int32_t>{8, 8, 4}));
  CHECK((samples == std::vector<bool>{false, false, true}));
  CHECK_EQ(a->num_computed_tokens, 20);
  CHECK_EQ(a->num_tokens(), 21);
  SchedulerOutput decode = sched.schedule();
  CHECK_EQ(scheduled_tokens_of(decode, a.get()), 1);
}

void test_without_chunking_prompt_waits_for_room() {
  BlockManager bm(64, 4, true);
  Scheduler sched({8, 16, false}, bm);
  auto a = make_seq("a", 10);
  auto b = make_seq("b", 10, 100);
  sched.add(a);
  sched.add(b);
  SchedulerOutput out = sched.schedule();
  // Only one whole prompt fits in 16 tokens; b is not split.
  CHECK_EQ(out.scheduled.size(), size_t{1});
  CHECK_EQ(out.scheduled[0].num_new_tokens, 10);
  CHECK_EQ(sched.num_waiting(), 1);
  complete_step(sched, out);
  out = sched.schedule(); // a's decode (1) + b's whole prompt (10)
  CHECK_EQ(out.num_tokens, 11);
}

void test_max_num_seqs_and_decode_first() {
  BlockManager bm(64, 4, true);
  Scheduler sched({2, 64, true}, bm);
  auto a = make_seq("a", 5), b = make_seq("b", 5, 50), c = make_seq("c", 5, 90);
  sched.add(a);
  sched.add(b);
  sched.add(c);
  SchedulerOutput out = sched.schedule();
  CHECK_EQ(out.scheduled.size(), size_t{2});
  CHECK_EQ(sched.num_running(), 2);
  CHECK_EQ(sched.num_waiting(), 1);
  complete_step(sched, out);
  sched.finish(a, FinishReason::Stop);
  out = sched.schedule();
  // b decodes first, then c is admitted into a's place.
  CHECK_EQ(out.scheduled.size(), size_t{2});
  CHECK(out.scheduled[0].seq == b);
  CHECK(out.scheduled[1].seq == c);
}

void test_fcfs_head_blocks_later_requests() {
  BlockManager bm(4, 4, true); // 16 tokens of KV
  Scheduler sched({8, 64, true}, bm);
  auto small = make_seq("small", 6);
  auto big = make_seq("big", 12, 100);
  auto tiny = make_seq("tiny", 2, 200);
  sched.add(small);
  sched.add(big);
  sched.add(tiny);
  SchedulerOutput out = sched.schedule();
  // small takes 2 blocks; big needs 3 of the 2 left, so it waits, and tiny behind it waits too.
  CHECK_EQ(out.scheduled.size(), size_t{1});
  CHECK(out.scheduled[0].seq == small);
  CHECK_EQ(sched.num_waiting(), 2);
}

void test_preemption_by_recomputation() {
  BlockManager bm(4, 4, true);
  Scheduler sched({8, 64, true}, bm);
  auto a = make_seq("a", 8), b = make_seq("b", 8, 100);
  sched.add(a);
  sched.add(b);
  SchedulerOutput out = sched.schedule();
  CHECK_EQ(out.scheduled.size(), size_t{2}); // 2 blocks each: the cache is full
  complete_step(sched, out);
  // Both now need a third block to decode: b (admitted last) is preempted for a.
  out = sched.schedule();
  CHECK_EQ(out.scheduled.size(), size_t{1});
  CHECK(out.scheduled[0].seq == a);
  CHECK_EQ(sched.num_preemptions(), int64_t{1});
  CHECK(b->block_table.empty());
  CHECK_EQ(b->num_computed_tokens, 0);
  CHECK(b->status == SequenceStatus::Waiting);
  CHECK_EQ(b->num_tokens(), 9); // its sampled token is kept and recomputed with the prompt
  complete_step(sched, out);
  sched.finish(a, FinishReason::Length);
  out = sched.schedule();
  CHECK_EQ(out.scheduled.size(), size_t{1});
  CHECK(out.scheduled[0].seq == b);
  // b's first block (tokens 100..103) was cached when computed, so only the rest is recomputed.
  CHECK_EQ(b->num_cached_tokens, 4);
  CHECK_EQ(out.scheduled[0].num_new_tokens, 5);
  CHECK(out.scheduled[0].samples);
}

void test_abort_frees_blocks_now() {
  BlockManager bm(16, 4, false);
  Scheduler sched({8, 64, true}, bm);
  auto a = make_seq("a", 9), b = make_seq("b", 9, 100);
  sched.add(a);
  sched.add(b);
  complete_step(sched, sched.schedule());
  CHECK_EQ(bm.stats().used, 6);
  auto aborted = sched.abort("a");
  CHECK_EQ(aborted.size(), size_t{1});
  CHECK(a->finish_reason == FinishReason::Abort);
  CHECK_EQ(bm.stats().used, 3);
  CHECK_EQ(sched.num_running(), 1);
  CHECK(sched.abort("a").empty());
  // A waiting request is aborted just as well.
  auto c = make_seq("c", 3);
  sched.add(c);
  CHECK_EQ(sched.abort("c").size(), size_t{1});
  CHECK_EQ(sched.num_waiting(), 0);
}

void test_siblings_wait_for_leader() {
  BlockManager bm(64, 4, true);
  Scheduler sched({8, 64, true}, bm);
  auto leader = make_seq("r", 10);
  auto sib = make_seq("r", 10);
  sib->index = 1;
  sib->prefill_leader = leader;
  sched.add(leader);
  sched.add(sib);
  SchedulerOutput out = sched.schedule();
  CHECK_EQ(out.scheduled.size(), size_t{1});
  complete_step(sched, out);
  out = sched.schedule();
  CHECK_EQ(out.scheduled.size(), size_t{2});
  CHECK_EQ(sib->num_cached_tokens, 8); // two full prompt blocks shared with the leader
  CHECK_EQ(scheduled_tokens_of(out, sib.get()), 2);
  CHECK_EQ(sib->block_table[0], leader->block_table[0]);
}

} // namespace

int main() {
  test_chunked_prefill();
  test_without_chunking_prompt_waits_for_room();
  test_max_num_seqs_and_decode_first();
  test_fcfs_head_blocks_later_requests();
  test_preemption_by_recomputation();
  test_abort_frees_blocks_now();
  test_siblings_wait_for_leader();
  return finish_checks("scheduler_test");
}
