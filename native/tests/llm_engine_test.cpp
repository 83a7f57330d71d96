// LLMEngine over the deterministic TestBackend: batching, preemption and prefix caching give
// the tokens each request gets alone; abort frees blocks at once; settings and requests are
// checked with messages that say what to change; the threaded loop emits one callback a step.
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "check.h"
#include "engine/llm_engine.h"
#include "test_backend.h"

using namespace pagoda;

namespace {

constexpr int32_t kVocab = 64;
constexpr int32_t kEos = 0;

ModelFacts facts() { return testing::test_model_facts(kVocab, kEos); }

EngineConfig config(int32_t blocks = 256) { return testing::test_engine_config(blocks, 64, 16); }

std::unique_ptr<LLMEngine> make_engine(EngineConfig c) {
  return std::make_unique<LLMEngine>(c, std::make_unique<testing::TestBackend>(kVocab), facts());
}

std::vector<int32_t> prompt(int32_t len, int32_t salt) { return testing::test_prompt(len, salt, kVocab); }

SamplingParams greedy(int32_t max_tokens) { return testing::test_greedy(max_tokens); }

using Outputs = std::map<std::string, std::vector<int32_t>>;

// Steps until idle, collecting tokens per "request/index".
Outputs run_to_end(LLMEngine& e, int max_steps = 10000) {
  Outputs out;
  for (int i = 0; i < max_steps && e.has_unfinished(); ++i) {
    for (const SequenceDelta& d : e.step().deltas) {
      auto& v = out[d.request_id + "/" + std::to_string(d.index)];
      v.insert(v.end(), d.token_ids.begin(), d.token_ids.end());
    }
  }
  CHECK(!e.has_unfinished());
  return out;
}

std::vector<int32_t> alone(const std::vector<int32_t>& p, const SamplingParams& sp) {
  auto e = make_engine(config());
  e->add_request("x", p, sp);
  return run_to_end(*e)["x/0"];
}

void test_batch_equals_alone_and_preemption() {
  std::map<std::string, std::vector<int32_t>> prompts;
  std::map<std::string, std::vector<int32_t>> expected;
  for (int i = 0; i < 12; ++i) {
    std::string id = "r" + std::to_string(i);
    prompts[id] = prompt(3 + i * 5, i);
    expected[id] = alone(prompts[id], greedy(10 + i));
  }
  for (int32_t blocks : {256, 20}) { // 20 blocks of 4: far too few for all at once
    EngineConfig c = config(blocks);
    if (blocks == 20) c.max_model_len = 80;
    auto e = make_engine(c);
    for (const auto& kv : prompts) e->add_request(kv.first, kv.second, greedy(10 + std::stoi(kv.first.substr(1))));
    Outputs got = run_to_end(*e);
    for (const auto& kv : expected) CHECK(got[kv.first + "/0"] == kv.second);
    EngineStats s = e->stats();
    if (blocks == 20) CHECK(s.num_preemptions > 0);
    else CHECK_EQ(s.num_preemptions, int64_t{0});
    CHECK_EQ(s.kv_blocks_used, 0);
  }
}

void test_prefix_cache_hit_same_tokens() {
  auto e = make_engine(config());
  auto p = prompt(40, 3);
  e->add_request("a", p, greedy(8));
  Outputs first = run_to_end(*e);
  EngineStats before = e->stats();
  e->add_request("b", p, greedy(8));
  Outputs second = run_to_end(*e);
  EngineStats after = e->stats();
  CHECK(first["a/0"] == second["b/0"]);
  CHECK_EQ(after.prefix_cache_hits - before.prefix_cache_hits, int64_t{36}); // 9 full blocks of 4
  CHECK(after.prefix_cache_queries - before.prefix_cache_queries >= 40);
}

void test_abort_frees_blocks_immediately() {
  auto e = make_engine(config());
  for (int i = 0; i < 6; ++i) e->add_request("q" + std::to_string(i), prompt(9, i), greedy(30));
  for (int i = 0; i < 3; ++i) e->step();
  int32_t used = e->stats().kv_blocks_used;
  CHECK(used > 0);
  for (int i = 0; i < 3; ++i) CHECK(e->abort("q" + std::to_string(i)));
  CHECK(e->stats().kv_blocks_used < used);
  CHECK(!e->abort("q0"));
  StepOutput out = e->step();
  int aborted = 0;
  for (const auto& d : out.deltas) {
    if (d.finish_reason == FinishReason::Abort) {
      ++aborted;
      CHECK(d.request_finished);
      CHECK(d.token_ids.empty());
    }
  }
  CHECK_EQ(aborted, 3);
  Outputs rest = run_to_end(*e);
  for (int i = 3; i < 6; ++i) {
    std::string id = "q" + std::to_string(i);
    auto full = alone(prompt(9, i), greedy(30));
    // Four tokens came before run_to_end started collecting.
    CHECK_EQ(rest[id + "/0"].size(), size_t{26});
    CHECK(std::equal(rest[id + "/0"].begin(), rest[id + "/0"].end(), full.begin() + 4));
  }
  for (int i = 0; i < 3; ++i) CHECK_EQ(rest.count("q" + std::to_string(i) + "/0"), size_t{0});
}

void test_stops_and_usage() {
  auto e = make_engine(config());
  auto p = prompt(7, 1);
  auto reference = alone(p, greedy(12));
  SamplingParams sp = greedy(12);
  sp.stop_token_ids = {reference[4]};
  sp.logprobs = 2;
  e->add_request("s", p, sp);
  std::vector<SequenceDelta> deltas;
  while (e->has_unfinished()) for (auto& d : e->step().deltas) deltas.push_back(d);
  const SequenceDelta& last = deltas.back();
  CHECK(last.finish_reason == FinishReason::Stop);
  CHECK_EQ(last.stop_token_id, reference[4]);
  size_t first_hit = std::find(reference.begin(), reference.end(), reference[4]) - reference.begin();
  CHECK_EQ(last.completion_tokens, static_cast<int32_t>(first_hit + 1));
  CHECK_EQ(last.prompt_tokens, 7);
  for (const auto& d : deltas) {
    CHECK(d.has_logprobs);
    CHECK_EQ(d.logprobs.size(), d.token_ids.size());
    if (!d.logprobs.empty()) CHECK_EQ(d.logprobs[0].top.size(), size_t{2});
  }
  // EOS ends a request unless ignore_eos; the EOS token is the last output token.
  bool eos_case_found = false;
  for (int32_t salt = 0; salt < 50 && !eos_case_found; ++salt) {
    auto q = prompt(6, salt);
    auto free_run = alone(q, greedy(200));
    auto at = std::find(free_run.begin(), free_run.end(), kEos);
    if (at == free_run.end() || at - free_run.begin() < 2) continue;
    SamplingParams eos = greedy(200);
    eos.ignore_eos = false;
    e->add_request("eos", q, eos);
    std::vector<int32_t> toks;
    SequenceDelta fin;
    while (e->has_unfinished()) {
      for (auto& d : e->step().deltas) {
        toks.insert(toks.end(), d.token_ids.begin(), d.token_ids.end());
        fin = d;
      }
    }
    CHECK(fin.finish_reason == FinishReason::Stop);
    CHECK_EQ(fin.stop_token_id, kEos);
    CHECK(toks == std::vector<int32_t>(free_run.begin(), at + 1));
    // min_tokens past the EOS position masks it: the run goes on.
    eos.min_tokens = static_cast<int32_t>(at - free_run.begin()) + 2;
    e->add_request("eos-min", q, eos);
    int32_t n = 0;
    while (e->has_unfinished()) for (auto& d : e->step().deltas) n += static_cast<int32_t>(d.token_ids.size());
    CHECK(n >= eos.min_tokens);
    eos_case_found = true;
  }
  CHECK(eos_case_found);
  // Length finish.
  e->add_request("l", p, greedy(5));
  SequenceDelta end;
  while (e->has_unfinished()) for (auto& d : e->step().deltas) end = d;
  CHECK(end.finish_reason == FinishReason::Length);
  CHECK_EQ(end.completion_tokens, 5);
}

void test_seed_is_batch_independent_and_n() {
  SamplingParams sp;
  sp.temperature = 0.9;
  sp.seed = 42;
  sp.max_tokens = 16;
  sp.ignore_eos = true;
  auto p = prompt(10, 5);
  auto solo = alone(p, sp);
  auto e = make_engine(config());
  for (int i = 0; i < 5; ++i) {
    SamplingParams other = sp;
    other.seed.reset();
    e->add_request("noise" + std::to_string(i), prompt(6 + i, i), other);
  }
  e->add_request("seeded", p, sp);
  Outputs got = run_to_end(*e);
  CHECK(got["seeded/0"] == solo);
  // n = 3: three outputs; the siblings share the prompt's full blocks through the cache.
  SamplingParams n3 = sp;
  n3.n = 3;
  auto en = make_engine(config());
  en->add_request("n", prompt(21, 9), n3);
  Outputs outs = run_to_end(*en);
  CHECK_EQ(outs.size(), size_t{3});
  CHECK(outs["n/0"] != outs["n/1"]);
  for (const auto& kv : outs) CHECK_EQ(kv.second.size(), size_t{16});
  CHECK_EQ(en->stats().prefix_cache_hits, int64_t{2 * 20});
}

void test_config_validation() {
  EngineConfig c = config();
  c.max_model_len = 1000;
  CHECK_THROWS_WITH(make_engine(c), "lower max_model_len to <= 256");
  c = config(10); // 40 tokens of KV < 256
  CHECK_THROWS_WITH(make_engine(c), "can hold 40 tokens; lower max_model_len to <= 40");
  c = config();
  c.enable_chunked_prefill = false;
  c.max_num_batched_tokens = 100;
  CHECK_THROWS_WITH(make_engine(c), "max_num_batched_tokens (100) is smaller than max_model_len (256)");
  c = config();
  c.block_size = 0;
  CHECK_THROWS_WITH(make_engine(c), "block_size");
  c = config();
  c.gpu_memory_utilization = 1.5;
  CHECK_THROWS_WITH(make_engine(c), "gpu_memory_utilization");
}

void test_request_validation_keeps_engine_usable() {
  auto e = make_engine(config());
  CHECK_THROWS_WITH(e->add_request("a", prompt(250, 1), greedy(10)),
                    "maximum context length is 256");
  CHECK_THROWS_WITH(e->add_request("a", {}, greedy(10)), "at least one token");
  CHECK_THROWS_WITH(e->add_request("a", {1, kVocab}, greedy(10)), "outside the vocabulary");
  SamplingParams bad = greedy(10);
  bad.top_p = 2;
  CHECK_THROWS_WITH(e->add_request("a", prompt(5, 1), bad), "top_p");
  e->add_request("a", prompt(5, 1), greedy(3));
  CHECK_THROWS_WITH(e->add_request("a", prompt(5, 1), greedy(3)), "already in use");
  Outputs out = run_to_end(*e);
  CHECK_EQ(out["a/0"].size(), size_t{3});
  // Without max_tokens the request may run to max_model_len.
  SamplingParams open = greedy(-1);
  e->add_request("b", prompt(250, 1), open);
  CHECK_EQ(run_to_end(*e)["b/0"].size(), size_t{6});
}

void test_threaded_loop_one_callback_per_step() {
  auto e = make_engine(config());
  std::mutex m;
  std::vector<size_t> per_call;
  std::atomic<int> finished{0};
  for (int i = 0; i < 8; ++i) e->add_request("t" + std::to_string(i), prompt(5, i), greedy(20));
  e->start([&](StepOutput&& out) {
    std::lock_guard<std::mutex> lock(m);
    per_call.push_back(out.deltas.size());
    for (const auto& d : out.deltas) if (d.request_finished) ++finished;
  });
  // A request added while the loop runs is picked up too.
  e->add_request("late", prompt(5, 99), greedy(5));
  for (int i = 0; i < 500 && finished < 9; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  e->stop();
  CHECK_EQ(finished.load(), 9);
  size_t most = 0;
  for (size_t n : per_call) most = std::max(most, n);
  CHECK(most > 1); // several sequences' tokens arrive in one callback
  CHECK(per_call.size() <= 20 + 5);
}

// A token mask allowing only tokens t with t % 3 == r (and never EOS 0 unless r == 0).
std::vector<uint32_t> mask_mod3(int32_t r) {
  std::vector<uint32_t> m((kVocab + 31) / 32, 0u);
  for (int32_t t = 0; t < kVocab; ++t)
    if (t % 3 == r) m[t / 32] |= 1u << (t % 32);
  return m;
}

// Structured output: a constrained request samples each position only under its mask, which a
// second thread (the runner's grammar) sends after seeing the previous token; unconstrained
// requests beside it get exactly the tokens they get alone.
void test_token_masks_threaded() {
  auto e = make_engine(config());
  SamplingParams c = greedy(12);
  c.constrained = true;
  const std::vector<int32_t> free_alone = alone(prompt(6, 3), greedy(12));
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::pair<int32_t, int32_t>> seen; // (position, token) of the constrained request
  std::vector<int32_t> free_tokens;
  bool done = false;
  e->add_request("c", prompt(5, 1), c);
  e->add_request("free", prompt(6, 3), greedy(12));
  e->set_token_mask("c", 0, 0, mask_mod3(1).data(), mask_mod3(1).size());
  e->start([&](StepOutput&& out) {
    std::lock_guard<std::mutex> lock(m);
    for (const auto& d : out.deltas) {
      if (d.request_id == "free") free_tokens.insert(free_tokens.end(), d.token_ids.begin(), d.token_ids.end());
      if (d.request_id != "c") continue;
      for (int32_t t : d.token_ids) seen.emplace_back(static_cast<int32_t>(seen.size()), t);
      if (d.finish_reason != FinishReason::None) done = true;
    }
    cv.notify_all();
  });
  // The grammar thread: after token k, the mask for position k + 1 alternates residues 1, 2.
  size_t sent = 0;
  {
    std::unique_lock<std::mutex> lock(m);
    while (!done) {
      cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return done || seen.size() > sent; });
      while (sent < seen.size() && !done) {
        ++sent;
        const auto mask = mask_mod3(sent % 2 ? 2 : 1);
        lock.unlock();
        e->set_token_mask("c", 0, static_cast<int32_t>(sent), mask.data(), mask.size());
        lock.lock();
      }
    }
  }
  for (int i = 0; i < 200 && free_tokens.size() < free_alone.size(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  e->stop();
  CHECK_EQ(seen.size(), size_t{12});
  for (const auto& [pos, tok] : seen) CHECK_EQ(tok % 3, pos % 2 ? 2 : 1);
  CHECK(free_tokens == free_alone);
  CHECK_THROWS_WITH(e->set_token_mask("free", 0, 0, mask_mod3(1).data(), 1), "words");
}

// A mask that never comes (its sender died) aborts that request after the timeout, and the
// others go on; a stopped engine does not hang on it.
void test_token_mask_timeout_aborts() {
  auto e = make_engine(config());
  e->set_token_mask_timeout(0.05);
  SamplingParams c = greedy(4);
  c.constrained = true;
  e->add_request("waits", prompt(5, 2), c);
  e->add_request("free", prompt(5, 4), greedy(4));
  Outputs out;
  FinishReason waits_finish = FinishReason::None;
  for (int i = 0; i < 100 && e->has_unfinished(); ++i) {
    for (const SequenceDelta& d : e->step().deltas) {
      out[d.request_id].insert(out[d.request_id].end(), d.token_ids.begin(), d.token_ids.end());
      if (d.request_id == "waits" && d.finish_reason != FinishReason::None) waits_finish = d.finish_reason;
    }
  }
  CHECK(waits_finish == FinishReason::Abort);
  CHECK(out["waits"].empty());
  CHECK_EQ(out["free"].size(), size_t{4});
}

// logit_bias: +100 on a token makes greedy pick it; a bad id or bias is refused by name.
void test_logit_bias() {
  auto e = make_engine(config());
  SamplingParams p = greedy(3);
  p.logit_bias = {{7, 100.0f}};
  e->add_request("b", prompt(5, 6), p);
  Outputs out = run_to_end(*e);
  CHECK(out["b/0"] == std::vector<int32_t>({7, 7, 7}));
  p.logit_bias = {{kVocab, 1.0f}};
  CHECK_THROWS_WITH(e->add_request("bad", prompt(5, 6), p), "logit_bias");
  p.logit_bias = {{3, 101.0f}};
  CHECK_THROWS_WITH(e->add_request("bad", prompt(5, 6), p), "logit_bias");
}

// Prompt logprobs (echo): scoring prompt P + G, where G is what greedy generated from P, gives at
// G's positions the logprobs the generation reported, through chunked prefill and with P's blocks
// in the prefix cache (a prompt-logprob request computes its prompt anew).
void test_prompt_logprobs_match_generation() {
  EngineConfig c = testing::test_engine_config(256, 8, 4); // 8 tokens a step: the prompt spans chunks
  auto e = make_engine(c);
  SamplingParams gen = greedy(6);
  gen.logprobs = 2;
  const std::vector<int32_t> p = prompt(21, 8);
  e->add_request("gen", p, gen);
  std::vector<int32_t> g;
  std::vector<TokenLogprobs> g_lp;
  while (e->has_unfinished())
    for (const SequenceDelta& d : e->step().deltas) {
      g.insert(g.end(), d.token_ids.begin(), d.token_ids.end());
      g_lp.insert(g_lp.end(), d.logprobs.begin(), d.logprobs.end());
    }
  std::vector<int32_t> scored = p;
  scored.insert(scored.end(), g.begin(), g.end());
  SamplingParams echo = greedy(1);
  echo.prompt_logprobs = 2;
  e->add_request("echo", scored, echo);
  std::vector<TokenLogprobs> lp;
  int deltas_with_prompt = 0;
  while (e->has_unfinished())
    for (const SequenceDelta& d : e->step().deltas) {
      if (!d.prompt_logprobs.empty()) ++deltas_with_prompt;
      lp.insert(lp.end(), d.prompt_logprobs.begin(), d.prompt_logprobs.end());
    }
  CHECK_EQ(lp.size(), scored.size() - 1);
  CHECK(deltas_with_prompt > 1); // chunked
  for (size_t k = 0; k < g.size(); ++k) {
    const TokenLogprobs& a = lp[p.size() - 1 + k];
    CHECK(std::fabs(a.logprob - g_lp[k].logprob) < 1e-5f);
    CHECK(a.top.size() == 2 && a.top[0].first == g_lp[k].top[0].first);
  }
  CHECK_THROWS_WITH(
      [&] {
        SamplingParams bad = greedy(1);
        bad.prompt_logprobs = 21;
        e->add_request("bad", p, bad);
      }(),
      "prompt_logprobs");
}

} // namespace

int main() {
  test_prompt_logprobs_match_generation();
  test_token_masks_threaded();
  test_token_mask_timeout_aborts();
  test_logit_bias();
  test_batch_equals_alone_and_preemption();
  test_prefix_cache_hit_same_tokens();
  test_abort_frees_blocks_immediately();
  test_stops_and_usage();
  test_seed_is_batch_independent_and_n();
  test_config_validation();
  test_request_validation_keeps_engine_usable();
  test_threaded_loop_one_callback_per_step();
  return finish_checks("llm_engine_test");
}
