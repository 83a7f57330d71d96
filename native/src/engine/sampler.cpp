// Per-sequence sampling with vLLM's semantics; see sampler.h.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace pagoda {

namespace {

int32_t argmax(const float* v, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i) if (v[i] > v[best]) best = i;
  return best;
}

} // namespace

void apply_token_mask(float* logits, const uint32_t* mask, int32_t vocab) {
  for (int32_t w = 0; w * 32 < vocab; ++w) {
    const uint32_t bits = mask[w];
    if (bits == 0xffffffffu) continue;
    const int32_t end = std::min(vocab, w * 32 + 32);
    for (int32_t t = w * 32; t < end; ++t)
      if (!((bits >> (t & 31)) & 1u)) logits[t] = -std::numeric_limits<float>::infinity();
  }
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

Sampler::Sampler(int32_t vocab_size, std::vector<int32_t> eos_token_ids)
    : vocab_size_(vocab_size), eos_token_ids_(eos_token_ids), adjuster_(vocab_size, std::move(eos_token_ids)),
      work_(vocab_size) {
  candidates_.reserve(vocab_size);
}

// Temperature, then min_p, top_k and top_p over the probabilities, then one draw.
int32_t Sampler::sample_random(const Sequence& seq, std::mt19937_64& rng) {
  const SamplingParams& p = *seq.params;
  const float inv_t = static_cast<float>(1.0 / p.temperature);
  float max_logit = *std::max_element(work_.begin(), work_.end());
  for (float& v : work_) v = std::exp((v - max_logit) * inv_t); // unnormalized probability
  candidates_.clear();
  const float floor = static_cast<float>(p.min_p); // relative to the top probability (1 here)
  for (int32_t i = 0; i < vocab_size_; ++i) {
    if (work_[i] > 0.0f && work_[i] >= floor) candidates_.push_back(i);
  }
  auto by_prob = [&](int32_t a, int32_t b) {
    return work_[a] > work_[b] || (work_[a] == work_[b] && a < b);
  };
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < candidates_.size()) {
    const size_t k = static_cast<size_t>(p.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(), by_prob);
    candidates_.resize(k);
  }
  double kept = 0.0;
  for (int32_t t : candidates_) kept += work_[t];
  if (p.top_p < 1.0) {
    // Smallest set of most probable tokens whose mass reaches top_p (at least one token).
    // Sorted in growing prefixes: a peaked distribution never sorts the whole vocabulary.
    const double target = p.top_p * kept;
    const size_t n = candidates_.size();
    size_t sorted = 0, want = 64, keep = n;
    double cum = 0.0;
    while (keep == n && sorted < n) {
      want = std::min(want, n);
      auto first = candidates_.begin() + static_cast<std::ptrdiff_t>(sorted);
      auto mid = candidates_.begin() + static_cast<std::ptrdiff_t>(want);
      if (want < n) std::nth_element(first, mid, candidates_.end(), by_prob);
      std::sort(first, mid, by_prob);
      for (size_t i = sorted; i < want; ++i) {
        cum += work_[candidates_[i]];
        if (cum >= target) {
          keep = i + 1;
          break;
        }
      }
      sorted = want;
      want *= 4;
    }
    candidates_.resize(keep);
    kept = cum;
  }
  double u = uniform01(rng) * kept;
  double cum = 0.0;
  for (int32_t t : candidates_) {
    cum += work_[t];
    if (u < cum) return t;
  }
  return candidates_.back();
}

TokenLogprobs Sampler::raw_logprobs(const float* logits, int32_t chosen, int32_t top_n) {
  float max_logit = logits[argmax(logits, vocab_size_)];
  const float chosen_logit = logits[chosen];
  double sum = 0.0;
  int32_t above = 0;
  for (int32_t i = 0; i < vocab_size_; ++i) {
    sum += std::exp(static_cast<double>(logits[i] - max_logit));
    above += logits[i] > chosen_logit;
  }
  const float log_z = max_logit + static_cast<float>(std::log(sum));
  TokenLogprobs out;
  out.logprob = chosen_logit - log_z;
  out.rank = above + 1;
  if (top_n > 0) {
    candidates_.resize(vocab_size_);
    std::iota(candidates_.begin(), candidates_.end(), 0);
    size_t k = std::min<size_t>(top_n, vocab_size_);
    std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(),
                      [&](int32_t a, int32_t b) {
                        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                      });
    for (size_t i = 0; i < k; ++i) out.top.emplace_back(candidates_[i], logits[candidates_[i]] - log_z);
  }
  return out;
}

SampledToken Sampler::sample(const float* logits, Sequence& seq, const uint32_t* token_mask) {
  const SamplingParams& p = *seq.params;
  std::copy(logits, logits + vocab_size_, work_.begin());
  // Penalties and min_tokens masking, by the rules a device sampler applies too.
  adjustments_.clear();
  adjuster_.append(seq, adjustments_);
  for (const LogitAdjustment& a : adjustments_) work_[a.token] = adjusted_logit(work_[a.token], a);
  if (token_mask) apply_token_mask(work_.data(), token_mask, vocab_size_);
  SampledToken out;
  out.token_id = p.greedy() ? argmax(work_.data(), vocab_size_) : sample_random(seq, seq.rng);
  if (p.logprobs >= 0) {
    out.has_logprobs = true;
    out.logprobs = raw_logprobs(logits, out.token_id, p.logprobs);
  }
  return out;
}

} // namespace pagoda
