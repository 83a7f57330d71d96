// Which steps fold RoPE and the KV-cache write into the decode attention kernel
// (PAGODA_DECODE_FUSED_ROPE=1, default off): the switch, the kernel's shape limits and the step's
// facts, host-only (no CUDA headers) so a CPU test checks the decision (fused_rope_decision_test).
#pragma once

#include <cstdlib>
#include <cstring>

namespace pagoda::cuda {

// PAGODA_DECODE_FUSED_ROPE=1 turns it on; read once per process (like PAGODA_CUDA_PDL).
inline bool decode_fused_rope_switch() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_DECODE_FUSED_ROPE");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

// What paged_attention_decode_rope serves: one m-tile per KV head (group <= 16, so the one block of a
// (sequence, KV head, last partition) is the only reader of the new key it writes), a head_dim the
// decode kernel is built for, and rotary pairs in whole 8-column groups (rotary_dim % 16 == 0: a
// lane's q fragment and its rotary partner are both 2-element aligned loads, and half <= 128 fits
// one frequency per thread).
inline bool decode_rope_shape_supported(int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim) {
  if (num_kv_heads <= 0 || num_q_heads % num_kv_heads != 0) return false;
  const int group = num_q_heads / num_kv_heads;
  const bool head_dim_ok = head_dim >= 32 && head_dim <= 256 && head_dim % 16 == 0;
  return group >= 1 && group <= 16 && head_dim_ok && rotary_dim > 0 && rotary_dim <= head_dim &&
         rotary_dim % 16 == 0;
}

// A step's facts the decision reads. Under CUDA graphs every one of them is fixed for a captured
// batch size (decode-only, no cascade, static frequencies, the load's dtype and KV dtype), so a
// graph captures one path and replays it.
struct FusedRopeStepFacts {
  bool switch_on = false;    // decode_fused_rope_switch()
  bool bf16 = false;         // the bf16 path (not float32)
  bool pooling = false;      // an embedder: no KV cache
  bool kv_fp8 = false;       // e4m3 KV cache: falls back
  int num_tokens = 0;
  int num_decode = 0;        // sequences with one new token
  int num_tiles = 0;         // prefill query tiles
  bool cascade = false;      // a cascade group this step
  bool per_seq_freq = false; // any sequence with its own ("dynamic") frequencies
  int num_q_heads = 0, num_kv_heads = 0, head_dim = 0, rotary_dim = 0;
};

inline bool fused_rope_decode_applies(const FusedRopeStepFacts& s) {
  return s.switch_on && s.bf16 && !s.pooling && !s.kv_fp8 && s.num_tokens > 0 && s.num_decode == s.num_tokens &&
         s.num_tiles == 0 && !s.cascade && !s.per_seq_freq &&
         decode_rope_shape_supported(s.num_q_heads, s.num_kv_heads, s.head_dim, s.rotary_dim);
}

} // namespace pagoda::cuda
