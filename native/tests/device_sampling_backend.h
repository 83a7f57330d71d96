// A TestBackend that samples "on the device" by sample_rows' rules (on the host): the row's
// adjustments, then argmax or one draw in index order over exp((l - max) / T); logprobs and
// top-n logprobs of the raw logits. Shared by the engine's device-sampling tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "test_backend.h"

namespace pagoda {
namespace testing {

// A row's adjustments [first, last) applied to its logits as sample_rows applies them. A last entry
// -1 - r is the newest token's share (a step launched ahead): resolved as previous_ids[r] and merged
// into the entry of that token, if any, else applied alone. Returns the entries applied;
// newest_entries counts the newest-token entries resolved.
inline int64_t apply_row_adjustments(std::vector<float>& row, const LogitAdjustment* first,
                                     const LogitAdjustment* last, const std::vector<int32_t>& previous_ids,
                                     int64_t& newest_entries) {
  int32_t newest = -1;
  LogitAdjustment newest_entry;
  if (last > first && last[-1].token < 0) {
    newest_entry = *--last;
    const size_t from = static_cast<size_t>(-1 - newest_entry.token);
    if (from >= previous_ids.size()) throw std::logic_error("newest-token entry for a row the previous step did not sample");
    newest = previous_ids[from];
    ++newest_entries;
  }
  bool merged = false;
  for (const LogitAdjustment* e = first; e < last; ++e) {
    LogitAdjustment adj = *e;
    if (adj.token < 0) throw std::logic_error("a newest-token entry before the row's last");
    if (adj.token == newest) {
      adj = with_newest(adj, newest_entry);
      merged = true;
    }
    row[adj.token] = adjusted_logit(row[adj.token], adj);
  }
  if (newest >= 0 && !merged) {
    LogitAdjustment alone;
    alone.token = newest;
    row[newest] = adjusted_logit(row[newest], with_newest(alone, newest_entry));
  }
  return last - first;
}

class DeviceSamplingBackend : public TestBackend {
public:
  explicit DeviceSamplingBackend(int32_t vocab) : TestBackend(vocab), vocab_(vocab) {}
  bool samples_on_device() const override { return true; }
  bool forward_sampled(const ForwardBatch& b, const StepSampling& sampling, SampledRows& out) override {
    const std::vector<RowSampling>& rows = sampling.rows;
    ++sampled_steps;
    std::vector<float> raw;
    forward(b, raw);
    --num_forwards; // counted as a sampled step, not a host-sampling one
    out.token_ids.clear();
    out.logprobs.clear();
    out.top_n = 0;
    for (const RowSampling& row : rows) out.top_n = std::max(out.top_n, row.top_logprobs);
    out.top_ids.assign(rows.size() * static_cast<size_t>(out.top_n), 0);
    out.top_logprobs.assign(out.top_ids.size(), 0.0f);
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<float> row(raw.begin() + static_cast<std::ptrdiff_t>(r * vocab_),
                             raw.begin() + static_cast<std::ptrdiff_t>((r + 1) * vocab_));
      adjusted_logits += apply_row_adjustments(row, sampling.adjustments.data() + rows[r].adjust_begin,
                                               sampling.adjustments.data() + rows[r].adjust_end, previous_ids,
                                               newest_entries);
      const float* l = row.data();
      int32_t chosen = static_cast<int32_t>(std::max_element(l, l + vocab_) - l);
      const float max_logit = l[chosen];
      if (rows[r].temperature >= 1e-5f) {
        std::vector<double> p(vocab_);
        double total = 0;
        for (int32_t i = 0; i < vocab_; ++i) total += p[i] = std::exp((double(l[i]) - max_logit) / rows[r].temperature);
        double target = rows[r].uniform * total, cum = 0;
        for (int32_t i = 0; i < vocab_; ++i) {
          cum += p[i];
          if (target < cum) {
            chosen = i;
            break;
          }
        }
      }
      l = raw.data() + r * vocab_;
      const float raw_max = *std::max_element(l, l + vocab_);
      double z = 0;
      for (int32_t i = 0; i < vocab_; ++i) z += std::exp(double(l[i]) - raw_max);
      const float log_z = static_cast<float>(raw_max + std::log(z));
      out.token_ids.push_back(chosen);
      out.logprobs.push_back(l[chosen] - log_z);
      std::vector<int32_t> order(vocab_);
      for (int32_t i = 0; i < vocab_; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
      for (int32_t k = 0; k < rows[r].top_logprobs; ++k) {
        out.top_ids[r * out.top_n + k] = order[k];
        out.top_logprobs[r * out.top_n + k] = l[order[k]] - log_z;
      }
    }
    return true;
  }
  int32_t sampled_steps = 0;
  int64_t adjusted_logits = 0;
  int64_t newest_entries = 0;     // newest-token entries resolved
  std::vector<int32_t> previous_ids; // the ids newest-token entries resolve from (the async backend sets them)

private:
  const int32_t vocab_;
};


} // namespace testing
} // namespace pagoda
