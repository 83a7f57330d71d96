// Paged KV blocks with prefix caching. A full block is keyed by a hash chained from its
// parent block's hash and its own token ids; blocks are reference counted; a freed block
// that holds a cached prefix waits in an LRU list where a later request can pick it up, and
// is evicted (oldest first) when a fresh block is needed: after the never-cached ones, or, where the
// pool's memory is committed on first touch (the CPU), before any block that was never touched.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/sequence.h"

namespace pagoda {

struct BlockManagerStats {
  int32_t total = 0;
  int32_t used = 0;   // referenced by at least one sequence
  int32_t free = 0;   // unreferenced (never-cached + cached)
  int32_t cached = 0; // unreferenced but holding a reusable prefix
  int32_t touched = 0; // ever handed out: on the CPU, the blocks whose memory is committed
  int64_t prefix_queries = 0; // prompt tokens looked up
  int64_t prefix_hits = 0;    // of those, tokens found in the cache
};

// A sequence's prefix-cache lookup: the cached blocks that cover the start of its tokens.
struct PrefixMatch {
  std::vector<int32_t> block_ids;
  std::vector<uint64_t> hashes;
  int32_t num_reclaimed = 0; // of block_ids, how many are unreferenced now (they leave the free pool)
};

uint64_t hash_block(uint64_t parent_hash, const int32_t* token_ids, int32_t count);

class BlockManager {
public:
  // reuse_touched_first: a fresh block comes from blocks already handed out once (evicting the
  // oldest cached prefix if need be) before a never-touched one, so a pool whose pages are
  // committed lazily grows only to the peak number of blocks in use, not toward its full size.
  BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching,
               bool reuse_touched_first = false);

  int32_t block_size() const { return block_size_; }
  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t num_free_blocks() const { return num_free_; }

  // Longest run of cached full blocks at the start of seq's tokens, leaving at least one
  // token to compute (its logits are needed). Empty when caching is off or seq holds blocks.
  PrefixMatch match_prefix(const Sequence& seq) const;
  // Blocks seq still needs to hold num_new more tokens beyond its computed ones.
  int32_t blocks_needed(const Sequence& seq, int32_t num_new_tokens) const;
  // Whether admitting seq with `match` and num_new tokens fits in the free blocks.
  bool can_admit(const Sequence& seq, const PrefixMatch& match, int32_t num_new_tokens) const;
  // Takes the matched blocks for seq (refs++), sets its computed/cached counts, and records
  // the lookup in the hit statistics.
  void admit(Sequence& seq, const PrefixMatch& match);
  bool can_append(const Sequence& seq, int32_t num_new_tokens) const {
    return blocks_needed(seq, num_new_tokens) <= num_free_;
  }
  // Grows seq's block table to cover num_computed_tokens + num_new_tokens.
  void append_slots(Sequence& seq, int32_t num_new_tokens);
  // After a step: registers every block of seq that its computed tokens have filled.
  void commit_full_blocks(Sequence& seq);
  // Drops seq's references (tail first, so the tail is evicted first) and clears its table.
  void free(Sequence& seq);

  BlockManagerStats stats() const;
  // Runs {first, count} of blocks that were handed out before and now hold nothing: free and
  // not holding a cached prefix. Their memory can be given back while the engine is idle.
  std::vector<std::pair<int32_t, int32_t>> empty_touched_runs() const;

private:
  struct Block {
    int32_t ref_count = 0;
    bool hashed = false;
    uint64_t hash = 0;
    uint64_t parent_hash = 0;
    std::vector<int32_t> token_ids; // the block's tokens when hashed (collision check)
    std::list<int32_t>::iterator lru_pos;
  };

  int32_t take_fresh_block();
  int32_t evict_oldest_cached();
  void release(int32_t block_id);
  int32_t find_cached(uint64_t parent_hash, const int32_t* tokens) const;

  int32_t block_size_;
  bool enable_prefix_caching_;
  bool reuse_touched_first_;
  std::vector<Block> blocks_;
  // Unreferenced, no prefix: a stack whose bottom holds the never-touched blocks in descending
  // order (handed out ascending) and whose top holds the freed ones, so ids < num_touched_ are
  // exactly the blocks ever handed out.
  std::vector<int32_t> uncached_free_;
  std::list<int32_t> cached_free_lru_;      // unreferenced with a prefix: front = oldest
  std::unordered_map<uint64_t, int32_t> hash_to_block_;
  int32_t num_free_ = 0;
  int32_t num_touched_ = 0;
  int64_t prefix_queries_ = 0;
  int64_t prefix_hits_ = 0;
};

} // namespace pagoda
