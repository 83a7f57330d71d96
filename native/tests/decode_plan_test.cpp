// CPU checks of the decode attention launch's host side (backend/cuda/decode_plan.h): the planner's
// split (none once a batch fills the SMs, down to about two blocks an SM below, never under 64
// tokens, always covering the context), the graphs' partition cap, the shallow pipeline's threshold
// and the head-fastest flag, the workspace the split needs, and the longest-first order.
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "backend/cuda/decode_plan.h"
#include "check.h"

using namespace pagoda::cuda;

namespace {

constexpr int kSms = 132; // the H100 / H200

// Llama-3-8B heads (32 query, 8 KV: one 8-row m-tile a KV head).
DecodePlan llama(int seqs, int ctx, DecodePlanOptions o = {}) { return plan_paged_attention_decode(seqs, 8, 32, ctx, kSms, o); }

int64_t blocks(const DecodePlan& p, int seqs, int kv_heads, int m_tiles) {
  return int64_t(seqs) * kv_heads * m_tiles * p.max_partitions;
}

void check_split() {
  // Every plan covers its context in whole partitions of a multiple of 32 tokens.
  for (int seqs : {1, 2, 7, 16, 64, 256})
    for (int ctx : {1, 31, 64, 65, 500, 1500, 4096, 32768}) {
      const DecodePlan p = llama(seqs, ctx);
      CHECK(p.partition_tokens % 32 == 0);
      CHECK(int64_t(p.partition_tokens) * p.max_partitions >= ctx);
      CHECK(int64_t(p.partition_tokens) * (p.max_partitions - 1) < ctx);
      CHECK(p.partition_tokens >= std::min(kDecodeMinPartition, (ctx + 31) / 32 * 32));
      CHECK(!p.shallow && !p.heads_fastest); // the switches are off unless asked for
    }
  // Batch 1 at 4,096 tokens splits to at least two blocks an SM (8 KV heads x 64 partitions of 64).
  const DecodePlan one = llama(1, 4096);
  CHECK(blocks(one, 1, 8, 1) >= 2 * kSms);
  CHECK_EQ(one.partition_tokens, 64);
  // Half a block an SM (66 of them) is enough not to split: batch 9 x 8 KV heads = 72 blocks.
  CHECK_EQ(llama(9, 4096).max_partitions, 1);
  CHECK(llama(8, 4096).max_partitions > 1);
  // Group 32 on one KV head (MQA) takes two 16-row m-tiles: batch 33 x 2 = 66 blocks is unsplit.
  CHECK_EQ(decode_m_tiles(32), 2);
  CHECK_EQ(decode_m_tiles(8), 1);
  CHECK_EQ(decode_m_tiles(7), 1);
  CHECK_EQ(plan_paged_attention_decode(33, 1, 32, 4096, kSms).max_partitions, 1);
  CHECK(plan_paged_attention_decode(32, 1, 32, 4096, kSms).max_partitions > 1);
  // No context: one partition of 32 tokens.
  CHECK_EQ(llama(4, 0).max_partitions, 1);
}

void check_options() {
  // The graphs' cap: batch 16 at max_model_len 4,096 is unsplit by itself, 16 partitions of 256 capped.
  DecodePlanOptions cap;
  cap.partition_cap = 256;
  CHECK_EQ(llama(16, 4096).max_partitions, 1);
  const DecodePlan capped = llama(16, 4096, cap);
  CHECK_EQ(capped.partition_tokens, 256);
  CHECK_EQ(capped.max_partitions, 16);
  CHECK_EQ(llama(1, 4096, cap).partition_tokens, 64); // a cap above the planner's own split changes nothing
  // Shallow from N blocks (4 an SM: 528), counting the blocks after the cap; 1 is every plan.
  DecodePlanOptions shallow;
  shallow.shallow_from_blocks = 4 * kSms;
  CHECK(llama(66, 1000, shallow).shallow);    // 528 blocks
  CHECK(!llama(65, 1000, shallow).shallow);   // 520
  CHECK(llama(256, 1500, shallow).shallow);   // ShareGPT's largest batches
  shallow.partition_cap = 256;
  CHECK(llama(33, 1024, shallow).shallow);    // 33 x 8 x 4 partitions = 1,056 blocks
  shallow.shallow_from_blocks = 1;
  CHECK(llama(1, 100, shallow).shallow);
  DecodePlanOptions order;
  order.heads_fastest = true;
  CHECK(llama(1, 100, order).heads_fastest && llama(0, 0, order).heads_fastest);
}

void check_workspace() {
  const DecodePlan unsplit = llama(64, 2000);
  CHECK_EQ(unsplit.max_partitions, 1);
  CHECK_EQ(paged_attention_decode_workspace_bytes(unsplit, 64, 32, 128), size_t(0));
  const DecodePlan split = llama(2, 2000);
  CHECK(split.max_partitions > 1);
  // A float row of head_dim and a (max, sum) float pair a (sequence, query head, partition).
  CHECK_EQ(paged_attention_decode_workspace_bytes(split, 2, 32, 128), size_t(2) * 32 * split.max_partitions * (128 + 2) * 4);
}

void check_order() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> len(1, 40); // few values: many ties
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 1 + trial * 5;
    std::vector<int32_t> ctx(2 * n);
    for (int32_t& c : ctx) c = len(rng);
    // The step's decode ids: every other sequence (the rest are prompts), in batch order.
    std::vector<int32_t> ids;
    for (int s = 1; s < 2 * n; s += 2) ids.push_back(s);
    std::vector<int32_t> ordered = ids;
    order_longest_first(ordered, ctx.data());
    std::vector<int32_t> sorted_in = ordered, sorted_ids = ids;
    std::sort(sorted_in.begin(), sorted_in.end());
    CHECK(sorted_in == sorted_ids); // the same sequences
    for (size_t i = 1; i < ordered.size(); ++i) {
      CHECK(ctx[ordered[i - 1]] >= ctx[ordered[i]]);
      if (ctx[ordered[i - 1]] == ctx[ordered[i]]) CHECK(ordered[i - 1] < ordered[i]); // ties keep the batch order
    }
  }
  std::vector<int32_t> ctx = {5, 900, 12, 900, 300};
  std::vector<int32_t> ids = {0, 1, 2, 3, 4};
  order_longest_first(ids, ctx.data());
  CHECK((ids == std::vector<int32_t>{1, 3, 4, 2, 0}));
}

} // namespace

int main() {
  check_split();
  check_options();
  check_workspace();
  check_order();
  if (check_failures() == 0) std::printf("decode_plan_test: ok\n");
  return check_failures() != 0;
}
