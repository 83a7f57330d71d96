// Sampler: greedy, penalties as vLLM defines them, min_tokens masking, top_k / top_p /
// min_p truncation, seeded draws that depend only on the sequence's own RNG, raw logprobs.
#include <cmath>
#include <map>
#include <memory>

#include "check.h"
#include "engine/sampler.h"
#include "engine/sampling_params.h"

using namespace pagoda;

namespace {

constexpr int32_t kVocab = 8;
constexpr int32_t kEos = 2;

Sequence make_seq(SamplingParams p, std::vector<int32_t> prompt, std::vector<int32_t> output = {},
                  uint64_t seed = 1) {
  Sequence s;
  s.token_ids = prompt;
  s.num_prompt_tokens = static_cast<int32_t>(prompt.size());
  s.token_ids.insert(s.token_ids.end(), output.begin(), output.end());
  s.params = std::make_shared<SamplingParams>(p);
  s.rng.seed(seed);
  return s;
}

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0;
  return p;
}

bool near(double a, double b, double tol = 1e-5) { return std::fabs(a - b) <= tol; }

void test_greedy_picks_argmax() {
  Sampler sampler(kVocab, {kEos});
  std::vector<float> logits = {0.1f, 3.0f, 0.5f, 2.9f, -1.0f, 0.0f, 0.0f, 0.0f};
  Sequence s = make_seq(greedy(), {5});
  CHECK_EQ(sampler.sample(logits.data(), s).token_id, 1);
}

void test_repetition_penalty() {
  Sampler sampler(kVocab, {kEos});
  // Token 1 (positive logit, in the prompt) is divided; token 4 (negative, in the output) multiplied.
  std::vector<float> logits = {0.0f, 3.0f, 0.0f, 2.0f, -1.0f, 0.0f, 0.0f, 0.0f};
  SamplingParams p = greedy();
  p.repetition_penalty = 2.0;
  p.logprobs = 0;
  Sequence s = make_seq(p, {1}, {4});
  SampledToken t = sampler.sample(logits.data(), s);
  CHECK_EQ(t.token_id, 3); // 3.0 / 2 = 1.5 < 2.0
  // Logprobs come from the unmodified logits.
  double z = 0.0;
  for (float v : logits) z += std::exp(v);
  CHECK(near(t.logprobs.logprob, 2.0 - std::log(z)));
}

void test_presence_and_frequency_penalties_use_output_only() {
  Sampler sampler(kVocab, {kEos});
  std::vector<float> logits = {0.0f, 0.0f, 0.0f, 2.0f, 1.5f, 0.0f, 0.0f, 0.0f};
  SamplingParams p = greedy();
  p.frequency_penalty = 0.2;
  p.presence_penalty = 0.05;
  // Token 3 twice in the output: 2.0 - 2*0.2 - 0.05 = 1.55 > 1.5: still chosen.
  Sequence s = make_seq(p, {4, 4, 4}, {3, 3});
  CHECK_EQ(sampler.sample(logits.data(), s).token_id, 3);
  // Three times: 2.0 - 0.6 - 0.05 = 1.35 < 1.5 (token 4 only in the prompt: untouched).
  Sequence s3 = make_seq(p, {4, 4, 4}, {3, 3, 3});
  CHECK_EQ(sampler.sample(logits.data(), s3).token_id, 4);
  // The sampler's scratch state is clean between calls: the first case again.
  Sequence again = make_seq(p, {4, 4, 4}, {3, 3});
  CHECK_EQ(sampler.sample(logits.data(), again).token_id, 3);
}

void test_min_tokens_masks_eos_and_stop_ids() {
  Sampler sampler(kVocab, {kEos});
  std::vector<float> logits = {0.0f, 0.0f, 9.0f, 0.0f, 0.0f, 8.0f, 1.0f, 0.0f};
  SamplingParams p = greedy();
  p.min_tokens = 2;
  p.stop_token_ids = {5};
  Sequence s = make_seq(p, {1}, {6});
  CHECK_EQ(sampler.sample(logits.data(), s).token_id, 6); // EOS (2) and stop id (5) masked
  Sequence done = make_seq(p, {1}, {6, 6});
  CHECK_EQ(sampler.sample(logits.data(), done).token_id, kEos);
  // ignore_eos leaves EOS alone for masking purposes but stop ids are still masked.
  p.ignore_eos = true;
  Sequence ig = make_seq(p, {1}, {6});
  CHECK_EQ(sampler.sample(logits.data(), ig).token_id, kEos);
}

