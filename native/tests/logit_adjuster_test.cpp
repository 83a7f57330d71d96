// LogitAdjuster for a step launched ahead: a sequence whose newest token is still a placeholder
// gets its entries over the known tokens plus one for the newest token's share, and merged on the
// device side (with_newest) they give every logit the bits the entries built with that token known
// give — for every token it can turn out to be, under every mix of penalties, logit_bias and min_tokens.
#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "device_sampling_backend.h"
#include "engine/logit_adjuster.h"
#include "engine/sampling_params.h"

using namespace pagoda;

namespace {

constexpr int32_t kVocab = 16; // small, so the newest token often repeats one the sequence has
constexpr int32_t kEos = 2;

Sequence make_seq(const SamplingParams& p, const std::vector<int32_t>& prompt, const std::vector<int32_t>& output) {
  Sequence s;
  s.token_ids = prompt;
  s.num_prompt_tokens = static_cast<int32_t>(prompt.size());
  s.token_ids.insert(s.token_ids.end(), output.begin(), output.end());
  s.params = std::make_shared<SamplingParams>(p);
  return s;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void test_newest_token_merges_to_the_known_entries() {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(0, kVocab - 1), length(0, 9);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  const double repetitions[] = {1.0, 1.3, 2.0}, frequencies[] = {0.0, 0.7, -0.45}, presences[] = {0.0, 0.5, -1.25};
  LogitAdjuster adjuster(kVocab, {kEos});
  int cases = 0, with_newest_entry = 0, merged_somewhere = 0;
  for (int round = 0; round < 400; ++round) {
    SamplingParams p;
    p.repetition_penalty = repetitions[round % 3];
    p.frequency_penalty = frequencies[(round / 3) % 3];
    p.presence_penalty = presences[(round / 9) % 3];
    if (round % 4 == 1) p.logit_bias = {{token(rng), 3.5f}, {kEos, -2.0f}};
    if (round % 5 == 2) {
      p.min_tokens = 4;
      p.stop_token_ids = {token(rng)};
    }
    p.ignore_eos = round % 7 == 3;
    std::vector<int32_t> prompt(1 + length(rng)), output(length(rng));
    for (int32_t& t : prompt) t = token(rng);
    for (int32_t& t : output) t = token(rng);
    std::vector<float> logits(kVocab);
    for (float& l : logits) l = normal(rng);
    // The step before sampled the newest token for its row 3 of 5.
    const int32_t row = 3;
    std::vector<int32_t> previous_ids(5, 0);
    std::vector<int32_t> ahead_output = output;
    ahead_output.push_back(-1 - row);
    std::vector<LogitAdjustment> ahead;
    adjuster.append(make_seq(p, prompt, ahead_output), ahead);
    const bool has_newest = !ahead.empty() && ahead.back().token == -1 - row;
    with_newest_entry += has_newest;
    for (const LogitAdjustment& a : ahead) CHECK(a.token >= 0 || &a == &ahead.back());
    for (int32_t newest = 0; newest < kVocab; ++newest) {
      std::vector<int32_t> known_output = output;
      known_output.push_back(newest);
      std::vector<LogitAdjustment> known;
      adjuster.append(make_seq(p, prompt, known_output), known);
      std::vector<float> want = logits, got = logits;
      int64_t unused = 0;
      testing::apply_row_adjustments(want, known.data(), known.data() + known.size(), {}, unused);
      previous_ids[row] = newest;
      testing::apply_row_adjustments(got, ahead.data(), ahead.data() + ahead.size(), previous_ids, unused);
      CHECK(same_bits(want, got));
      if (has_newest)
        for (size_t i = 0; i + 1 < ahead.size(); ++i) merged_somewhere += ahead[i].token == newest;
      ++cases;
    }
  }
  CHECK_EQ(cases, 400 * kVocab);
  // The rounds cover both kinds: penalties (a newest entry, merged or alone) and bias / min_tokens only (none).
  CHECK(with_newest_entry > 300 && with_newest_entry < 400);
  CHECK(merged_somewhere > 1000);
}

// Without penalties a placeholder adds nothing: logit_bias and min_tokens need only the count.
void test_no_newest_entry_without_penalties() {
  LogitAdjuster adjuster(kVocab, {kEos});
  SamplingParams p;
  p.logit_bias = {{5, 1.0f}};
  p.min_tokens = 3;
  std::vector<LogitAdjustment> out;
  adjuster.append(make_seq(p, {1, 4}, {7, -1}), out);
  for (const LogitAdjustment& a : out) CHECK(a.token >= 0);
  CHECK_EQ(out.size(), size_t{2}); // token 5's bias, EOS masked (2 outputs of 3)
}

} // namespace

int main() {
  test_newest_token_merges_to_the_known_entries();
  test_no_newest_entry_without_penalties();
  return finish_checks("logit_adjuster_test");
}
