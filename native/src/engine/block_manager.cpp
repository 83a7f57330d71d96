// Paged KV block allocation with a chained-hash prefix cache; see block_manager.h.
#include "engine/block_manager.h"

#include <algorithm>
#include <cstring>

#include "error.h"

namespace pagoda {

namespace {

// splitmix64 finalizer: a cheap, well-mixed 64-bit step. Hits are also checked against the
// stored tokens and parent hash, so a collision can never hand out the wrong K/V.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

} // namespace

uint64_t hash_block(uint64_t parent_hash, const int32_t* token_ids, int32_t count) {
  uint64_t h = mix(parent_hash ^ 0x5bd1e995ull);
  for (int32_t i = 0; i < count; ++i) {
    h = mix(h ^ static_cast<uint32_t>(token_ids[i]));
  }
  return mix(h ^ static_cast<uint64_t>(count));
}

BlockManager::BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching,
                           bool reuse_touched_first)
    : block_size_(block_size), enable_prefix_caching_(enable_prefix_caching),
      reuse_touched_first_(reuse_touched_first), blocks_(num_blocks) {
  if (num_blocks <= 0 || block_size <= 0) {
    throw Error("BlockManager needs at least one block of at least one token");
  }
  uncached_free_.reserve(num_blocks);
  // Highest id at the back so blocks are handed out in ascending order.
  for (int32_t id = num_blocks - 1; id >= 0; --id) uncached_free_.push_back(id);
  num_free_ = num_blocks;
}

int32_t BlockManager::find_cached(uint64_t parent_hash, const int32_t* tokens) const {
  uint64_t h = hash_block(parent_hash, tokens, block_size_);
  auto it = hash_to_block_.find(h);
  if (it == hash_to_block_.end()) return -1;
  const Block& b = blocks_[it->second];
  if (b.parent_hash != parent_hash ||
      std::memcmp(b.token_ids.data(), tokens, sizeof(int32_t) * block_size_) != 0) {
    return -1;
  }
  return it->second;
}

PrefixMatch BlockManager::match_prefix(const Sequence& seq) const {
  PrefixMatch match;
  if (!enable_prefix_caching_ || !seq.block_table.empty()) return match;
  // At least the last token is computed again: sampling needs its logits.
  int32_t max_blocks = (seq.num_tokens() - 1) / block_size_;
  uint64_t parent = 0;
  for (int32_t i = 0; i < max_blocks; ++i) {
    int32_t id = find_cached(parent, seq.token_ids.data() + static_cast<size_t>(i) * block_size_);
    if (id < 0) break;
    parent = blocks_[id].hash;
    match.block_ids.push_back(id);
    match.hashes.push_back(parent);
    if (blocks_[id].ref_count == 0) ++match.num_reclaimed;
  }
  return match;
}

int32_t BlockManager::blocks_needed(const Sequence& seq, int32_t num_new_tokens) const {
  int32_t tokens = seq.num_computed_tokens + num_new_tokens;
  int32_t need = (tokens + block_size_ - 1) / block_size_;
  return std::max<int32_t>(0, need - static_cast<int32_t>(seq.block_table.size()));
}

bool BlockManager::can_admit(const Sequence& seq, const PrefixMatch& match,
                             int32_t num_new_tokens) const {
  int32_t cached_tokens = static_cast<int32_t>(match.block_ids.size()) * block_size_;
  int32_t need = (cached_tokens + num_new_tokens + block_size_ - 1) / block_size_ -
                 static_cast<int32_t>(match.block_ids.size());
  (void)seq;
  return need + match.num_reclaimed <= num_free_;
}

void BlockManager::admit(Sequence& seq, const PrefixMatch& match) {
  if (!seq.block_table.empty()) throw Error("BlockManager::admit: sequence already holds blocks");
  for (int32_t id : match.block_ids) {
    Block& b = blocks_[id];
    if (b.ref_count == 0) {
      cached_free_lru_.erase(b.lru_pos);
      --num_free_;
    }
    ++b.ref_count;
  }
  seq.block_table = match.block_ids;
  seq.block_hashes = match.hashes;
  int32_t cached = static_cast<int32_t>(match.block_ids.size()) * block_size_;
  seq.num_computed_tokens = cached;
  seq.num_cached_tokens = std::min(cached, seq.num_prompt_tokens);
  if (enable_prefix_caching_) {
    prefix_queries_ += seq.num_tokens();
    prefix_hits_ += cached;
  }
}

