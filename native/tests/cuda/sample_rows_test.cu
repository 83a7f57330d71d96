// Checks GPU sampling: copy_from_host's placeholder fill (a step's ids filled from the previous step's as they land),
// sample_rows against a host reference of the same rules (penalty and
// min_tokens adjustments, structured-output token masks, greedy, temperature, min_p, top_k, top_p, chosen raw logprob),
// sample_rows_greedy (the split greedy pass) against sample_rows bit for bit, then the engine on tiny-llama3 with the
// GPU sampler: greedy tokens equal the host sampler's, and a seeded request gets the same
// tokens alone and in a batch, and penalties give the host's tokens. usage: sample_rows_test [checkpoint dir]
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>

#include "backend/cuda/kernels.h"
#include "backend/cuda/stream.h"
#include "engine/llm_engine.h"
#include "test_support.h"

using namespace pagoda;
using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

struct Reference {
  int token = -1;
  bool ambiguous = false; // a threshold or the draw lies within rounding of a boundary
  double logprob = 0;
};

// The rules of sample_rows in double precision; flags rows that float rounding may decide.
Reference reference_sample(const std::vector<float>& row, const DeviceRowSampling& p) {
  const int vocab = static_cast<int>(row.size());
  Reference r;
  const int best = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
  const double max_logit = row[best];
  double z = 0;
  for (float l : row) z += std::exp(double(l) - max_logit);
  if (p.temperature < 1e-5f) {
    r.token = best;
  } else {
    std::vector<double> prob(vocab);
    for (int i = 0; i < vocab; ++i) prob[i] = std::exp((double(row[i]) - max_logit) / p.temperature);
    // Probabilities: __expf is within a few ulp of exp here. Masses: float sums over up to
    // 128k terms in another order.
    auto near = [](double a, double b) { return std::fabs(a - b) <= 1e-5 * std::max(a, b); };
    auto near_mass = [](double a, double b) { return std::fabs(a - b) <= 1e-4 * std::max(a, b); };
    double lo = std::max<double>(p.min_p, 1e-37);
    std::vector<double> sorted;
    for (double q : prob) if (q >= lo) sorted.push_back(q);
    std::sort(sorted.rbegin(), sorted.rend());
    for (double q : prob) if (q != lo && near(q, lo) && p.min_p > 0) r.ambiguous = true;
    if (p.top_k > 0 && p.top_k < static_cast<int>(sorted.size())) {
      const double kth = sorted[p.top_k - 1];
      if (near(kth, sorted[p.top_k])) r.ambiguous = true;
      lo = std::max(lo, kth);
      sorted.resize(p.top_k);
    }
    if (p.top_p < 1.0f) {
      const double kept = std::accumulate(sorted.begin(), sorted.end(), 0.0);
      const double target = double(p.top_p) * kept;
      double cum = 0;
      for (size_t i = 0; i < sorted.size(); ++i) {
        cum += sorted[i];
        if (cum >= target) {
          if (near_mass(cum, target) || near_mass(cum - sorted[i], target)) r.ambiguous = true;
          if (i + 1 < sorted.size() && near(sorted[i], sorted[i + 1])) r.ambiguous = true;
          lo = std::max(lo, sorted[i]);
          break;
        }
      }
    }
    double total = 0;
    for (double q : prob) if (q >= lo) total += q;
    const double target = double(p.uniform) * total;
    double cum = 0;
    for (int i = 0; i < vocab && r.token < 0; ++i) {
      if (prob[i] < lo) continue;
      cum += prob[i];
      if (target < cum) {
        r.token = i;
        if (near_mass(cum, target) || near_mass(cum - prob[i], target)) r.ambiguous = true;
      }
    }
  }
  r.logprob = double(row[r.token]) - (max_logit + std::log(z));
  return r;
}

