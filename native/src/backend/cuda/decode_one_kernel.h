// Decode attention without its merge kernel (PAGODA_DECODE_ONE_KERNEL=1, default off): where a decode splits
// its contexts into partitions (or cascade attention adds the prefix's partials), the last block of each
// (sequence, KV head, m-tile) to finish merges them itself (attention_decode.cu, decode_merge.cuh; same bits as
// paged_attention_decode_merge_kernel). It counts arrivals in a small device buffer of int32 counters that must
// be 0 before the first launch and that every launch leaves 0 again (so a CUDA graph replays). Host-only (no
// CUDA headers): the backend and the tests give the counters to the decode launches through DecodeMergeCounters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace pagoda::cuda {

// PAGODA_DECODE_ONE_KERNEL=1 turns it on; read once per process (like PAGODA_DECODE_FUSED_ROPE).
inline bool decode_one_kernel_switch() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_DECODE_ONE_KERNEL");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

// Counters a decode launch of num_seqs sequences may need: one per (sequence, KV head x m-tile), never more
// than one per (sequence, query head).
inline size_t decode_merge_counters_needed(int num_seqs, int num_q_heads) {
  return static_cast<size_t>(num_seqs) * static_cast<size_t>(num_q_heads);
}

struct DecodeMergeCounterState {
  int32_t* counters = nullptr;
  size_t count = 0;
};
// This thread's counters for the decode launches it enqueues (paged_attention_decode, _rope, _after_prefix and
// so cascade_attention_decode); none (the two-kernel path) outside a DecodeMergeCounters scope.
inline DecodeMergeCounterState& decode_merge_counter_state() {
  static thread_local DecodeMergeCounterState state;
  return state;
}

// While alive, the decode launches of this thread merge in their last block with `counters` (count of them;
// nullptr: the two-kernel path). A launch needing more counters than count takes the two-kernel path. Launches
// sharing the counters must run in stream order (they do: one stream a backend). Scopes nest.
class DecodeMergeCounters {
public:
  DecodeMergeCounters(int32_t* counters, size_t count) : saved_(decode_merge_counter_state()) {
    decode_merge_counter_state() = DecodeMergeCounterState{counters, counters != nullptr ? count : 0};
  }
  ~DecodeMergeCounters() { decode_merge_counter_state() = saved_; }
  DecodeMergeCounters(const DecodeMergeCounters&) = delete;
  DecodeMergeCounters& operator=(const DecodeMergeCounters&) = delete;

private:
  DecodeMergeCounterState saved_;
};

} // namespace pagoda::cuda
