// The engine's async path (Backend::launch_sampled / collect_sampled): step N + 1 is built
// and launched before step N's ids are read, its new tokens as placeholders the backend fills
// from N's sampled ids. Over a backend that keeps two steps in flight, every request gets the
// tokens, logprobs, finish reasons and usage of the synchronous path — through chunked
// prefill, admissions mid-run, preemption, prefix caching, n > 1, stop tokens, penalties
// (the newest token's share resolved by the backend) and aborts — the look-ahead really happens, and a device failure
// with two steps in flight fails every request cleanly.
#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "check.h"
#include "device_sampling_backend.h"
#include "engine/llm_engine.h"

using namespace pagoda;
using pagoda::testing::DeviceSamplingBackend;

namespace {

constexpr int32_t kVocab = 64;

// Computes each step when it is launched (so K/V writes keep launch order, as on one CUDA
// stream) and hands the results back in order from collect_sampled.
class AsyncSamplingBackend : public DeviceSamplingBackend {
public:
  AsyncSamplingBackend() : DeviceSamplingBackend(kVocab) {}
  bool supports_async_sampling() const override { return true; }
  void launch_sampled(const ForwardBatch& b, const StepSampling& sampling) override {
    if (in_flight_.size() >= 2) throw std::logic_error("more than two steps in flight");
    ForwardBatch resolved = b;
    for (int32_t& id : resolved.token_ids) {
      if (id >= 0) continue;
      const size_t row = static_cast<size_t>(-1 - id);
      if (row >= last_ids_.size()) throw std::logic_error("placeholder for a row the previous step did not sample");
      id = last_ids_[row];
      ++placeholders;
    }
    if (in_flight_.size() == 1) launched_behind.push_back(in_flight_tokens_.front());
    SampledRows out;
    previous_ids = last_ids_;
    forward_sampled(resolved, sampling, out);
    last_ids_ = out.token_ids;
    in_flight_.push_back(std::move(out));
    in_flight_tokens_.push_back(b.num_tokens());
    max_in_flight = std::max(max_in_flight, in_flight_.size());
  }
  void collect_sampled(SampledRows& out) override {
    if (in_flight_.empty()) throw std::logic_error("collect_sampled with nothing in flight");
    out = std::move(in_flight_.front());
    in_flight_.pop_front();
    in_flight_tokens_.pop_front();
    if (++collects == fail_at_collect) throw std::runtime_error("device lost (simulated)");
  }
  bool idle() const { return in_flight_.empty(); }