void check_kernel(Checker& check, int vocab) {
  std::mt19937 rng(17 + vocab);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const std::vector<DeviceRowSampling> kinds = {
      {0.0f, -1, 1.0f, 0.0f, 0.0f, 1},    {0.7f, -1, 1.0f, 0.0f, 0.0f, 1},  {1.0f, 50, 1.0f, 0.0f, 0.0f, 0},
      {0.8f, -1, 0.9f, 0.0f, 0.0f, 1},    {1.0f, -1, 1.0f, 0.05f, 0.0f, 0}, {0.9f, 40, 0.8f, 0.02f, 0.0f, 1},
      {1.5f, -1, 0.95f, 0.0f, 0.0f, 0},   {1.0f, 1, 1.0f, 0.0f, 0.0f, 0},   {2.0f, 5000, 0.5f, 0.0f, 0.0f, 1},
  };
  const int rows = 8 * static_cast<int>(kinds.size());
  std::vector<float> logits(size_t(rows) * vocab);
  for (float& l : logits) l = normal(rng);
  std::vector<DeviceRowSampling> params(rows);
  for (int r = 0; r < rows; ++r) {
    params[r] = kinds[r % kinds.size()];
    params[r].uniform = uniform(rng);
    params[r].mask_row = -1;
  }
  // Row 0: a tie for the largest logit, which greedy breaks to the lower index.
  logits[7] = logits[3] = 40.0f;
  // Every third row from row 3 on carries adjustments: 60 distinct tokens (the row's best
  // among them) with a repetition penalty, frequency and presence penalties over counts, biases
  // and a few masks. Every other one of them was launched ahead of its newest token: a last entry
  // -1 - r resolved from previous_ids[r], which names one of the row's tokens (merged into its
  // entry) or a token of none (applied on its own).
  std::vector<LogitAdjustment> adjustments;
  std::vector<float> adjusted(logits);
  std::vector<int32_t> previous_ids(rows, 0);
  int newest_merged = 0, newest_alone = 0;
  for (int r = 3; r < rows; r += 3) {
    float* row = logits.data() + size_t(r) * vocab;
    std::vector<int> tokens(vocab);
    std::iota(tokens.begin(), tokens.end(), 0);
    std::shuffle(tokens.begin(), tokens.end(), rng);
    tokens.resize(60);
    tokens[0] = static_cast<int>(std::max_element(row, row + vocab) - row);
    if (std::find(tokens.begin() + 1, tokens.end(), tokens[0]) != tokens.end()) tokens[1] = (tokens[0] + 1) % vocab;
    params[r].adjust_begin = static_cast<int32_t>(adjustments.size());
    const bool ahead = r % 6 == 3;
    LogitAdjustment newest;
    newest.token = -1 - r;
    newest.repetition = 1.3f;
    newest.frequency = 0.4f;
    newest.presence = 0.25f;
    newest.count = 1;
    // The newest token: the row's 8th token (a merge) or one outside its 60 (alone).
    int32_t newest_id = tokens[8];
    if ((r / 6) % 2) {
      newest_id = 0;
      while (std::find(tokens.begin(), tokens.end(), newest_id) != tokens.end()) ++newest_id;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      LogitAdjustment a;
      a.token = tokens[i];
      a.repetition = i % 2 ? 1.3f : 1.0f;
      a.frequency = 0.4f;
      a.presence = 0.25f;
      a.count = i % 3 ? 0 : static_cast<int32_t>(1 + i % 4);
      a.bias = i % 5 == 1 ? 2.5f : 0.0f;
      a.masked = i == 0 || i % 17 == 5; // the row's best is always masked
      adjustments.push_back(a);
      const LogitAdjustment applied = ahead && a.token == newest_id ? with_newest(a, newest) : a;
      adjusted[size_t(r) * vocab + a.token] = adjusted_logit(row[a.token], applied);
    }
    if (ahead) {
      adjustments.push_back(newest);
      previous_ids[r] = newest_id;
      const bool merged = newest_id == tokens[8];
      ++(merged ? newest_merged : newest_alone);
      if (!merged) {
        LogitAdjustment alone;
        alone.token = newest_id;
        adjusted[size_t(r) * vocab + newest_id] = adjusted_logit(row[newest_id], with_newest(alone, newest));
      }
    }
    params[r].adjust_end = static_cast<int32_t>(adjustments.size());
  }
  // Every fourth row from row 1 on is constrained: a token mask allowing about a third of the
  // vocabulary but never the row's best (after its adjustments).
  const int mask_words = (vocab + 31) / 32;
  std::vector<uint32_t> masks;
  for (int r = 1; r < rows; r += 4) {
    const float* row = adjusted.data() + size_t(r) * vocab;
    const int best = static_cast<int>(std::max_element(row, row + vocab) - row);
    params[r].mask_row = static_cast<int32_t>(masks.size() / mask_words);
    std::vector<uint32_t> words(mask_words, 0u);
    for (int t = 0; t < vocab; ++t)
      if (t != best && uniform(rng) < 0.33f) words[t >> 5] |= 1u << (t & 31);
    for (int t = 0; t < vocab; ++t)
      if (!((words[t >> 5] >> (t & 31)) & 1u)) adjusted[size_t(r) * vocab + t] = -INFINITY;
    masks.insert(masks.end(), words.begin(), words.end());
  }
  DeviceBuffer d_masks = upload(masks);
  DeviceBuffer d_logits = upload(logits), d_params = upload(params), d_adjust = upload(adjustments);
  DeviceBuffer d_previous_ids = upload(previous_ids);
  check.expect_true("vocab " + std::to_string(vocab) + ": rows with the newest token merged and alone",
                    newest_merged > 0 && newest_alone > 0);
  // Rows asking for a logprob also ask for the top 1 + r % 7 (stride 8).
  constexpr int kTopStride = 8;
  for (int r = 0; r < rows; ++r) params[r].top_logprobs = params[r].want_logprob ? 1 + r % 7 : 0;
  DeviceBuffer d_ids(rows * sizeof(int32_t)), d_logprobs(rows * sizeof(float));
  DeviceBuffer d_top_ids(rows * kTopStride * sizeof(int32_t)), d_top_logprobs(rows * kTopStride * sizeof(float));
  poison(d_top_ids);
  poison(d_top_logprobs);
  DeviceBuffer d_raw(std::max<size_t>(1, adjustments.size()) * sizeof(float));
  d_params = upload(params);
  const SampleOutputs outs{d_ids.as<int32_t>(), d_logprobs.as<float>(), d_top_ids.as<int32_t>(),
                           d_top_logprobs.as<float>(), kTopStride};
  sample_rows(d_logits.as<float>(), d_params.as<DeviceRowSampling>(), d_adjust.as<LogitAdjustment>(), d_raw.as<float>(),
              d_previous_ids.as<int32_t>(), d_masks.as<uint32_t>(), mask_words, outs, rows, vocab, nullptr);
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
  const auto ids = download<int32_t>(d_ids, rows);
  const auto logprobs = download<float>(d_logprobs, rows);
  const auto top_ids = download<int32_t>(d_top_ids, size_t(rows) * kTopStride);
  const auto top_logprobs = download<float>(d_top_logprobs, size_t(rows) * kTopStride);
  const auto after = download<float>(d_logits, logits.size());
  check.expect_true("vocab " + std::to_string(vocab) + ": adjustments undone (the logits are raw again)",
                    after == logits);
  int compared = 0, matched = 0, ambiguous = 0;
  double worst_logprob = 0;
  std::string first_miss;
  int masked_chosen = 0, top_misses = 0;
  double worst_top = 0;
  for (int r = 0; r < rows; ++r) {
    const std::vector<float> row(adjusted.begin() + size_t(r) * vocab, adjusted.begin() + size_t(r + 1) * vocab);
    const std::vector<float> raw(logits.begin() + size_t(r) * vocab, logits.begin() + size_t(r + 1) * vocab);
    Reference ref = reference_sample(row, params[r]);
    if (std::isinf(row[ids[r]])) ++masked_chosen;
    // The logprob is of the raw logits, whatever the adjustments did.
    const double raw_max = *std::max_element(raw.begin(), raw.end());
    double z = 0;
    for (float l : raw) z += std::exp(double(l) - raw_max);
    ref.logprob = double(raw[ref.token]) - (raw_max + std::log(z));
    if (ref.ambiguous) {
      ++ambiguous;
      continue;
    }
    ++compared;
    if (ids[r] == ref.token) ++matched;
    else if (first_miss.empty())
      first_miss = "row " + std::to_string(r) + " got " + std::to_string(ids[r]) + ", want " + std::to_string(ref.token);
    if (params[r].want_logprob && ids[r] == ref.token)
      worst_logprob = std::max(worst_logprob, std::fabs(logprobs[r] - ref.logprob));
    // Top logprobs: the best raw logits (ties to the lower id), zeros past the row's count.
    std::vector<int> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return raw[a] > raw[b]; });
    const double log_z = raw_max + std::log(z);
    for (int k = 0; k < kTopStride; ++k) {
      const size_t at = size_t(r) * kTopStride + k;
      if (k < params[r].top_logprobs) {
        if (top_ids[at] != order[k]) ++top_misses;
        else worst_top = std::max(worst_top, std::fabs(top_logprobs[at] - (double(raw[order[k]]) - log_z)));
      } else if (top_ids[at] != 0 || top_logprobs[at] != 0.0f) {
        ++top_misses;
      }
    }
  }
  const std::string tag = "vocab " + std::to_string(vocab);
  check.expect_true(tag + ": greedy tie goes to the lower index", ids[0] == 3, "got " + std::to_string(ids[0]));
  check.expect_true(tag + ": tokens equal the reference", matched == compared && compared >= rows / 2,
                    std::to_string(matched) + " of " + std::to_string(compared) + " (" + std::to_string(ambiguous) +
                        " rows at a rounding boundary skipped) " + first_miss);
  check.expect_true(tag + ": chosen logprob within 1e-3", worst_logprob < 1e-3, std::to_string(worst_logprob));
  check.expect_true(tag + ": no masked token (adjustment or token mask) is ever chosen", masked_chosen == 0, std::to_string(masked_chosen));
  check.expect_true(tag + ": top logprobs are the best raw logits", top_misses == 0, std::to_string(top_misses));
  check.expect_true(tag + ": top logprobs within 1e-3", worst_top < 1e-3, std::to_string(worst_top));
}

