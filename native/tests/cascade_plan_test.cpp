// CPU checks of cascade attention's host side (backend/cuda/cascade_plan.h): the common prefix of
// whole blocks against a brute force over random tables, its edge cases (no common block, all equal,
// the min-context cap, a differing first block, one sequence shorter than the prefix), the
// worthwhile rule, the step's cascade group (the prefix workload's first requests with private
// copies of the prefix), and the prefix kernel's grid and workspace.
#include <cstdio>
#include <random>
#include <vector>

#include "backend/cuda/cascade_plan.h"
#include "check.h"

using namespace pagoda::cuda;

namespace {

struct Tables {
  int max_blocks = 0;
  std::vector<int32_t> block_tables, context_lens, seqs;
  int prefix(int block_size) const {
    return common_prefix_blocks(block_tables.data(), max_blocks, context_lens.data(), seqs.data(),
                                static_cast<int>(seqs.size()), block_size);
  }
};

// n sequences of the given contexts, each table starting with `shared` common ids then its own.
Tables make_tables(const std::vector<int32_t>& contexts, int shared, int block_size) {
  Tables t;
  int most = 0;
  for (int c : contexts) most = std::max(most, (c + block_size - 1) / block_size);
  t.max_blocks = most + 2;
  int next = 1000;
  for (size_t s = 0; s < contexts.size(); ++s) {
    for (int b = 0; b < t.max_blocks; ++b) t.block_tables.push_back(b < shared ? b : next++);
    t.context_lens.push_back(contexts[s]);
    t.seqs.push_back(static_cast<int32_t>(s));
  }
  return t;
}

// The definition, spelled out: the largest k whose first k ids agree everywhere and k * bs <= min - 1.
int brute_prefix(const Tables& t, int bs) {
  int min_ctx = 1 << 30;
  for (int s : t.seqs) min_ctx = std::min(min_ctx, t.context_lens[s]);
  int best = 0;
  for (int k = 1; k <= t.max_blocks; ++k) {
    if (k * bs > min_ctx - 1) break;
    bool same = true;
    for (int s : t.seqs)
      for (int b = 0; b < k; ++b) same = same && t.block_tables[size_t(s) * t.max_blocks + b] == t.block_tables[size_t(t.seqs[0]) * t.max_blocks + b];
    if (!same) break;
    best = k;
  }
  return best;
}

void edge_cases() {
  const int bs = 16;
  // All equal: 1,536 shared tokens (96 blocks) + 512 own, as the prefix workload.
  Tables all = make_tables(std::vector<int32_t>(128, 1536 + 512), 96, bs);
  CHECK_EQ(all.prefix(bs), 96);
  // No common block.
  Tables none = make_tables(std::vector<int32_t>(16, 600), 0, bs);
  CHECK_EQ(none.prefix(bs), 0);
  // Every table identical, contexts 600: capped at (600 - 1) / 16 = 37 blocks (592 tokens), so each keeps 8.
  Tables same = make_tables(std::vector<int32_t>(10, 600), 1000, bs);
  CHECK_EQ(same.prefix(bs), 37);
  // A context of exactly 38 blocks (608 tokens) must keep one token: still 37.
  Tables exact = make_tables(std::vector<int32_t>(10, 608), 1000, bs);
  CHECK_EQ(exact.prefix(bs), 37);
  Tables one_more = make_tables(std::vector<int32_t>(10, 609), 1000, bs);
  CHECK_EQ(one_more.prefix(bs), 38);
  // One sequence shorter than the shared blocks: the cap follows the shortest context.
  std::vector<int32_t> ctx(12, 2048);
  ctx[7] = 300; // (300 - 1) / 16 = 18 blocks
  Tables shorter = make_tables(ctx, 96, bs);
  CHECK_EQ(shorter.prefix(bs), 18);
  // A context of 1 token: nothing can be shared.
  ctx[7] = 1;
  Tables tiny = make_tables(ctx, 96, bs);
  CHECK_EQ(tiny.prefix(bs), 0);
  // A differing first block in one sequence (the last): no prefix at all.
  Tables first = make_tables(std::vector<int32_t>(9, 2048), 96, bs);
  first.block_tables[size_t(8) * first.max_blocks] = 77777;
  CHECK_EQ(first.prefix(bs), 0);
  // One sequence differing at block 40: 40 blocks.
  Tables mid = make_tables(std::vector<int32_t>(9, 2048), 96, bs);
  mid.block_tables[size_t(3) * mid.max_blocks + 40] = 77777;
  CHECK_EQ(mid.prefix(bs), 40);
  // Only the listed sequences count (decode ids skip a prefill row that differs), block size 32.
  Tables some = make_tables(std::vector<int32_t>(9, 2048), 40, 32);
  some.block_tables[size_t(4) * some.max_blocks] = 77777;
  some.seqs = {0, 1, 2, 3, 5, 6, 7, 8};
  CHECK_EQ(some.prefix(32), 40);
  // One sequence: its own blocks, capped.
  Tables single = make_tables({100}, 0, bs);
  CHECK_EQ(single.prefix(bs), 6);
  CHECK_EQ(common_prefix_blocks(nullptr, 0, nullptr, nullptr, 0, bs), 0);

  // The rule: >= 8 decodes and >= 256 tokens.
  CHECK(cascade_worthwhile(8, 256));
  CHECK(cascade_worthwhile(128, 1536));
  CHECK(!cascade_worthwhile(7, 4096));   // fewer than 8 sequences
  CHECK(!cascade_worthwhile(128, 240));  // 15 blocks of 16
  CHECK(cascade_head_dim_supported(64) && cascade_head_dim_supported(128));
  CHECK(!cascade_head_dim_supported(96) && !cascade_head_dim_supported(256));
}

void random_tables() {
  std::mt19937 rng(20);
  for (int trial = 0; trial < 2000; ++trial) {
    const int bs = trial % 2 ? 16 : 32;
    const int n = 1 + static_cast<int>(rng() % 20);
    std::vector<int32_t> ctx(n);
    for (int& c : ctx) c = 1 + static_cast<int>(rng() % 900);
    Tables t = make_tables(ctx, static_cast<int>(rng() % 40), bs);
    // Random disagreements at random places, sometimes none.
    const int flips = static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f)
      t.block_tables[(rng() % n) * size_t(t.max_blocks) + rng() % t.max_blocks] = 50000 + f;
    const int got = t.prefix(bs), want = brute_prefix(t, bs);
    if (got != want) std::fprintf(stderr, "trial %d: %d blocks, brute force %d\n", trial, got, want);
    CHECK_EQ(got, want);
  }
}