  int64_t placeholders = 0;
  size_t max_in_flight = 0;
  std::vector<int32_t> launched_behind; // for each step launched ahead, the tokens of the one it went behind
  int collects = 0, fail_at_collect = -1;

private:
  std::deque<SampledRows> in_flight_;
  std::deque<int32_t> in_flight_tokens_;
  std::vector<int32_t> last_ids_;
};

ModelFacts facts() { return testing::test_model_facts(kVocab, 0); }

EngineConfig config(int32_t blocks) {
  EngineConfig c = testing::test_engine_config(blocks, 32, 6);
  c.max_model_len = 96;
  return c;
}

std::vector<int32_t> prompt(int32_t len, int32_t salt) { return testing::test_prompt(len, salt, kVocab); }

struct Request {
  std::string id;
  std::vector<int32_t> prompt;
  SamplingParams params;
};

struct Outcome {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<int32_t> top;
  FinishReason finish = FinishReason::None;
  int32_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  bool operator==(const Outcome& o) const {
    return tokens == o.tokens && logprobs == o.logprobs && top == o.top && finish == o.finish &&
           prompt_tokens == o.prompt_tokens && completion_tokens == o.completion_tokens;
  }
};
using Outcomes = std::map<std::string, Outcome>; // "id/index"

void collect(const StepOutput& s, Outcomes& out) {
  CHECK(s.error.empty());
  for (const auto& d : s.deltas) {
    Outcome& o = out[d.request_id + "/" + std::to_string(d.index)];
    o.tokens.insert(o.tokens.end(), d.token_ids.begin(), d.token_ids.end());
    for (const auto& lp : d.logprobs) {
      o.logprobs.push_back(lp.logprob);
      for (const auto& [id, value] : lp.top) o.top.push_back(id);
    }
    if (d.finish_reason != FinishReason::None) {
      o.finish = d.finish_reason;
      o.prompt_tokens = d.prompt_tokens;
      o.completion_tokens = d.completion_tokens;
      o.cached_tokens = d.cached_tokens;
    }
  }
}

// Runs the requests to the end; abort_at: request id -> the step at which it is aborted.
Outcomes run(LLMEngine& e, const std::vector<Request>& reqs, const std::map<std::string, int>& abort_at = {}) {
  for (const auto& r : reqs) e.add_request(r.id, r.prompt, r.params);
  Outcomes out;
  for (int step = 0; step < 5000 && e.has_unfinished(); ++step) {
    for (const auto& [id, at] : abort_at)
      if (at == step) e.abort(id);
    collect(e.step(), out);
  }
  CHECK(!e.has_unfinished());
  return out;
}

SamplingParams greedy(int32_t max_tokens) { return testing::test_greedy(max_tokens); }

std::vector<Request> mixed_requests() {
  std::vector<Request> reqs;
  for (int i = 0; i < 14; ++i) {
    SamplingParams p = greedy(6 + (i * 5) % 23);
    if (i % 3 == 1) {
      p.temperature = 0.9;
      p.seed = 100 + i;
    }
    if (i % 4 == 2) p.ignore_eos = false; // EOS (token 0) may stop it
    if (i % 5 == 3) p.stop_token_ids = {7, 11};
    if (i == 4) p.logprobs = 0;
    if (i == 5) p.logprobs = 3;
    if (i == 6) p.n = 2; // siblings share the prompt through the prefix cache
    reqs.push_back({"r" + std::to_string(i), prompt(3 + (i * 11) % 40, i % 4), p});
  }
  reqs.push_back({"shared-a", prompt(24, 9), greedy(12)}); // a cached prefix for the next one
  reqs.push_back({"shared-b", prompt(24, 9), greedy(12)});
  return reqs;
}

void test_same_results_as_synchronous(int32_t blocks) {
  const auto reqs = mixed_requests();
  LLMEngine sync_engine(config(blocks), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
  auto backend = std::make_unique<AsyncSamplingBackend>();
  AsyncSamplingBackend* async = backend.get();
  LLMEngine async_engine(config(blocks), std::move(backend), facts());
  const Outcomes want = run(sync_engine, reqs), got = run(async_engine, reqs);
  CHECK_EQ(got.size(), want.size());
  for (const auto& [key, o] : want) {
    CHECK(got.count(key) == 1);
    if (got.count(key)) CHECK(got.at(key) == o);
  }
  CHECK(async->placeholders > 0);          // steps were launched ahead of their ids
  CHECK_EQ(async->max_in_flight, size_t{2});
  CHECK_EQ(async_engine.stats().steps_launched_ahead, static_cast<int64_t>(async->launched_behind.size()));
  CHECK_EQ(sync_engine.stats().steps_launched_ahead, int64_t{0});
  const EngineStats s = async_engine.stats(), w = sync_engine.stats();
  CHECK_EQ(s.kv_blocks_used, 0); // every block back
  CHECK_EQ(s.prompt_tokens_total, w.prompt_tokens_total); // the counters see placeholders as nothing
  CHECK_EQ(s.generation_tokens_total, w.generation_tokens_total);
  if (blocks < 64) CHECK(s.num_preemptions > 0);
}

// A prompt longer than a step's budget goes in chunks that sample nothing; the step after each is
// launched while it runs (its tokens are the prompt's, known), beside decode rows or alone, and
// every request still gets the synchronous path's results.
void test_launch_ahead_behind_prompt_chunks() {
  for (const bool beside_decodes : {false, true}) {
    std::vector<Request> reqs;
    if (beside_decodes) reqs.push_back({"running", prompt(5, 3), greedy(40)});
    reqs.push_back({"long", prompt(90, 1), greedy(4)}); // 90 tokens at 32 a step: two chunks, then the last
    LLMEngine sync_engine(config(256), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
    auto backend = std::make_unique<AsyncSamplingBackend>();
    AsyncSamplingBackend* async = backend.get();
    LLMEngine async_engine(config(256), std::move(backend), facts());
    // The long prompt waits for "running" to be decoding, so its chunks share steps with it.
    auto drive = [&](LLMEngine& e) {
      Outcomes out;
      e.add_request(reqs[0].id, reqs[0].prompt, reqs[0].params);
      if (beside_decodes) {
        for (int i = 0; i < 3; ++i) collect(e.step(), out);
        e.add_request(reqs[1].id, reqs[1].prompt, reqs[1].params);
      }
      for (int step = 0; step < 500 && e.has_unfinished(); ++step) collect(e.step(), out);
      return out;
    };
    const Outcomes got = drive(async_engine);
    CHECK(got == drive(sync_engine));
    CHECK_EQ(got.at("long/0").tokens.size(), size_t{4});
    // Steps of a full budget (32 tokens) carry a chunk before the prompt's last: two of them, each
    // with a step launched behind it.
    const auto behind_full = std::count(async->launched_behind.begin(), async->launched_behind.end(), 32);
    CHECK_EQ(behind_full, 2);
    CHECK_EQ(async_engine.stats().steps_launched_ahead, static_cast<int64_t>(async->launched_behind.size()));
    CHECK_EQ(async_engine.stats().kv_blocks_used, 0);
  }
}

// Penalties count the sequence's tokens, the newest included: a step launched ahead carries the
// newest token's share as an entry the backend resolves from the previous step's ids. logit_bias
// and min_tokens need only how many tokens there are. Every such step goes ahead, and the results
// are the synchronous path's.
void test_adjusted_steps_go_ahead() {
  // Strong penalties, so a newest token whose share were lost would be chosen again.
  std::vector<Request> pen = {{"plain", prompt(5, 1), greedy(20)}, {"rep", prompt(7, 2), greedy(20)},
                              {"freq", prompt(9, 5), greedy(24)}, {"all", prompt(4, 6), greedy(16)}};
  pen[1].params.repetition_penalty = 2.0;
  pen[2].params.frequency_penalty = 1.5;
  pen[2].params.presence_penalty = 0.5;
  pen[3].params.repetition_penalty = 1.5;
  pen[3].params.frequency_penalty = 0.5;
  pen[3].params.presence_penalty = 1.0;
  pen[3].params.logit_bias = {{5, 4.f}, {9, 3.f}};
  pen[3].params.temperature = 0.9f;
  pen[3].params.seed = 11;
  std::vector<Request> count_only = {{"min", prompt(6, 3), greedy(10)}, {"bias", prompt(8, 4), greedy(12)}};
  count_only[0].params.ignore_eos = false;
  count_only[0].params.min_tokens = 6;
  count_only[0].params.stop_token_ids = {7, 11};
  count_only[1].params.logit_bias = {{5, 40.f}, {9, -100.f}};
  for (const auto& [reqs, penalties] : {std::pair{pen, true}, std::pair{count_only, false}}) {
    LLMEngine sync_engine(config(256), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
    auto backend = std::make_unique<AsyncSamplingBackend>();
    AsyncSamplingBackend* async = backend.get();
    LLMEngine async_engine(config(256), std::move(backend), facts());
    const Outcomes want = run(sync_engine, reqs), got = run(async_engine, reqs);
    CHECK(got == want);
    // Every step after the first goes ahead, at least one a token of the longest request.
    int32_t longest = 0;
    for (const Request& r : reqs) longest = std::max(longest, r.params.max_tokens);
    CHECK(async->launched_behind.size() >= static_cast<size_t>(longest - 1));
    CHECK_EQ(async->newest_entries > 0, penalties);
    if (penalties) {
      // The penalties do change these requests' tokens: without them each repeats itself.
      std::vector<Request> unpenalized = reqs;
      for (Request& r : unpenalized) r.params.repetition_penalty = 1.0, r.params.frequency_penalty = 0.0,
                                     r.params.presence_penalty = 0.0;
      LLMEngine plain_engine(config(256), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
      const Outcomes plain = run(plain_engine, unpenalized);
      for (const char* id : {"rep/0", "freq/0", "all/0"}) CHECK(plain.at(id).tokens != want.at(id).tokens);
    }
  }
}

// Aborts while two steps are in flight: the request ends with Abort at once, its usage counts
// only delivered tokens, the others are untouched and every block comes back.
void test_abort_in_flight() {
  const auto reqs = mixed_requests();
  const std::map<std::string, int> aborts = {{"r1", 5}, {"r8", 9}, {"shared-b", 12}};
  LLMEngine sync_engine(config(256), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
  LLMEngine async_engine(config(256), std::make_unique<AsyncSamplingBackend>(), facts());
  const Outcomes want = run(sync_engine, reqs), got = run(async_engine, reqs, aborts);
  for (const auto& [key, o] : got) {
    const std::string id = key.substr(0, key.find('/'));
    if (aborts.count(id)) {
      CHECK(o.finish == FinishReason::Abort);
      CHECK_EQ(static_cast<size_t>(o.completion_tokens), o.tokens.size());
      // What was delivered before the abort is what the synchronous run produced.
      CHECK(std::equal(o.tokens.begin(), o.tokens.end(), want.at(key).tokens.begin()));
    } else {
      CHECK(o == want.at(key));
    }
  }
  CHECK_EQ(async_engine.stats().kv_blocks_used, 0);
}

// The engine thread (start / stop) drives the same path to the end.
void test_engine_thread() {
  const auto reqs = mixed_requests();
  LLMEngine sync_engine(config(256), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
  const Outcomes want = run(sync_engine, reqs);
  LLMEngine e(config(256), std::make_unique<AsyncSamplingBackend>(), facts());
  std::mutex m;
  Outcomes got;
  e.start([&](StepOutput&& s) {
    std::lock_guard<std::mutex> lock(m);
    collect(s, got);
  });
  for (const auto& r : reqs) e.add_request(r.id, r.prompt, r.params);
  for (int i = 0; i < 2000 && e.has_unfinished(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  e.stop();
  CHECK(!e.has_unfinished());
  std::lock_guard<std::mutex> lock(m);
  CHECK(got == want);
}

// The engine thread stepping ahead while another thread adds and aborts requests (as the
// runner does): every request ends exactly once, aborted ones with Abort, the others with all
// their tokens, and every block comes back.
void test_concurrent_abort_and_add() {
  LLMEngine e(config(256), std::make_unique<AsyncSamplingBackend>(), facts());
  std::mutex m;
  std::map<std::string, int> finishes;
  std::map<std::string, size_t> tokens;
  std::map<std::string, FinishReason> reason;
  e.start([&](StepOutput&& s) {
    std::lock_guard<std::mutex> lock(m);
    CHECK(s.error.empty());
    for (const auto& d : s.deltas) {
      tokens[d.request_id] += d.token_ids.size();
      if (d.finish_reason != FinishReason::None) {
        ++finishes[d.request_id];
        reason[d.request_id] = d.finish_reason;
      }
    }
  });
  std::mt19937 rng(5);
  std::vector<std::string> ids;
  for (int i = 0; i < 60; ++i) {
    const std::string id = "c" + std::to_string(i);
    e.add_request(id, prompt(3 + i % 29, i % 5), greedy(5 + i % 17));
    ids.push_back(id);
    if (i % 3 == 2) e.abort(ids[rng() % ids.size()]); // sometimes one already finished
    std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 400));
  }
  for (int i = 0; i < 3000 && e.has_unfinished(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  e.stop();
  std::lock_guard<std::mutex> lock(m);
  for (int i = 0; i < 60; ++i) {
    const std::string& id = ids[static_cast<size_t>(i)];
    CHECK_EQ(finishes[id], 1);
    if (reason[id] != FinishReason::Abort) CHECK_EQ(tokens[id], static_cast<size_t>(5 + i % 17));
  }
  CHECK_EQ(e.stats().kv_blocks_used, 0);
}

// A device failure while two steps are in flight: the step output carries the error, every
// request ends with Abort, nothing stays launched, and the engine serves new requests after.
void test_device_failure_in_flight() {
  auto backend = std::make_unique<AsyncSamplingBackend>();
  AsyncSamplingBackend* async = backend.get();
  async->fail_at_collect = 6;
  LLMEngine e(config(256), std::move(backend), facts());
  const auto reqs = mixed_requests();
  for (const auto& r : reqs) e.add_request(r.id, r.prompt, r.params);
  std::string error;
  Outcomes out;
  for (int step = 0; step < 100 && error.empty(); ++step) {
    StepOutput s = e.step();
    error = s.error;
    if (error.empty()) collect(s, out);
    else {
      StepOutput copy = s;
      copy.error.clear();
      collect(copy, out);
    }
  }
  CHECK(error.find("device lost") != std::string::npos);
  CHECK(async->idle()); // the step launched ahead was collected and dropped
  CHECK(!e.has_unfinished());
  for (const auto& r : reqs) CHECK(out.at(r.id + "/0").finish != FinishReason::None);
  CHECK_EQ(e.stats().kv_blocks_used, 0);
  const Outcomes after = run(e, {{"after", prompt(9, 5), greedy(7)}});
  CHECK_EQ(after.at("after/0").tokens.size(), size_t{7});
}

} // namespace

int main() {
  test_same_results_as_synchronous(256);
  test_same_results_as_synchronous(24); // few blocks: preemption with placeholders in flight
  test_launch_ahead_behind_prompt_chunks();
  test_adjusted_steps_go_ahead();
  test_abort_in_flight();
  test_engine_thread();
  test_device_failure_in_flight();
  test_concurrent_abort_and_add();
  return finish_checks("async_sampling_test");
}