// Plain greedy rows of kinds that stress the argmax order: ties, NaN, -inf, equal values, signed zeros, +inf,
// -FLT_MAX (equal to the kernels' starting value), the best in the head or tail of an unaligned row.
constexpr int kRowKinds = 11;
void fill_greedy_row(float* row, int vocab, int kind, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_int_distribution<int> pick(0, vocab - 1);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (int i = 0; i < vocab; ++i) row[i] = normal(rng);
  const int a = pick(rng), b = pick(rng);
  switch (kind) {
  case 1: row[a] = row[b] = 50.0f; break; // a tie: the lower index
  case 2: // NaN at the start and every seventh token, one beside the best
    for (int i = 0; i < vocab; i += 7) row[i] = nan;
    row[a] = 40.0f;
    if (a + 1 < vocab) row[a + 1] = nan;
    break;
  case 3: std::fill(row, row + vocab, -inf); break; // no candidate: token 0
  case 4: std::fill(row, row + vocab, 1.5f); break;
  case 5: // -1, then zeros of both signs from the middle on: the first zero
    for (int i = 0; i < vocab; ++i) row[i] = i < vocab / 2 ? -1.0f : (i % 2 ? 0.0f : -0.0f);
    break;
  case 6: for (int i = 0; i < vocab; ++i) row[i] = i % 3 ? -inf : nan; break; // token 0
  case 7: row[a] = row[b] = inf; row[std::min(a, b) / 2] = nan; break;
  case 8: std::fill(row, row + vocab, -inf); row[a] = row[b] = -FLT_MAX; break;
  case 9: row[vocab - 1] = 60.0f; break; // past the last whole float4
  case 10: row[std::min(1, vocab - 1)] = 60.0f; break; // before the first 16-byte boundary when unaligned
  default: break;
  }
}

