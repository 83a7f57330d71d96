// A snapshot of the engine's state for monitoring: queues, KV blocks, prefix cache, totals.
#pragma once

#include <cstdint>
#include <string>

namespace pagoda {

// Running totals the engine loop accumulates; a stats() snapshot copies them whole.
struct EngineTotals {
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  int64_t num_steps = 0;
  // Where the steps' time went, summed over num_steps: host work outside the backend's
  // forward (schedule, batch build, sampling bookkeeping, outputs), the forward as the host
  // clock saw it, and the device time the backend reported (over device_timed_steps, a sample of
  // the steps on the CUDA backend: their spans, and their host + forward time device_timed_step_ms_total).
  // The device's idle time between steps comes from pairs of timed steps: device_gap_ms_total before
  // the second step of each of device_gap_steps pairs and device_gap_span_ms_total those steps' spans,
  // so the idle share between steps is gap / (gap + span), as pagoda-bench's PhaseTotals reads it.
  double step_host_ms_total = 0.0;
  double step_forward_ms_total = 0.0;
  double step_device_ms_total = 0.0;
  double device_timed_step_ms_total = 0.0;
  int64_t device_timed_steps = 0;
  double device_gap_ms_total = 0.0;
  double device_gap_span_ms_total = 0.0;
  int64_t device_gap_steps = 0;
  // Steps launched while the step before them was still running (backends that sample on the device launch
  // step N + 1 before reading step N's ids, unless N holds a sequence whose next step needs them on the host).
  int64_t steps_launched_ahead = 0;
};

struct EngineStats : EngineTotals {
  int32_t num_running = 0; // sequences
  int32_t num_waiting = 0;
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_used = 0;
  int32_t kv_blocks_free = 0;
  int32_t kv_blocks_cached = 0;
  int32_t kv_blocks_touched = 0; // ever used: on the CPU, the blocks whose memory is committed
  double kv_cache_usage = 0.0;
  int64_t prefix_cache_queries = 0; // tokens
  int64_t prefix_cache_hits = 0;    // tokens
  int64_t num_preemptions = 0;
  double tokens_per_second = 0.0; // generated, over the recent window
  int32_t max_model_len = 0;
  int32_t block_size = 0;
  // The engine thread is parked with nothing to do, and has handed the pages of its empty KV
  // blocks and its free heap back (set once that is finished; cleared when work arrives).
  bool idle = false;
  std::string device;
};

} // namespace pagoda
