// The engine's path for backends that sample where their logits are (Backend::forward_sampled):
// over a TestBackend that samples by the GPU kernel's rules on the host, requests get the
// tokens and logprobs of the host Sampler (penalties and min_tokens included, through the
// step's logit adjustments, and top-n logprobs), and seeded draws stay batch-independent.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "check.h"
#include "engine/llm_engine.h"
#include "device_sampling_backend.h"
#include "test_backend.h"

using namespace pagoda;
using pagoda::testing::DeviceSamplingBackend;

namespace {

constexpr int32_t kVocab = 64;

ModelFacts facts() { return testing::test_model_facts(kVocab, 0); }

EngineConfig config() { return testing::test_engine_config(256, 64, 16); }

std::vector<int32_t> prompt(int32_t len, int32_t salt) { return testing::test_prompt(len, salt, kVocab); }

SamplingParams params(double temperature, int32_t max_tokens, uint64_t seed) {
  SamplingParams p;
  p.temperature = temperature;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  p.seed = seed;
  return p;
}

struct Result {
  std::map<std::string, std::vector<int32_t>> tokens;
  std::map<std::string, std::vector<float>> logprobs;
  std::map<std::string, std::vector<int32_t>> top; // top logprob ids, every step's in order
  std::map<std::string, std::vector<float>> top_logprobs;
};

struct Request {
  std::string id;
  std::vector<int32_t> prompt;
  SamplingParams params;
};

Result run(LLMEngine& e, const std::vector<Request>& reqs) {
  for (const auto& r : reqs) e.add_request(r.id, r.prompt, r.params);
  Result out;
  for (int i = 0; i < 10000 && e.has_unfinished(); ++i) {
    StepOutput s = e.step();
    CHECK(s.error.empty());
    for (const auto& d : s.deltas) {
      auto& t = out.tokens[d.request_id];
      t.insert(t.end(), d.token_ids.begin(), d.token_ids.end());
      for (const auto& lp : d.logprobs) {
        out.logprobs[d.request_id].push_back(lp.logprob);
        for (const auto& [id, value] : lp.top) {
          out.top[d.request_id].push_back(id);
          out.top_logprobs[d.request_id].push_back(value);
        }
      }
    }
  }
  CHECK(!e.has_unfinished());
  return out;
}

void test_same_tokens_as_host_sampler() {
  std::vector<Request> reqs;
  for (int i = 0; i < 6; ++i) reqs.push_back({"g" + std::to_string(i), prompt(3 + 4 * i, i), params(0.0, 12, 1)});
  for (int i = 0; i < 6; ++i) reqs.push_back({"t" + std::to_string(i), prompt(5 + 3 * i, 20 + i), params(0.8, 12, 7 + i)});
  reqs[0].params.logprobs = 0;
  reqs[7].params.logprobs = 0;
  LLMEngine host(config(), std::make_unique<testing::TestBackend>(kVocab), facts());
  auto backend = std::make_unique<DeviceSamplingBackend>(kVocab);
  DeviceSamplingBackend* dev = backend.get();
  LLMEngine device(config(), std::move(backend), facts());
  const Result want = run(host, reqs), got = run(device, reqs);
  CHECK(dev->sampled_steps > 0);
  CHECK_EQ(dev->num_forwards, 0); // every step sampled on the "device"
  for (const auto& r : reqs) {
    CHECK_EQ(got.tokens.at(r.id).size(), size_t{12});
    CHECK(got.tokens.at(r.id) == want.tokens.at(r.id)); // same draws from the same generators
  }
  for (const char* id : {"g0", "t1"}) {
    CHECK_EQ(got.logprobs.at(id).size(), size_t{12});
    for (size_t k = 0; k < 12; ++k) CHECK(std::fabs(got.logprobs.at(id)[k] - want.logprobs.at(id)[k]) < 1e-4);
  }
}

void test_seeded_alone_equals_batched() {
  const Request seeded{"s", prompt(9, 3), params(1.1, 20, 42)};
  LLMEngine solo(config(), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
  const auto alone = run(solo, {seeded}).tokens.at("s");
  std::vector<Request> reqs = {seeded};
  for (int i = 0; i < 5; ++i) reqs.push_back({"n" + std::to_string(i), prompt(4 + i, i), params(0.9, 15, 100 + i)});
  LLMEngine batched(config(), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
  CHECK(run(batched, reqs).tokens.at("s") == alone);
}

// Penalties and min_tokens are applied where the logits are, with the host Sampler's results.
void test_penalties_and_min_tokens_on_device() {
  std::vector<Request> reqs = {{"a", prompt(6, 1), params(0.0, 10, 1)},
                               {"rep", prompt(8, 2), params(0.0, 14, 1)},
                               {"freq", prompt(5, 3), params(0.7, 14, 5)},
                               {"min", prompt(4, 4), params(0.0, 12, 1)}};
  reqs[1].params.repetition_penalty = 1.3;
  reqs[2].params.frequency_penalty = 0.9;
  reqs[2].params.presence_penalty = 0.4;
  reqs[2].params.logprobs = 0;
  reqs[3].params.ignore_eos = false; // EOS (token 0) and token 5 masked for the first 8 tokens
  reqs[3].params.min_tokens = 8;
  reqs[3].params.stop_token_ids = {5};
  LLMEngine host(config(), std::make_unique<testing::TestBackend>(kVocab), facts());
  auto backend = std::make_unique<DeviceSamplingBackend>(kVocab);
  DeviceSamplingBackend* dev = backend.get();
  LLMEngine device(config(), std::move(backend), facts());
  const Result want = run(host, reqs), got = run(device, reqs);
  CHECK_EQ(dev->num_forwards, 0); // every step sampled on the "device"
  CHECK(dev->adjusted_logits > 0);
  CHECK(got.tokens == want.tokens);
  CHECK_EQ(got.tokens.at("min").size() >= size_t{8}, true);
  for (size_t k = 0; k < got.logprobs.at("freq").size(); ++k)
    CHECK(std::fabs(got.logprobs.at("freq")[k] - want.logprobs.at("freq")[k]) < 1e-4); // raw logprobs
  // The penalties change what is sampled: without them the same prompt gives other tokens.
  std::vector<Request> plain = {reqs[1]};
  plain[0].params.repetition_penalty = 1.0;
  LLMEngine unpenalized(config(), std::make_unique<DeviceSamplingBackend>(kVocab), facts());
  CHECK(run(unpenalized, plain).tokens.at("rep") != got.tokens.at("rep"));
}

// Top-n logprobs come from the device too: the same tokens and values as the host Sampler's.
void test_top_logprobs_on_device() {
  std::vector<Request> reqs = {{"a", prompt(6, 1), params(0.0, 10, 1)}, {"top", prompt(8, 2), params(0.9, 10, 3)}};
  reqs[1].params.logprobs = 5;
  reqs[1].params.repetition_penalty = 1.2; // top logprobs stay those of the raw logits
  LLMEngine host(config(), std::make_unique<testing::TestBackend>(kVocab), facts());
  auto backend = std::make_unique<DeviceSamplingBackend>(kVocab);
  DeviceSamplingBackend* dev = backend.get();
  LLMEngine device(config(), std::move(backend), facts());
  reqs[0].params.logprobs = -1;
  const Result want = run(host, reqs), got = run(device, reqs);
  CHECK_EQ(dev->num_forwards, 0);
  CHECK(got.tokens == want.tokens);
  CHECK(got.top == want.top);
  CHECK_EQ(got.top.at("top").size(), size_t{10 * 5});
  for (size_t k = 0; k < got.top_logprobs.at("top").size(); ++k)
    CHECK(std::fabs(got.top_logprobs.at("top")[k] - want.top_logprobs.at("top")[k]) < 1e-4);
}

} // namespace

int main() {
  test_same_tokens_as_host_sampler();
  test_seeded_alone_equals_batched();
  test_penalties_and_min_tokens_on_device();
  test_top_logprobs_on_device();
  return finish_checks("device_sampling_test");
}