// What both greedy paths choose: the largest logit that is neither NaN nor -inf (those never win), the lowest index
// among equals, token 0 when there is none.
int host_greedy(const float* row, int vocab) {
  int best = -1;
  for (int i = 0; i < vocab; ++i)
    if (!std::isnan(row[i]) && row[i] >= -FLT_MAX && (best < 0 || row[i] > row[best])) best = i;
  return best < 0 ? 0 : best;
}

// Every output buffer of one sampler run, poisoned before it, read back as bits.
struct GreedyOutputs {
  static constexpr int kTopStride = 3;
  DeviceBuffer ids, mirror, logprobs, top_ids, top_logprobs;
  explicit GreedyOutputs(int rows)
      : ids(rows * sizeof(int32_t)), mirror(rows * sizeof(int32_t)), logprobs(rows * sizeof(float)),
        top_ids(rows * kTopStride * sizeof(int32_t)), top_logprobs(rows * kTopStride * sizeof(float)) {}
  SampleOutputs poisoned() {
    for (DeviceBuffer* b : {&ids, &mirror, &logprobs, &top_ids, &top_logprobs}) poison(*b);
    SampleOutputs o{ids.as<int32_t>(), logprobs.as<float>(), top_ids.as<int32_t>(), top_logprobs.as<float>(),
                    kTopStride};
    o.ids_mirror = mirror.as<int32_t>();
    return o;
  }
  std::vector<uint32_t> bits() const {
    std::vector<uint32_t> all;
    for (const DeviceBuffer* b : {&ids, &mirror, &logprobs, &top_ids, &top_logprobs}) {
      const auto part = download<uint32_t>(*b, b->bytes() / sizeof(uint32_t));
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }
};

// sample_rows_greedy against sample_rows on the same plain greedy rows, bit for bit over every output (ids,
// mirror, logprobs left alone, top zeros), and the ids against host_greedy: vocabularies from 1 to 151936, rows
// 1 to 9, the logits also one float off 16-byte alignment, every case twice on one scratch (its counters must
// be back to zero after each launch).
void check_greedy_split(Checker& check) {
  const std::vector<int> vocabs = {1, 3, 1001, 32000, 128256, 151936};
  DeviceBuffer scratch(greedy_split_scratch_bytes(*std::max_element(vocabs.begin(), vocabs.end())));
  PAGODA_CUDA_CHECK(cudaMemset(scratch.data(), 0, scratch.bytes()));
  int cases = 0, mismatched = 0, wrong_ids = 0, dirty_counters = 0;
  std::string first_diff, first_wrong;
  for (int vocab : vocabs) {
    for (int offset = 0; offset <= 1; ++offset) {
      for (int rows = 1; rows <= 9; ++rows) {
        std::mt19937 rng(vocab * 31 + rows * 7 + offset);
        std::vector<float> logits(size_t(rows) * vocab + offset);
        for (int r = 0; r < rows; ++r)
          fill_greedy_row(logits.data() + offset + size_t(r) * vocab, vocab, (r + rows + vocab) % kRowKinds, rng);
        DeviceBuffer d_logits = upload(logits);
        float* rows_at = d_logits.as<float>() + offset;
        std::vector<DeviceRowSampling> params(rows, DeviceRowSampling{0.0f, -1, 1.0f, 0.0f, 0.0f, 0, 0, 0, 0, -1});
        DeviceBuffer d_params = upload(params);
        GreedyOutputs one(rows), split(rows);
        sample_rows(rows_at, d_params.as<DeviceRowSampling>(), nullptr, nullptr, nullptr, nullptr, 0, one.poisoned(),
                    rows, vocab, nullptr);
        const std::vector<uint32_t> want = one.bits();
        const std::string tag = "vocab " + std::to_string(vocab) + " offset " + std::to_string(offset) + " rows " +
                                std::to_string(rows);
        for (int r = 0; r < rows; ++r) {
          const int host = host_greedy(logits.data() + offset + size_t(r) * vocab, vocab);
          if (static_cast<int32_t>(want[r]) != host) {
            ++wrong_ids;
            if (first_wrong.empty())
              first_wrong = tag + " row " + std::to_string(r) + ": one block " + std::to_string(int32_t(want[r])) +
                           ", host " + std::to_string(host);
          }
        }
        for (int run = 0; run < 2; ++run) {
          ++cases;
          sample_rows_greedy(rows_at, split.poisoned(), rows, vocab, scratch.data(), scratch.bytes(), nullptr);
          const std::vector<uint32_t> got = split.bits();
          if (got != want) {
            ++mismatched;
            if (first_diff.empty()) first_diff = tag + " run " + std::to_string(run) + ": split differs";
          }
          const auto counters = download<uint32_t>(scratch, kGreedySplitMaxRows);
          dirty_counters += std::count_if(counters.begin(), counters.end(), [](uint32_t c) { return c != 0; });
        }
      }
    }
  }
  check.expect_true("greedy split: bit for bit sample_rows on every output", mismatched == 0,
                    std::to_string(mismatched) + " of " + std::to_string(cases) + " runs differ " + first_diff);
  check.expect_true("greedy split: ids are the host argmax (NaN / -inf never win, ties to the lower index)",
                    wrong_ids == 0, std::to_string(wrong_ids) + " rows " + first_wrong);
  check.expect_true("greedy split: every launch leaves its counters zero", dirty_counters == 0,
                    std::to_string(dirty_counters));
  GreedyOutputs too_many(kGreedySplitMaxRows + 1);
  check.expect_true("greedy split: more than kGreedySplitMaxRows rows refused",
                    throws_naming([&] {
                      sample_rows_greedy(nullptr, too_many.poisoned(), kGreedySplitMaxRows + 1, 1000, scratch.data(),
                                         scratch.bytes(), nullptr);
                    }, "at most"));
  check.expect_true("greedy split: a scratch too small refused", throws_naming([&] {
                      sample_rows_greedy(nullptr, too_many.poisoned(), 1, 1 << 20, scratch.data(), scratch.bytes(),
                                         nullptr);
                    }, "scratch"));
}

std::unique_ptr<LLMEngine> load_engine(const std::string& model, bool device_sampling, bool async = true,
                                       int32_t max_num_batched_tokens = 0) {
  setenv("PAGODA_CUDA_SAMPLING", device_sampling ? "1" : "0", 1);
  setenv("PAGODA_CUDA_ASYNC", async ? "1" : "0", 1);
  EngineConfig e;
  e.model = model;
  e.device = "cuda";
  e.max_num_batched_tokens = max_num_batched_tokens;
  e.max_num_seqs = 8;
  e.max_model_len = 256;
  e.num_gpu_blocks_override = 256;
  return LLMEngine::load(e);
}

std::map<std::string, std::vector<int32_t>> run(LLMEngine& engine,
                                                const std::vector<std::pair<std::string, SamplingParams>>& reqs) {
  std::map<std::string, std::vector<int32_t>> out;
  for (const auto& [id, params] : reqs) {
    // The prompt follows from the id, so a request is the same whatever runs beside it.
    const int k = std::accumulate(id.begin(), id.end(), 0) % 13;
    std::vector<int32_t> prompt;
    for (int i = 0; i < 5 + 3 * k; ++i) prompt.push_back((11 + 37 * i + 101 * k) % 500 + 3);
    engine.add_request(id, prompt, params);
  }
  while (engine.has_unfinished()) {
    StepOutput s = engine.step();
    if (!s.error.empty()) throw Error(s.error);
    for (const auto& d : s.deltas) out[d.request_id].insert(out[d.request_id].end(), d.token_ids.begin(), d.token_ids.end());
  }
  return out;
}

void check_engine(Checker& check, const std::string& model) {
  SamplingParams greedy;
  greedy.temperature = 0.0;
  greedy.max_tokens = 24;
  greedy.ignore_eos = true;
  SamplingParams seeded = greedy;
  seeded.temperature = 0.8;
  seeded.top_p = 0.9;
  seeded.top_k = 50;
  seeded.seed = 7;
  SamplingParams penalized = greedy; // greedy through penalties: the device must match the host exactly
  penalized.repetition_penalty = 1.4;
  penalized.frequency_penalty = 0.6;
  penalized.presence_penalty = 0.3;
  std::vector<std::pair<std::string, SamplingParams>> batch = {
      {"g0", greedy}, {"s", seeded}, {"g1", greedy}, {"p0", penalized}};
  for (int i = 0; i < 4; ++i) {
    SamplingParams other = seeded;
    other.seed = 100 + i;
    batch.push_back({"o" + std::to_string(i), other});
  }
  // Greedy only: every step's rows plain greedy, so the device samples them on the split kernel (unless
  // PAGODA_SPLIT_GREEDY=0).
  const std::vector<std::pair<std::string, SamplingParams>> greedy_only = {{"g0", greedy}, {"g1", greedy}};
  std::map<std::string, std::vector<int32_t>> host, alone, together, host_greedy_only, device_greedy_only,
      penalized_alone;
  {
    auto engine = load_engine(model, false);
    check.expect_true("host sampler when PAGODA_CUDA_SAMPLING=0", !engine->backend().samples_on_device());
    host = run(*engine, batch);
    host_greedy_only = run(*engine, greedy_only);
  }
  {
    auto engine = load_engine(model, true);
    check.expect_true("CUDA backend samples on the device", engine->backend().samples_on_device());
    together = run(*engine, batch);
    alone = run(*engine, {{"s", seeded}});
    // Penalties no longer hold a step back: the newest token's share is resolved on the device.
    const int64_t ahead_before = engine->stats().steps_launched_ahead;
    penalized_alone = run(*engine, {{"p0", penalized}});
    check.expect_true("a penalized request alone: its steps are launched ahead",
                      engine->stats().steps_launched_ahead - ahead_before >= 20,
                      std::to_string(engine->stats().steps_launched_ahead - ahead_before) + " of 24");
    device_greedy_only = run(*engine, greedy_only);
  }
  check.expect_true("greedy-only steps (the split kernel): device sampler equals host sampler",
                    host_greedy_only == device_greedy_only && device_greedy_only["g0"].size() == 24);
  check.expect_true("greedy tokens: device sampler equals host sampler",
                    host["g0"] == together["g0"] && host["g1"] == together["g1"] && together["g0"].size() == 24);
  check.expect_true("greedy with penalties: device sampler equals host sampler",
                    host["p0"] == together["p0"] && together["p0"].size() == 24);
  check.expect_true("greedy with penalties alone, launched ahead: device sampler equals host sampler",
                    host["p0"] == penalized_alone["p0"]);
  check.expect_true("seeded request: same tokens alone and in a batch of 8",
                    alone["s"] == together["s"] && alone["s"].size() == 24);
  check.expect_true("different seeds give different tokens", together["o0"] != together["o1"]);
}

// Steps launched ahead of the previous step's ids (placeholders filled on the device) against
// steps launched one at a time. (1) Eight requests admitted together with the same length, so
// both runs see the same batches step for step: the tokens must be identical (greedy and
// seeded, some with top logprobs). (2) Twenty requests of different lengths, more than
// max_num_seqs: launching ahead admits a waiting request one step later (it schedules before
// the previous step's finishes are known), so batches differ and bf16 logits may differ in
// the last bits; every request must still get all its tokens, and how many sequences match
// token for token is printed. (3) At 32 tokens a step, prompts go in chunks that sample nothing and
// the steps behind them are launched ahead too: a lone 41-token prompt (the same batches either
// way) must give the same tokens; the eight of (1), which then start decoding at different steps,
// must each get all their tokens.
void check_async(Checker& check, const std::string& model) {
  auto make = [](int i, int max_tokens) {
    SamplingParams p;
    p.temperature = i % 2 ? 0.0 : 0.9;
    p.seed = 1000 + i;
    p.max_tokens = max_tokens;
    p.ignore_eos = true;
    if (i % 5 == 0) p.logprobs = 2;
    return p;
  };
  std::vector<std::pair<std::string, SamplingParams>> same, mixed;
  for (int i = 0; i < 8; ++i) same.push_back({"s" + std::to_string(i) + std::string(static_cast<size_t>(i), 'x'), make(i, 40)});
  for (int i = 0; i < 20; ++i)
    mixed.push_back({"m" + std::to_string(i) + std::string(static_cast<size_t>(i % 13), 'x'), make(i, 8 + (i * 7) % 30)});
  std::map<std::string, std::vector<int32_t>> same_ahead, same_one, mixed_ahead, mixed_one, chunked_ahead, chunked_one;
  {
    auto engine = load_engine(model, true, true);
    check.expect_true("CUDA backend launches steps ahead", engine->backend().supports_async_sampling());
    same_ahead = run(*engine, same);
    mixed_ahead = run(*engine, mixed);
  }
  {
    auto engine = load_engine(model, true, false);
    check.expect_true("PAGODA_CUDA_ASYNC=0 launches one step at a time", !engine->backend().supports_async_sampling());
    same_one = run(*engine, same);
    mixed_one = run(*engine, mixed);
  }
  std::string lone_id = "lone"; // run() gives an id whose characters sum to 12 mod 13 the longest prompt, 41 tokens
  while (std::accumulate(lone_id.begin(), lone_id.end(), 0) % 13 != 12) lone_id += 'x';
  const std::vector<std::pair<std::string, SamplingParams>> lone = {{lone_id, make(1, 40)}};
  {
    auto engine = load_engine(model, true, true, 32);
    chunked_ahead = run(*engine, lone);
    for (const auto& [id, tokens] : run(*engine, same)) chunked_ahead[id] = tokens;
  }
  {
    auto engine = load_engine(model, true, false, 32);
    chunked_one = run(*engine, lone);
  }
  check.expect_true("same batches: steps launched ahead give the same tokens",
                    same_ahead == same_one && same_ahead.size() == 8 && same_ahead.begin()->second.size() == 40);
  check.expect_true("a prompt in chunks of a 32-token step: launched ahead, the same tokens",
                    chunked_ahead[lone_id] == chunked_one[lone_id] && chunked_one[lone_id].size() == 40);
  bool chunked_complete = chunked_ahead.size() == 9;
  for (const auto& [id, p] : same) chunked_complete = chunked_complete && chunked_ahead[id].size() == 40;
  check.expect_true("eight prompts in chunks, launched ahead: every request gets all its tokens", chunked_complete);
  bool complete = mixed_ahead.size() == 20;
  int identical = 0;
  for (const auto& [id, p] : mixed) {
    complete = complete && mixed_ahead[id].size() == static_cast<size_t>(p.max_tokens);
    identical += mixed_ahead[id] == mixed_one[id];
  }
  check.expect_true("admissions mid-run: every request gets all its tokens launched ahead", complete,
                    std::to_string(identical) + " of 20 sequences token-identical to one step at a time");
}

} // namespace

