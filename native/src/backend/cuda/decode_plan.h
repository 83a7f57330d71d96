// The decode attention launch's host side: how a step's contexts split into partitions, which
// pipeline and dispatch order its blocks take, and the order its sequences are handed over in.
// Pure functions (no CUDA), checked on the CPU by tests/decode_plan_test.cpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pagoda::cuda {

// Contexts are split into partitions of partition_tokens when that gives more parallelism; a
// second kernel merges the partials.
struct DecodePlan {
  int partition_tokens = 0; // multiple of 32
  int max_partitions = 0;
  bool shallow = false;       // two K/V stages a warp: more blocks an SM, less in flight each
  bool heads_fastest = false; // blocks dispatched head by head within a sequence (x = head), then the next sequence
};

// What a caller adds to the plan (the switches are off until measured to pay; attention_decode.cu says
// why each): shallow once the grid has at least shallow_from_blocks blocks (0: never; 1: always);
// heads_fastest for seq_ids ordered longest context first; partition_cap > 0 caps the partitions at
// that many tokens (a multiple of 32; the decode graphs' small batches).
struct DecodePlanOptions {
  int64_t shallow_from_blocks = 0;
  bool heads_fastest = false;
  int partition_cap = 0;
};

constexpr int kDecodeMinPartition = 64; // below this a block is mostly launch and merge cost

// Blocks a KV head takes: one m-tile of 8 rows for groups of up to 8 query heads, else 16-row ones.
inline int decode_m_tiles(int group) { return group <= 8 ? 1 : (group + 15) / 16; }

inline DecodePlan plan_paged_attention_decode(int num_seqs, int num_kv_heads, int num_q_heads, int max_context_len,
                                              int num_sms, DecodePlanOptions options = {}) {
  auto round_up_32 = [](int x) { return (x + 31) / 32 * 32; };
  DecodePlan plan;
  plan.heads_fastest = options.heads_fastest;
  if (max_context_len <= 0 || num_kv_heads <= 0) {
    plan.partition_tokens = 32;
    plan.max_partitions = 1;
    return plan;
  }
  const int m_tiles = decode_m_tiles(num_q_heads / num_kv_heads);
  auto blocks = [&](int p) {
    return static_cast<int64_t>(num_seqs) * num_kv_heads * m_tiles * ((max_context_len + p - 1) / p);
  };
  // Unsplit once the batch gives half a block per SM: on the H100 unsplit won at batch 16
  // (128 blocks; 57 vs 62 us at ctx 2048 split 4 ways), the merge costing more than the idle
  // SMs. Smaller batches split down to about two blocks per SM; short partitions also suit
  // CUDA graphs, whose plan is sized for max_model_len while most contexts are shorter.
  int partition = round_up_32(max_context_len);
  if (blocks(partition) < (num_sms + 1) / 2) {
    const int64_t target = 2 * static_cast<int64_t>(num_sms);
    while (partition > kDecodeMinPartition && blocks(partition) < target) {
      const int half = round_up_32((partition + 1) / 2);
      partition = half < kDecodeMinPartition ? kDecodeMinPartition : half;
    }
  }
  if (options.partition_cap > 0 && partition > options.partition_cap) partition = options.partition_cap;
  plan.partition_tokens = partition;
  plan.max_partitions = (max_context_len + partition - 1) / partition;
  plan.shallow = options.shallow_from_blocks > 0 && blocks(partition) >= options.shallow_from_blocks;
  return plan;
}

// The split plan's partials: an f32 row of head_dim and its (max, sum) pair a (sequence, query head, partition).
inline size_t paged_attention_decode_workspace_bytes(const DecodePlan& plan, int num_seqs, int num_q_heads,
                                                     int head_dim) {
  if (plan.max_partitions <= 1) return 0;
  const size_t slots = static_cast<size_t>(num_seqs) * num_q_heads * plan.max_partitions;
  return slots * sizeof(float) * (head_dim + 2);
}

// Longest context first, equal contexts in their given order. The GPU dispatches a grid's blocks in
// order as slots free up, so with the longest sequences first the last blocks to start are the
// shortest, and a batch of uneven contexts ends near its average SM's finish instead of behind a
// long sequence that happened to start last (the order of LPT scheduling).
inline void order_longest_first(int32_t* ids, size_t n, const int32_t* context_lens) {
  std::stable_sort(ids, ids + n, [context_lens](int32_t a, int32_t b) { return context_lens[a] > context_lens[b]; });
}
inline void order_longest_first(std::vector<int32_t>& ids, const int32_t* context_lens) {
  order_longest_first(ids.data(), ids.size(), context_lens);
}

} // namespace pagoda::cuda