// Rewrites sequence s's first `blocks` table entries to ids of its own (a private prefix copy).
void make_private(Tables& t, int s, int blocks, int base) {
  for (int b = 0; b < blocks; ++b) t.block_tables[size_t(s) * t.max_blocks + b] = base + b;
}

void groups() {
  const int bs = 16;
  // The prefix workload as the engine schedules it: the first 4 requests prefilled together, each
  // with its own copy of the 96 prefix blocks; the other 124 share one copy.
  Tables w = make_tables(std::vector<int32_t>(128, 1536 + 512), 96, bs);
  for (int s = 0; s < 4; ++s) make_private(w, s, 96, 200000 + 1000 * s);
  CHECK_EQ(w.prefix(bs), 0); // nothing is common to every sequence
  CascadeGroup g = plan_cascade_group(w.block_tables.data(), w.max_blocks, w.context_lens.data(), w.seqs.data(), 128, bs);
  CHECK_EQ(g.prefix_blocks, 96);
  CHECK_EQ(g.members.size(), size_t(124));
  CHECK_EQ(g.others.size(), size_t(4));
  CHECK(g.members.front() == 4 && g.members.back() == 127);
  CHECK(g.others == std::vector<int32_t>({0, 1, 2, 3}));
  // Everyone shares: no others.
  Tables all = make_tables(std::vector<int32_t>(16, 700), 40, bs);
  g = plan_cascade_group(all.block_tables.data(), all.max_blocks, all.context_lens.data(), all.seqs.data(), 16, bs);
  CHECK(g.prefix_blocks == 40 && g.members.size() == 16 && g.others.empty());
  // Two groups of 7: neither reaches 8 sequences.
  Tables two = make_tables(std::vector<int32_t>(14, 700), 40, bs);
  for (int s = 7; s < 14; ++s) make_private(two, s, 40, 300000);
  g = plan_cascade_group(two.block_tables.data(), two.max_blocks, two.context_lens.data(), two.seqs.data(), 14, bs);
  CHECK(g.prefix_blocks == 0 && g.members.empty() && g.others.empty());
  // Two groups of 8 tie: the one with the lower first block id (0 here, the shared ids start at 0).
  Tables tie = make_tables(std::vector<int32_t>(16, 700), 40, bs);
  for (int s = 0; s < 8; ++s) make_private(tie, s, 40, 300000);
  g = plan_cascade_group(tie.block_tables.data(), tie.max_blocks, tie.context_lens.data(), tie.seqs.data(), 16, bs);
  CHECK(g.prefix_blocks == 40 && g.members.size() == 8 && g.members.front() == 8);
  // A group of 8 whose prefix is 15 blocks (240 tokens): no cascade, and no lists either.
  Tables small = make_tables(std::vector<int32_t>(8, 700), 15, bs);
  g = plan_cascade_group(small.block_tables.data(), small.max_blocks, small.context_lens.data(), small.seqs.data(), 8, bs);
  CHECK(g.prefix_blocks == 0 && g.members.empty());
  // 7 decodes: none.
  g = plan_cascade_group(all.block_tables.data(), all.max_blocks, all.context_lens.data(), all.seqs.data(), 7, bs);
  CHECK_EQ(g.prefix_blocks, 0);
  // A member shorter than the shared blocks caps the group's prefix (299 tokens: 18 blocks).
  std::vector<int32_t> ctx(9, 2048);
  ctx[5] = 299;
  Tables capped = make_tables(ctx, 96, bs);
  g = plan_cascade_group(capped.block_tables.data(), capped.max_blocks, capped.context_lens.data(), capped.seqs.data(), 9, bs);
  CHECK_EQ(g.prefix_blocks, 18);
}