// copy_from_host with a PlaceholderFill against the host's rule: each word in the fill's range holding -1 - r lands as
// previous[r], every other word as it is (non-negative words in the range, negative ones outside it); sizes with and
// without a 4-byte tail, ranges inside one 16-byte chunk, across chunks, ending in the tail; nothing past the copy.
void check_host_copy(Checker& check) {
  const std::vector<int32_t> previous = {900, 901, 902, 903, 904, 905, 906, 907};
  DeviceBuffer d_previous = upload(previous);
  struct Case {
    int words;
    size_t begin;
    int count;
  };
  const std::vector<Case> cases = {{1, 0, 1},   {3, 1, 2},    {4, 0, 4},    {5, 2, 3},       {7, 3, 4},
                                   {64, 5, 9},  {64, 0, 0},   {1027, 1020, 7}, {1027, 0, 1027}, {70001, 69000, 1001},
                                   {70001, 1, 70000}};
  int bad_cases = 0;
  std::string first;
  for (const Case& c : cases) {
    PinnedBuffer host(size_t(c.words) * 4);
    auto* src = static_cast<int32_t*>(host.data());
    std::vector<int32_t> want(c.words);
    for (int i = 0; i < c.words; ++i) {
      // Placeholders, real ids and negative words everywhere, so both sides of the range are exercised.
      src[i] = (i % 3 == 0) ? -1 - (i % 8) : (i % 3 == 1 ? i : -1 - ((i * 5) % 8));
      const bool in = size_t(i) >= c.begin && size_t(i) < c.begin + size_t(c.count);
      want[i] = in && src[i] < 0 ? previous[-1 - src[i]] : src[i];
    }
    DeviceBuffer dst(size_t(c.words + 4) * 4);
    PAGODA_CUDA_CHECK(cudaMemset(dst.data(), 0x5A, dst.bytes()));
    copy_from_host(dst.data(), host.device_data(), size_t(c.words) * 4, nullptr,
                   PlaceholderFill{c.begin, c.count, d_previous.as<int32_t>()});
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    const std::vector<int32_t> got = download<int32_t>(dst, size_t(c.words) + 4);
    bool ok = std::equal(want.begin(), want.end(), got.begin());
    for (int i = 0; i < 4; ++i) ok = ok && got[c.words + i] == 0x5A5A5A5A;
    if (!ok && first.empty())
      first = std::to_string(c.words) + " words, fill " + std::to_string(c.begin) + " + " + std::to_string(c.count);
    bad_cases += ok ? 0 : 1;
  }
  check.expect_true("copy_from_host fills placeholders in its range only, as they land, and writes nothing past the copy",
                    bad_cases == 0, first);
  check.expect_true("copy_from_host refuses a fill outside the copy",
                    throws_naming([&] {
                      PinnedBuffer host(16);
                      DeviceBuffer dst(16);
                      copy_from_host(dst.data(), host.device_data(), 16, nullptr, PlaceholderFill{2, 3, d_previous.as<int32_t>()});
                    }, "outside"));
}

int main(int argc, char** argv) {
  skip_without_device("sample_rows_test");
  Checker check;
  try {
    check_host_copy(check);
    check_kernel(check, 1000);
    check_kernel(check, 1001); // rows past the first are not 16-byte aligned: the scalar pass
    check_kernel(check, 128256);
    check_greedy_split(check);
    check_engine(check, argc > 1 ? argv[1] : "../shared/models/tiny-llama3");
    check_async(check, argc > 1 ? argv[1] : "../shared/models/tiny-llama3");
  } catch (const std::exception& e) {
    check.expect_true("no exception", false, e.what());
  }
  return check.finish("sample_rows_test");
}
