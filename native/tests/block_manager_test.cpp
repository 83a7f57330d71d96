// BlockManager: allocation, chained-hash prefix hits, reference counts, LRU reuse and
// eviction order, caching switched off, and the statistics the engine reports.
#include <memory>
#include <numeric>

#include "check.h"
#include "engine/block_manager.h"

using namespace pagoda;

namespace {

std::shared_ptr<Sequence> make_seq(std::vector<int32_t> tokens) {
  auto s = std::make_shared<Sequence>();
  s->num_prompt_tokens = static_cast<int32_t>(tokens.size());
  s->token_ids = std::move(tokens);
  s->params = std::make_shared<SamplingParams>();
  return s;
}

std::vector<int32_t> range(int32_t from, int32_t count) {
  std::vector<int32_t> v(count);
  std::iota(v.begin(), v.end(), from);
  return v;
}

// Admits seq (with whatever the cache offers), computes all its tokens and registers its blocks.
void admit_and_compute(BlockManager& bm, Sequence& seq) {
  PrefixMatch m = bm.match_prefix(seq);
  int32_t new_tokens = seq.num_tokens() - static_cast<int32_t>(m.block_ids.size()) * bm.block_size();
  CHECK(bm.can_admit(seq, m, new_tokens));
  bm.admit(seq, m);
  bm.append_slots(seq, new_tokens);
  seq.num_computed_tokens += new_tokens;
  bm.commit_full_blocks(seq);
}

void test_allocation_and_free() {
  BlockManager bm(8, 4, false);
  auto s = make_seq(range(0, 10)); // 3 blocks
  admit_and_compute(bm, *s);
  CHECK_EQ(s->block_table.size(), size_t{3});
  CHECK_EQ(bm.num_free_blocks(), 5);
  CHECK_EQ(bm.blocks_needed(*s, 2), 0); // 10 + 2 = 12 fits in 3 blocks
  CHECK_EQ(bm.blocks_needed(*s, 3), 1);
  bm.free(*s);
  CHECK_EQ(bm.num_free_blocks(), 8);
  CHECK(s->block_table.empty());
  BlockManagerStats st = bm.stats();
  CHECK_EQ(st.cached, 0); // caching off: nothing is kept
  CHECK_EQ(st.prefix_queries, int64_t{0});
}

void test_prefix_hit_shares_blocks() {
  BlockManager bm(16, 4, true);
  auto a = make_seq(range(100, 13)); // 3 full blocks + 1 token
  admit_and_compute(bm, *a);
  auto b = make_seq(range(100, 13));
  PrefixMatch m = bm.match_prefix(*b);
  CHECK_EQ(m.block_ids.size(), size_t{3});
  CHECK_EQ(m.num_reclaimed, 0); // a still holds them
  bm.admit(*b, m);
  CHECK_EQ(b->num_computed_tokens, 12);
  CHECK_EQ(b->num_cached_tokens, 12);
  for (int i = 0; i < 3; ++i) CHECK_EQ(a->block_table[i], b->block_table[i]);
  bm.append_slots(*b, 1);
  CHECK(a->block_table[3] != b->block_table[3]); // the partial block is private
  BlockManagerStats st = bm.stats();
  CHECK_EQ(st.prefix_queries, int64_t{26});
  CHECK_EQ(st.prefix_hits, int64_t{12});
  CHECK_EQ(st.used, 5);
  // Freeing a keeps the shared blocks alive for b.
  bm.free(*a);
  CHECK_EQ(bm.stats().used, 4);
  bm.free(*b);
  CHECK_EQ(bm.stats().used, 0);
  CHECK_EQ(bm.stats().cached, 3);
}

void test_whole_prompt_hit_leaves_last_token() {
  BlockManager bm(16, 4, true);
  auto a = make_seq(range(0, 8)); // exactly 2 blocks
  admit_and_compute(bm, *a);
  bm.free(*a);
  auto b = make_seq(range(0, 8));
  PrefixMatch m = bm.match_prefix(*b);
  CHECK_EQ(m.block_ids.size(), size_t{1}); // the last token must be computed again
  CHECK_EQ(m.num_reclaimed, 1);
}

void test_diverging_prefix_and_chain() {
  BlockManager bm(16, 4, true);
  auto a = make_seq({1, 2, 3, 4, 5, 6, 7, 8, 9});
  admit_and_compute(bm, *a);
  // Same second block but a different first one: the chained hash must not match block 2.
  auto b = make_seq({0, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK_EQ(bm.match_prefix(*b).block_ids.size(), size_t{0});
  auto c = make_seq({1, 2, 3, 4, 5, 6, 7, 0, 9});
  CHECK_EQ(bm.match_prefix(*c).block_ids.size(), size_t{1});
}

void test_lru_reuse_and_eviction() {
  BlockManager bm(4, 2, true);
  auto a = make_seq({1, 2, 3, 4, 5}); // 2 full + 1
  admit_and_compute(bm, *a);
  bm.free(*a); // its 2 full blocks become cached
  CHECK_EQ(bm.stats().cached, 2);
  CHECK_EQ(bm.num_free_blocks(), 4);
  // A hit reclaims cached blocks from the free pool.
  auto b = make_seq({1, 2, 3, 4, 9});
  PrefixMatch m = bm.match_prefix(*b);
  CHECK_EQ(m.block_ids.size(), size_t{2});
  CHECK_EQ(m.num_reclaimed, 2);
  bm.admit(*b, m);
  CHECK_EQ(bm.num_free_blocks(), 2);
  CHECK_EQ(bm.stats().cached, 0);
  bm.free(*b);
  // Unrelated work that needs every block evicts the cached prefix, tail block first.
  auto c = make_seq({7, 7, 7, 7, 7});
  admit_and_compute(bm, *c); // needs 3: 2 never-cached + 1 evicted
  CHECK_EQ(bm.stats().cached, 1);
  auto d = make_seq({1, 2, 3, 4, 5});
  CHECK_EQ(bm.match_prefix(*d).block_ids.size(), size_t{1}); // first block survived, second evicted
}

void test_can_admit_counts_reclaimed() {
  BlockManager bm(3, 2, true);
  auto a = make_seq({1, 2, 3, 4, 5});
  admit_and_compute(bm, *a);
  bm.free(*a);
  auto b = make_seq({1, 2, 3, 4, 5, 6, 7});
  PrefixMatch m = bm.match_prefix(*b);
  CHECK_EQ(m.block_ids.size(), size_t{2});
  // 4 cached + 3 new tokens need 4 blocks: more than exist.
  CHECK(!bm.can_admit(*b, m, 3));
  // 4 cached + 1 new need 3 blocks: the 2 reclaimed ones plus 1 fresh.
  CHECK(bm.can_admit(*b, m, 1));
  // Reclaimed blocks are not free twice: with a third sequence holding a block, it no longer fits.
  auto c = make_seq({9});
  admit_and_compute(bm, *c);
  CHECK(!bm.can_admit(*b, m, 1));
}

// The CPU pool commits memory on first touch: with reuse_touched_first, fresh blocks come from
// blocks already used (evicting old prefixes) so the touched count stays at the peak in use,
// while prefixes still in the cache keep hitting.
void test_reuse_touched_first() {
  for (bool reuse : {false, true}) {
    BlockManager bm(64, 2, true, reuse);
    auto a = make_seq({1, 2, 3, 4, 5}); // 2 full + 1: 3 blocks
    admit_and_compute(bm, *a);
    bm.free(*a);
    CHECK_EQ(bm.stats().touched, 3);
    CHECK_EQ(bm.stats().cached, 2);
    // A hit on the freed prefix works either way.
    auto b = make_seq({1, 2, 3, 4, 9});
    CHECK_EQ(bm.match_prefix(*b).block_ids.size(), size_t{2});
    // Ten rounds of unrelated work, one 3-block sequence at a time.
    for (int32_t round = 0; round < 10; ++round) {
      auto c = make_seq(range(1000 + round * 10, 5));
      admit_and_compute(bm, *c);
      bm.free(*c);
    }
    BlockManagerStats st = bm.stats();
    CHECK_EQ(st.free, 64);
    if (reuse) {
      CHECK_EQ(st.touched, 3); // never more than one sequence's blocks were in use
      CHECK_EQ(st.cached, 2);  // the last round's prefix, the older ones evicted
      auto last = make_seq(range(1000 + 9 * 10, 5));
      CHECK_EQ(bm.match_prefix(*last).block_ids.size(), size_t{2});
    } else {
      CHECK_EQ(st.touched, 23); // every round took 2 untouched blocks, keeping all prefixes
      CHECK_EQ(st.cached, 22);
    }
  }
  // Reuse never fails an allocation that fits: a sequence larger than the touched blocks
  // evicts what is cached, then takes untouched ones.
  BlockManager bm(8, 2, true, true);
  auto a = make_seq({1, 2, 3, 4, 5});
  admit_and_compute(bm, *a);
  bm.free(*a);
  auto big = make_seq(range(50, 15)); // 8 blocks: the whole pool
  admit_and_compute(bm, *big);
  CHECK_EQ(bm.num_free_blocks(), 0);
  CHECK_EQ(bm.stats().touched, 8);
  CHECK_EQ(bm.stats().cached, 0);
}

// The blocks whose memory the engine may give back when idle: handed out before, free now,
// and not holding a cached prefix.
void test_empty_touched_runs() {
  BlockManager bm(16, 2, true);
  CHECK(bm.empty_touched_runs().empty()); // nothing touched yet
  auto a = make_seq({1, 2, 3, 4, 5}); // blocks 0, 1 full (cached when freed), 2 partial
  auto b = make_seq({9, 9, 9});       // blocks 3 full, 4 partial
  auto c = make_seq({7});             // block 5
  admit_and_compute(bm, *a);
  admit_and_compute(bm, *b);
  admit_and_compute(bm, *c);
  CHECK(bm.empty_touched_runs().empty()); // all in use
  bm.free(*a);
  bm.free(*b);
  auto runs = bm.empty_touched_runs();
  CHECK_EQ(runs.size(), size_t{2});
  CHECK(runs[0] == std::make_pair(2, 1)); // a's partial block; 0, 1 keep a's prefix
  CHECK(runs[1] == std::make_pair(4, 1)); // b's partial block; 3 keeps b's prefix, 5 is c's
  bm.free(*c);
  runs = bm.empty_touched_runs();
  CHECK_EQ(runs.size(), size_t{2});
  CHECK(runs[1] == std::make_pair(4, 2)); // 4 and 5 merge into one run
  // Caching off: everything touched and free is empty, as one run.
  BlockManager off(16, 2, false);
  auto d = make_seq(range(0, 9)); // 5 blocks
  admit_and_compute(off, *d);
  off.free(*d);
  runs = off.empty_touched_runs();
  CHECK_EQ(runs.size(), size_t{1});
  CHECK(runs[0] == std::make_pair(0, 5));
}

} // namespace

int main() {
  test_allocation_and_free();
  test_prefix_hit_shares_blocks();
  test_whole_prompt_hit_leaves_last_token();
  test_diverging_prefix_and_chain();
  test_lru_reuse_and_eviction();
  test_can_admit_counts_reclaimed();
  test_reuse_touched_first();
  test_empty_touched_runs();
  return finish_checks("block_manager_test");
}