void test_top_k_one_is_greedy_and_seed_reproduces() {
  Sampler sampler(kVocab, {kEos});
  std::vector<float> logits = {0.3f, 0.2f, 0.1f, 0.9f, 0.8f, 0.0f, 0.0f, 0.7f};
  SamplingParams p;
  p.temperature = 1.0;
  p.top_k = 1;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sequence s = make_seq(p, {1}, {}, seed);
    CHECK_EQ(sampler.sample(logits.data(), s).token_id, 3);
  }
  p.top_k = -1;
  std::vector<int32_t> first, second;
  for (int run = 0; run < 2; ++run) {
    Sequence s = make_seq(p, {1}, {}, 1234);
    auto& out = run == 0 ? first : second;
    for (int i = 0; i < 50; ++i) {
      // Other sequences sampled in between must not disturb this one's stream.
      Sequence other = make_seq(p, {2}, {}, static_cast<uint64_t>(run * 100 + i));
      sampler.sample(logits.data(), other);
      out.push_back(sampler.sample(logits.data(), s).token_id);
      s.token_ids.push_back(out.back());
    }
  }
  CHECK(first == second);
}

// Empirical frequencies follow the truncated, renormalized distribution.
void test_top_p_and_min_p_distribution() {
  Sampler sampler(kVocab, {kEos});
  // Probabilities 0.5, 0.25, 0.125, 0.0625, ... (logits are log2 steps).
  std::vector<float> logits(kVocab);
  for (int32_t i = 0; i < kVocab; ++i) logits[i] = -static_cast<float>(i) * std::log(2.0f);
  SamplingParams p;
  p.top_p = 0.7; // keeps tokens 0 and 1 (0.5 + 0.25 >= 0.7)
  Sequence s = make_seq(p, {1}, {}, 99);
  std::map<int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[sampler.sample(logits.data(), s).token_id];
  CHECK_EQ(counts.size(), size_t{2});
  CHECK(near(counts[0] / double(n), 2.0 / 3.0, 0.02));
  SamplingParams q;
  q.min_p = 0.2; // keeps tokens with p >= 0.2 * 0.5: tokens 0, 1, 2
  Sequence m = make_seq(q, {1}, {}, 7);
  counts.clear();
  for (int i = 0; i < n; ++i) ++counts[sampler.sample(logits.data(), m).token_id];
  CHECK_EQ(counts.size(), size_t{3});
  CHECK(near(counts[2] / double(n), 1.0 / 7.0, 0.02));
  // Temperature 2 flattens: p ∝ 2^(-i/2) over all 8 tokens.
  SamplingParams t;
  t.temperature = 2.0;
  Sequence ts = make_seq(t, {1}, {}, 3);
  counts.clear();
  for (int i = 0; i < n; ++i) ++counts[sampler.sample(logits.data(), ts).token_id];
  double z = 0.0;
  for (int i = 0; i < kVocab; ++i) z += std::pow(2.0, -i / 2.0);
  CHECK(near(counts[0] / double(n), 1.0 / z, 0.02));
}

// top_k then top_p over the kept mass; a wide top_p set (more than the first sorted prefix).
void test_top_k_with_top_p_and_wide_top_p() {
  Sampler sampler(kVocab, {kEos});
  std::vector<float> logits(kVocab);
  for (int32_t i = 0; i < kVocab; ++i) logits[i] = -static_cast<float>(i) * std::log(2.0f);
  SamplingParams p;
  p.top_k = 3;    // 0.5, 0.25, 0.125 kept: mass 0.875
  p.top_p = 0.8;  // 0.8 * 0.875 = 0.7: tokens 0 and 1
  Sequence s = make_seq(p, {1}, {}, 5);
  std::map<int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[sampler.sample(logits.data(), s).token_id];
  CHECK_EQ(counts.size(), size_t{2});
  CHECK(near(counts[1] / double(n), 1.0 / 3.0, 0.02));

  const int32_t wide = 1000;
  Sampler flat(wide, {kEos});
  std::vector<float> same(wide, 0.0f);
  SamplingParams half;
  half.top_p = 0.5; // equal probabilities: exactly the 500 lowest ids (ties break by id)
  Sequence f = make_seq(half, {1}, {}, 8);
  std::map<int32_t, int> seen;
  for (int i = 0; i < n; ++i) ++seen[flat.sample(same.data(), f).token_id];
  CHECK(seen.rbegin()->first < 500);
  CHECK(seen.size() > 450);
}

