// Where an eager step's GPU time goes, op by op (PAGODA_CUDA_OP_TIMING=1, a diagnostic): an
// event after each op on the backend's stream, read once the step has synchronized, summed
// per op name and step kind, printed to stderr when the backend goes away. The events themselves cost time that lands
// in the op after them (qkv read 469 ms where its kernels ran 334 in a CUPTI trace, NOTES "Session 33"): for
// sub-percent questions use the kernel trace (kernel_trace_summary.py).
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/step_timer.h"

namespace pagoda::cuda {

class OpTimer {
public:
  OpTimer() {
    const char* v = std::getenv("PAGODA_CUDA_OP_TIMING");
    enabled_ = v != nullptr && std::strcmp(v, "1") == 0;
  }
  ~OpTimer() { print(); }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

  // Starts a step of the given kind ("prefill" / "decode"); marks are ignored outside one.
  void begin(cudaStream_t stream, const char* kind) {
    if (!enabled_) return;
    kind_ = kind;
    used_ = 0;
    active_ = true;
    mark(stream, nullptr);
  }
  // The GPU time since the previous mark goes to `op`.
  void mark(cudaStream_t stream, const char* op) {
    if (!active_) return;
    if (used_ == events_.size()) events_.push_back(std::make_unique<Event>());
    PAGODA_CUDA_CHECK(cudaEventRecord(events_[used_]->get(), stream));
    labels_.resize(std::max(labels_.size(), used_ + 1));
    labels_[used_++] = op ? op : "";
  }
  // After the step's stream has synchronized.
  void end() {
    if (!active_) return;
    active_ = false;
    ++steps_[kind_];
    for (size_t i = 1; i < used_; ++i) {
      float ms = 0.f;
      PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[i - 1]->get(), events_[i]->get()));
      totals_[kind_ + " " + labels_[i]] += ms;
    }
  }
  bool enabled() const { return enabled_; }
  // Steps captured into graphs must not record events of their own.
  void pause() { active_ = false; }

private:
  void print() const {
    if (totals_.empty()) return;
    std::vector<std::pair<std::string, double>> rows(totals_.begin(), totals_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::fprintf(stderr, "op timing (PAGODA_CUDA_OP_TIMING, eager steps):");
    for (const auto& [kind, n] : steps_) std::fprintf(stderr, " %d %s steps", n, kind.c_str());
    std::fprintf(stderr, "\n");
    for (const auto& [name, ms] : rows) std::fprintf(stderr, "  %-28s %10.2f ms\n", name.c_str(), ms);
  }

  bool enabled_ = false, active_ = false;
  std::string kind_;
  std::vector<std::unique_ptr<Event>> events_;
  std::vector<std::string> labels_;
  size_t used_ = 0;
  std::map<std::string, double> totals_;
  std::map<std::string, int> steps_;
};

} // namespace pagoda::cuda
