// A random batch in a paged KV cache for the attention tests: fused qkv rows, each sequence's
// K/V scattered through shuffled block tables (unused blocks and slots poisoned with 1e30, so
// a kernel reading them shows), and the double-precision reference output per sequence.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "reference.h"

namespace pagoda::cuda::test {

struct AttentionLayout {
  int q_heads, kv_heads, head_dim, block_size;
};

struct SeqSpec {
  int query_len, context_len; // context_len - query_len tokens already cached
};

struct PagedBatch {
  std::vector<float> qkv;              // [num_tokens, stride]: q, k, v of every new token
  std::vector<float> k_cache, v_cache; // [blocks, kv_heads, block_size, head_dim]
  std::vector<int32_t> query_start, context_lens, block_tables;
  std::vector<std::vector<double>> refs; // per sequence [query_len, q_heads * head_dim]
  int num_tokens = 0, max_blocks = 0;
  int64_t q_width = 0, stride = 0;
};

// draw(n, scale): n values in [-scale, scale] as the kernel under test will see them (bf16
// tests round them to bf16 first, so the reference computes on the same inputs).
// with_refs = false skips the float64 references (long contexts checked against a GPU kernel).
template <typename Draw>
PagedBatch make_paged_batch(const AttentionLayout& lay, const std::vector<SeqSpec>& seqs, std::mt19937& rng,
                            int spare_blocks, Draw draw, bool with_refs = true) {
  PagedBatch p;
  const int num_seqs = static_cast<int>(seqs.size());
  const int D = lay.head_dim, bs = lay.block_size;
  int max_ctx = 0, total_blocks = spare_blocks;
  for (const auto& s : seqs) {
    max_ctx = std::max(max_ctx, s.context_len);
    p.num_tokens += s.query_len;
    total_blocks += (s.context_len + bs - 1) / bs;
  }
  p.max_blocks = (max_ctx + bs - 1) / bs;
  std::vector<int32_t> free_blocks(total_blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);

  const size_t cache_elems = size_t(total_blocks) * lay.kv_heads * bs * D;
  p.k_cache.assign(cache_elems, 1e30f);
  p.v_cache.assign(cache_elems, 1e30f);
  p.block_tables.assign(size_t(num_seqs) * p.max_blocks, -1);
  p.query_start.assign(num_seqs + 1, 0);
  p.context_lens.resize(num_seqs);
  p.q_width = int64_t(lay.q_heads) * D;
  p.stride = p.q_width + 2 * int64_t(lay.kv_heads) * D; // q inside fused qkv rows
  p.qkv = draw(size_t(p.num_tokens) * p.stride, 3.f);
  size_t next_block = 0;
  for (int s = 0; s < num_seqs; ++s) {
    const SeqSpec& spec = seqs[s];
    p.query_start[s + 1] = p.query_start[s] + spec.query_len;
    p.context_lens[s] = spec.context_len;
    for (int b = 0; b < (spec.context_len + bs - 1) / bs; ++b)
      p.block_tables[size_t(s) * p.max_blocks + b] = free_blocks[next_block++];
    const std::vector<float> k = draw(size_t(spec.context_len) * lay.kv_heads * D, 1.f);
    const std::vector<float> v = draw(size_t(spec.context_len) * lay.kv_heads * D, 1.f);
    for (int t = 0; t < spec.context_len; ++t) {
      const int blk = p.block_tables[size_t(s) * p.max_blocks + t / bs];
      for (int h = 0; h < lay.kv_heads; ++h)
        for (int d = 0; d < D; ++d) {
          const size_t dst = ((size_t(blk) * lay.kv_heads + h) * bs + t % bs) * D + d;
          p.k_cache[dst] = k[(size_t(t) * lay.kv_heads + h) * D + d];
          p.v_cache[dst] = v[(size_t(t) * lay.kv_heads + h) * D + d];
        }
    }
    std::vector<float> q(size_t(spec.query_len) * p.q_width);
    for (int i = 0; i < spec.query_len; ++i)
      std::copy_n(&p.qkv[size_t(p.query_start[s] + i) * p.stride], p.q_width, &q[size_t(i) * p.q_width]);
    if (with_refs)
      p.refs.push_back(ref_attention(q, k, v, spec.query_len, spec.context_len, lay.q_heads, lay.kv_heads, D,
                                     1.0 / std::sqrt(double(D))));
  }
  return p;
}

} // namespace pagoda::cuda::test
