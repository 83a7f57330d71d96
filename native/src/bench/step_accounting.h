// Sums an engine run's per-step timings (StepTiming) into what pagoda-bench reports: wall
// time, host overhead, device busy and idle time, the bandwidth roofline (weights plus the KV
// bytes attention reads, per step, over the measured bandwidth) and the per-step roofline
// (each step's bytes at the bandwidth or its GEMM FLOPs at the measured GEMM rate, whichever
// takes longer), and the serial roofline beside it (the GEMMs' time plus the KV read's: what a step
// reaches when attention runs between its GEMMs, not beside them); over every step, the decode-only
// steps, the steps that carry prompt tokens, and decode steps by batch size.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "engine/llm_engine.h"
#include "json.h"

namespace pagoda {

// One step's size, kept for the per-step roofline.
struct StepShape {
  int32_t num_tokens = 0;
  int32_t num_seqs = 0;
  int64_t context_tokens = 0;
};

struct PhaseTotals {
  int64_t steps = 0;
  int64_t output_tokens = 0;
  int64_t context_tokens = 0; // summed over steps: KV tokens read
  double wall_ms = 0.0;       // the bench's clock from the end of one step to the end of the next
  double host_ms = 0.0;
  double forward_ms = 0.0;
  double device_ms = 0.0;     // spans, over device_timed_steps
  int64_t device_timed_steps = 0;
  double device_gap_ms = 0.0;  // the device's idle time before each step whose previous step was timed too
  double device_gap_span_ms = 0.0; // those steps' spans
  int64_t device_gap_steps = 0;
  std::vector<StepShape> shapes; // every step's, in order

  void add(const StepTiming& t, double wall_ms, int64_t output_tokens);
  void merge(const PhaseTotals& other);
  // Whether the backend timed any step. The CUDA backend times a sample in pairs of consecutive steps (StepTimer):
  // per-step device times average the timed steps' spans, and the idle share is the device's idle time between a
  // pair's steps over that idle plus the second step's span, both on the device's clock. (Spans over the host's
  // wall time between step results read past 100% where an eager step's launches start its span early.)
  bool device_timed() const { return device_timed_steps > 0; }
  bool device_gaps() const { return device_gap_steps > 0; }
  double device_idle_pct() const {
    const double total = device_gap_ms + device_gap_span_ms;
    return total > 0.0 ? 100.0 * device_gap_ms / total : 0.0;
  }
  double device_ms_per_step() const { return device_timed_steps > 0 ? device_ms / device_timed_steps : 0.0; }
};

// What a decode step must read at the least: all weights once, and every scheduled
// sequence's KV cache.
struct RooflineModel {
  double weight_bytes = 0.0;
  double kv_bytes_per_token = 0.0; // K and V, all layers
  double bandwidth_gb_per_s = 0.0; // measured in the same run (1 GB = 1e9 bytes)
  // The compute side, for the per-step roofline (peak 0: not measured, left out). GEMM FLOPs
  // only: attention's are a few percent of a prefill step's at the prompt lengths benchmarked.
  double flops_per_token = 0.0;     // 2 x the parameters of every layer's projections (the last: q/k/v only)
  double flops_per_logit_row = 0.0; // 2 x (vocab x hidden + the last layer's o_proj and MLP); one row a sequence
  double peak_tflops = 0.0;         // bf16 GEMM rate measured in the same run

  double step_bytes(int64_t context_tokens) const;
  // Seconds the phase's steps would take if each moved exactly its bytes at the bandwidth.
  double seconds(const PhaseTotals& p) const;
  // One step at the roofline: its bytes at the bandwidth or its GEMM FLOPs at the peak,
  // whichever takes longer (a step cannot overlap itself with another).
  double step_seconds(const StepShape& s) const;
  // The phase's steps at step_seconds each; 0 without a bandwidth and a peak.
  double step_roofline_seconds(const PhaseTotals& p) const;
  // One step with its attention between its GEMMs, as a layer runs them: the GEMMs at the longer of the weights'
  // bytes and their FLOPs, plus the KV bytes at the bandwidth. step_seconds counts the KV read as hidden under
  // compute-bound GEMMs, which only running them side by side could do (a step that carries prompt tokens and
  // decode rows with long contexts is both).
  double serial_step_seconds(const StepShape& s) const;
  // The phase's steps at serial_step_seconds each; 0 without a bandwidth and a peak.
  double serial_roofline_seconds(const PhaseTotals& p) const;
};

class StepAccounting {
public:
  // wall_ms: the bench's time for this step, including its own work between steps.
  void add(const StepTiming& t, double wall_ms, int64_t output_tokens);
  void merge(const StepAccounting& other);
  const PhaseTotals& all() const { return all_; }
  const PhaseTotals& decode() const { return decode_; }
  // Steps that carry prompt tokens (prefill chunks, with or without decode rows beside them).
  const PhaseTotals& prefill() const { return prefill_; }
  // Decode-only steps by batch size, keyed by the bucket's largest size (1, 2, 4, 8, 16, 32,
  // 64, 128, 256, ...): where a run's time goes as its batch drains.
  const std::map<int32_t, PhaseTotals>& decode_by_batch() const { return decode_by_batch_; }

private:
  PhaseTotals all_, decode_, prefill_;
  std::map<int32_t, PhaseTotals> decode_by_batch_;
};

// The power of two at or above num_seqs: the decode_by_batch bucket a step falls in.
int32_t batch_bucket(int32_t num_seqs);

// {steps, wall_s, ms_per_step, output_tokens_per_s, host_overhead_pct, device_timed_steps, device_gap_steps,
// device_idle_pct (the device's idle time between steps, from pairs of timed steps) and device_busy_pct (100 less
// it; both null when no step came after a timed one), and, when roofline is given a
// bandwidth, roofline_s, roofline_output_tokens_per_s, fraction_of_roofline, mean KV bytes
// read per step; with a peak too, step_roofline_s, fraction_of_step_roofline, serial_roofline_s and
// fraction_of_serial_roofline}.
json::Value phase_json(const PhaseTotals& p, const RooflineModel& roofline);

// [{batch_max, steps, ms_per_step, device_ms_per_step (null when untimed), output_tokens, and with a bandwidth and a
// peak step_roofline_ms_per_step and fraction_of_step_roofline}, ...]
json::Value batch_buckets_json(const StepAccounting& acc, const RooflineModel& roofline);

} // namespace pagoda