int32_t BlockManager::evict_oldest_cached() {
  int32_t id = cached_free_lru_.front(); // the least recently freed prefix
  cached_free_lru_.pop_front();
  Block& b = blocks_[id];
  hash_to_block_.erase(b.hash);
  b.hashed = false;
  b.token_ids.clear();
  return id;
}

int32_t BlockManager::take_fresh_block() {
  int32_t id;
  bool has_uncached = !uncached_free_.empty();
  bool top_touched = has_uncached && uncached_free_.back() < num_touched_;
  // Evicting a cached prefix is preferred only to committing memory never touched before.
  bool evict_first = reuse_touched_first_ && !top_touched && !cached_free_lru_.empty();
  if (has_uncached && !evict_first) {
    id = uncached_free_.back();
    uncached_free_.pop_back();
  } else if (!cached_free_lru_.empty()) {
    id = evict_oldest_cached();
  } else {
    throw Error("BlockManager: out of KV blocks (the scheduler should have checked)");
  }
  num_touched_ = std::max(num_touched_, id + 1);
  --num_free_;
  blocks_[id].ref_count = 1;
  return id;
}

void BlockManager::append_slots(Sequence& seq, int32_t num_new_tokens) {
  int32_t need = blocks_needed(seq, num_new_tokens);
  if (need > num_free_) throw Error("BlockManager::append_slots: not enough free KV blocks");
  for (int32_t i = 0; i < need; ++i) seq.block_table.push_back(take_fresh_block());
}

void BlockManager::commit_full_blocks(Sequence& seq) {
  if (!enable_prefix_caching_) return;
  int32_t full = std::min<int32_t>(seq.num_computed_tokens / block_size_,
                                   static_cast<int32_t>(seq.block_table.size()));
  for (int32_t i = static_cast<int32_t>(seq.block_hashes.size()); i < full; ++i) {
    uint64_t parent = i == 0 ? 0 : seq.block_hashes[i - 1];
    const int32_t* tokens = seq.token_ids.data() + static_cast<size_t>(i) * block_size_;
    uint64_t h = hash_block(parent, tokens, block_size_);
    seq.block_hashes.push_back(h);
    Block& b = blocks_[seq.block_table[i]];
    // Another sequence may have computed the same prefix in the same step: keep the first
    // copy in the cache; this one stays private and is plainly freed later.
    if (b.hashed || hash_to_block_.count(h)) continue;
    b.hashed = true;
    b.hash = h;
    b.parent_hash = parent;
    b.token_ids.assign(tokens, tokens + block_size_);
    hash_to_block_.emplace(h, seq.block_table[i]);
  }
}

void BlockManager::release(int32_t block_id) {
  Block& b = blocks_[block_id];
  if (b.ref_count <= 0) throw Error("BlockManager: double free of a KV block");
  if (--b.ref_count > 0) return;
  ++num_free_;
  if (b.hashed) {
    b.lru_pos = cached_free_lru_.insert(cached_free_lru_.end(), block_id);
  } else {
    uncached_free_.push_back(block_id);
  }
}

void BlockManager::free(Sequence& seq) {
  for (auto it = seq.block_table.rbegin(); it != seq.block_table.rend(); ++it) release(*it);
  seq.block_table.clear();
  seq.block_hashes.clear();
  seq.num_computed_tokens = 0;
}

std::vector<std::pair<int32_t, int32_t>> BlockManager::empty_touched_runs() const {
  std::vector<bool> empty(static_cast<size_t>(num_touched_), false);
  for (int32_t id : uncached_free_)
    if (id < num_touched_) empty[id] = true;
  std::vector<std::pair<int32_t, int32_t>> runs;
  for (int32_t id = 0; id < num_touched_; ++id) {
    if (!empty[id]) continue;
    if (!runs.empty() && runs.back().first + runs.back().second == id) ++runs.back().second;
    else runs.emplace_back(id, 1);
  }
  return runs;
}

BlockManagerStats BlockManager::stats() const {
  BlockManagerStats s;
  s.total = num_blocks();
  s.free = num_free_;
  s.used = s.total - s.free;
  s.cached = static_cast<int32_t>(cached_free_lru_.size());
  s.touched = num_touched_;
  s.prefix_queries = prefix_queries_;
  s.prefix_hits = prefix_hits_;
  return s;
}

} // namespace pagoda