void test_top_logprobs() {
  Sampler sampler(kVocab, {kEos});
  std::vector<float> logits = {0.0f, 1.0f, 4.0f, 3.0f, 2.0f, 0.0f, 0.0f, 0.0f};
  SamplingParams p = greedy();
  p.logprobs = 3;
  Sequence s = make_seq(p, {1});
  SampledToken t = sampler.sample(logits.data(), s);
  CHECK(t.has_logprobs);
  CHECK_EQ(t.logprobs.top.size(), size_t{3});
  CHECK_EQ(t.logprobs.top[0].first, 2);
  CHECK_EQ(t.logprobs.top[1].first, 3);
  CHECK_EQ(t.logprobs.top[2].first, 4);
  CHECK(near(t.logprobs.top[0].second, t.logprobs.logprob));
  CHECK(near(t.logprobs.top[0].second - t.logprobs.top[1].second, 1.0));
  double total = 0.0;
  for (float v : logits) total += std::exp(v + t.logprobs.logprob - 4.0f);
  CHECK(near(total, 1.0, 1e-4));
  CHECK_EQ(t.logprobs.rank, 1);
  // prompt logprobs: the rank counts the tokens strictly more likely (tied ones share it)
  CHECK_EQ(sampler.logprobs_of(logits.data(), 4, 0).rank, 3);
  CHECK_EQ(sampler.logprobs_of(logits.data(), 1, 0).rank, 4);
  CHECK_EQ(sampler.logprobs_of(logits.data(), 0, 0).rank, 5);
  CHECK_EQ(sampler.logprobs_of(logits.data(), 7, 0).rank, 5);
}

void test_validation_names_the_parameter() {
  auto bad = [](auto mutate, const char* needle) {
    SamplingParams p;
    mutate(p);
    CHECK_THROWS_WITH(validate_sampling_params(p, kVocab), needle);
  };
  bad([](SamplingParams& p) { p.temperature = -0.5; }, "temperature");
  bad([](SamplingParams& p) { p.top_p = 0.0; }, "top_p");
  bad([](SamplingParams& p) { p.top_p = 1.5; }, "top_p");
  bad([](SamplingParams& p) { p.top_k = 0; }, "top_k");
  bad([](SamplingParams& p) { p.top_k = -2; }, "top_k");
  bad([](SamplingParams& p) { p.min_p = 1.5; }, "min_p");
  bad([](SamplingParams& p) { p.n = 0; }, "n must be");
  bad([](SamplingParams& p) { p.repetition_penalty = 0.0; }, "repetition_penalty");
  bad([](SamplingParams& p) { p.presence_penalty = 2.5; }, "presence_penalty");
  bad([](SamplingParams& p) { p.frequency_penalty = -3; }, "frequency_penalty");
  bad([](SamplingParams& p) { p.logprobs = 21; }, "logprobs");
  bad([](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens");
  bad([](SamplingParams& p) { p.max_tokens = 3; p.min_tokens = 4; }, "min_tokens");
  bad([](SamplingParams& p) { p.stop_token_ids = {kVocab}; }, "stop_token_ids");
  SamplingParams ok;
  ok.top_k = 5;
  ok.logprobs = 20;
  validate_sampling_params(ok, kVocab); // must not throw
}

} // namespace

// Structured output: a token mask leaves only its tokens to greedy and to random draws; the
// logprobs stay those of the raw logits.
void test_token_mask() {
  Sampler sampler(kVocab, {kEos});
  std::vector<float> logits = {0.1f, 3.0f, 0.5f, 2.9f, -1.0f, 0.0f, 0.2f, 0.0f};
  const uint32_t only_4_and_6 = (1u << 4) | (1u << 6);
  SamplingParams lp = greedy();
  lp.logprobs = 1;
  Sequence s = make_seq(lp, {5});
  SampledToken t = sampler.sample(logits.data(), s, &only_4_and_6);
  CHECK_EQ(t.token_id, 6);
  CHECK_EQ(t.logprobs.top[0].first, 1); // the raw distribution's best
  SamplingParams hot;
  hot.temperature = 1.5;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Sequence r = make_seq(hot, {5}, {}, seed);
    const int32_t id = sampler.sample(logits.data(), r, &only_4_and_6).token_id;
    CHECK(id == 4 || id == 6);
  }
}

int main() {
  test_token_mask();
  test_greedy_picks_argmax();
  test_repetition_penalty();
  test_presence_and_frequency_penalties_use_output_only();
  test_min_tokens_masks_eos_and_stop_ids();
  test_top_k_one_is_greedy_and_seed_reproduces();
  test_top_p_and_min_p_distribution();
  test_top_k_with_top_p_and_wide_top_p();
  test_top_logprobs();
  test_validation_names_the_parameter();
  return finish_checks("sampler_test");
}
