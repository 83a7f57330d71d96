// Cascade attention's host side (issue 20): the prefix of whole KV blocks every decode sequence of a
// step shares, whether the step runs cascade attention, and the prefix kernel's grid. Pure functions
// (no CUDA), checked on the CPU by tests/cascade_plan_test.cpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace pagoda::cuda {

// vLLM's rule of thumb (V1 FlashAttention backend, use_cascade_attention): below 8 decode queries or
// 256 shared tokens, reading the prefix once does not pay for the extra kernel and merge.
constexpr int kCascadeMinDecodes = 8;
constexpr int kCascadeMinPrefixTokens = 256;
// The prefix kernel's tiles (attention_cascade.cu): 64 query rows (4 warps x 16) a CTA, 64 keys a
// K/V tile; partitions are whole tiles.
constexpr int kCascadeRowsPerCta = 64;
constexpr int kCascadeKeysPerTile = 64;

// The head_dims the prefix kernel is compiled for (bf16 KV only).
constexpr bool cascade_head_dim_supported(int head_dim) { return head_dim == 64 || head_dim == 128; }

// Cascade attention is on by default (H200, prefix workload: decode steps 11.34 -> 8.87 ms, prefix
// caching 2.54x -> 2.85x, bench/results/h200-llama3-8b-prefix-caching-cascade1-b33a09e.json);
// PAGODA_CASCADE_ATTENTION=0 turns it off (read once).
inline bool cascade_attention_switch() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_CASCADE_ATTENTION");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return on;
}

// Whole blocks at the start of every listed sequence's table with the same physical id, capped so
// each keeps at least one token after them: prefix tokens <= min(context_len) - 1, rounded down to
// whole blocks. block_tables is [num_seqs, max_blocks_per_seq] row-major; seqs are row indices.
inline int common_prefix_blocks(const int32_t* block_tables, int max_blocks_per_seq, const int32_t* context_lens,
                                const int32_t* seqs, int num_seqs, int block_size) {
  if (num_seqs <= 0 || block_size <= 0) return 0;
  int min_context = context_lens[seqs[0]];
  for (int i = 1; i < num_seqs; ++i) min_context = std::min(min_context, context_lens[seqs[i]]);
  const int cap = std::min(std::max(min_context - 1, 0) / block_size, max_blocks_per_seq);
  const int32_t* first = block_tables + static_cast<size_t>(seqs[0]) * max_blocks_per_seq;
  int blocks = cap;
  for (int i = 1; i < num_seqs && blocks > 0; ++i) {
    const int32_t* row = block_tables + static_cast<size_t>(seqs[i]) * max_blocks_per_seq;
    int same = 0;
    while (same < blocks && row[same] == first[same]) ++same;
    blocks = same;
  }
  return blocks;
}

// Whether a step with num_decode decode sequences sharing prefix_tokens runs cascade attention.
constexpr bool cascade_worthwhile(int num_decode, int prefix_tokens) {
  return num_decode >= kCascadeMinDecodes && prefix_tokens >= kCascadeMinPrefixTokens;
}

// A step's cascade group. The engine's prefix cache shares a block only once it is computed, so the
// few requests prefilled in the same step as the first one keep private copies of the prefix and no
// block is common to EVERY decode sequence of a shared-prefix workload (vLLM shares blocks at
// allocation and does not meet this). The group is therefore the decode sequences whose first block
// is the most common first block (ties: the lowest id); cascade attention runs for them over their
// common prefix and the plain decode kernel for the others. prefix_blocks 0: no cascade this step
// (fewer than kCascadeMinDecodes in the group or a prefix under kCascadeMinPrefixTokens).
struct CascadeGroup {
  int prefix_blocks = 0;
  std::vector<int32_t> members; // rows of the batch, in decode order
  std::vector<int32_t> others;
};

inline CascadeGroup plan_cascade_group(const int32_t* block_tables, int max_blocks_per_seq,
                                       const int32_t* context_lens, const int32_t* seqs, int num_seqs,
                                       int block_size) {
  CascadeGroup g;
  if (num_seqs < kCascadeMinDecodes || max_blocks_per_seq <= 0 || block_size <= 0) return g;
  auto first_block = [&](int32_t seq) { return block_tables[static_cast<size_t>(seq) * max_blocks_per_seq]; };
  std::unordered_map<int32_t, int> count;
  int32_t best = 0;
  int best_count = 0;
  for (int i = 0; i < num_seqs; ++i) {
    const int32_t b = first_block(seqs[i]);
    const int c = ++count[b];
    if (c > best_count || (c == best_count && b < best)) {
      best = b;
      best_count = c;
    }
  }
  if (best_count < kCascadeMinDecodes) return g;
  for (int i = 0; i < num_seqs; ++i) (first_block(seqs[i]) == best ? g.members : g.others).push_back(seqs[i]);
  const int blocks = common_prefix_blocks(block_tables, max_blocks_per_seq, context_lens, g.members.data(),
                                          static_cast<int>(g.members.size()), block_size);
  if (!cascade_worthwhile(static_cast<int>(g.members.size()), blocks * block_size)) return CascadeGroup{};
  g.prefix_blocks = blocks;
  return g;
}

// The prefix kernel's grid: (kv head, row tile, partition). Rows are decode sequence x query head of
// the KV head's group. Partitions of whole tiles, as many as fit one wave of two CTAs an SM (a CTA
// holds 96 KB of shared memory and 254 registers a thread at head_dim 128: a second, partial wave
// would cost a whole partition's time), at least one, never more than the prefix has tiles.
struct CascadePrefixPlan {
  int row_tiles = 0;
  int partition_tokens = 0; // multiple of kCascadeKeysPerTile
  int partitions = 0;       // also the prefix's slots per (sequence, query head) in the workspace
};

inline CascadePrefixPlan plan_cascade_prefix(int num_decode, int num_kv_heads, int group, int prefix_tokens,
                                             int num_sms) {
  CascadePrefixPlan p;
  if (num_decode <= 0 || num_kv_heads <= 0 || group <= 0 || prefix_tokens <= 0) return p;
  p.row_tiles = (num_decode * group + kCascadeRowsPerCta - 1) / kCascadeRowsPerCta;
  const int tiles = (prefix_tokens + kCascadeKeysPerTile - 1) / kCascadeKeysPerTile;
  const int per_partition = num_kv_heads * p.row_tiles;
  const int want = 2 * std::max(num_sms, 1) / per_partition;
  const int parts = std::max(1, std::min(want, tiles));
  p.partition_tokens = (tiles + parts - 1) / parts * kCascadeKeysPerTile;
  p.partitions = (prefix_tokens + p.partition_tokens - 1) / p.partition_tokens;
  return p;
}

// Workspace of a cascade step: per (decode sequence, query head) the prefix's partitions then the
// suffix decode's, each a normalized O row (head_dim floats) and its (m, l) pair (float2).
inline size_t cascade_workspace_bytes(int prefix_partitions, int suffix_partitions, int num_decode, int num_q_heads,
                                      int head_dim) {
  const size_t slots = static_cast<size_t>(num_decode) * num_q_heads * (prefix_partitions + suffix_partitions);
  return slots * (sizeof(float) * head_dim + 2 * sizeof(float));
}

} // namespace pagoda::cuda