void prefix_plans() {
  // Llama-3-8B heads, 128 decodes, 1,536 shared tokens, 132 SMs: 8 row tiles x 8 heads = 64 CTAs a
  // partition; 4 partitions of 384 tokens (6 x 64 keys) give 256 CTAs, one wave of two an SM (5 would
  // give 320, a second wave).
  CascadePrefixPlan p = plan_cascade_prefix(128, 8, 4, 1536, 132);
  CHECK_EQ(p.row_tiles, 8);
  CHECK_EQ(p.partition_tokens, 384);
  CHECK_EQ(p.partitions, 4);
  CHECK(p.partitions * p.row_tiles * 8 <= 2 * 132);
  // More CTAs a partition than a wave holds: one partition of the whole prefix.
  CHECK_EQ(plan_cascade_prefix(256, 8, 8, 1024, 16).partitions, 1);
  // Few rows: many partitions, at most one a tile (1 row tile x 8 heads; 256 tokens = 4 tiles).
  CHECK_EQ(plan_cascade_prefix(8, 8, 4, 256, 132).partitions, 4);
  // Every plan: partitions of whole tiles covering the prefix, none empty, at most one per tile.
  for (int n : {1, 8, 37, 128, 256})
    for (int group : {1, 4, 8})
      for (int prefix = 16; prefix <= 4096; prefix += 48) {
        const CascadePrefixPlan q = plan_cascade_prefix(n, 8, group, prefix, 132);
        CHECK(q.partition_tokens % kCascadeKeysPerTile == 0);
        CHECK(q.partitions >= 1);
        CHECK(q.partitions * q.partition_tokens >= prefix);
        CHECK((q.partitions - 1) * q.partition_tokens < prefix);
        CHECK(q.row_tiles * kCascadeRowsPerCta >= n * group);
        CHECK(q.partitions <= (prefix + 63) / 64);
      }
  CHECK_EQ(plan_cascade_prefix(0, 8, 4, 1536, 132).partitions, 0);
  // Workspace: 128 x 32 heads x (5 + 1) slots of 128 floats + (m, l).
  CHECK_EQ(cascade_workspace_bytes(5, 1, 128, 32, 128), size_t(128) * 32 * 6 * (128 * 4 + 8));
}

} // namespace

int main() {
  edge_cases();
  random_tables();
  groups();
  prefix_plans();
  if (check_failures() == 0) std::printf("cascade_plan_test: all passed\n");
  return check_failures() != 0;
}
