// Causal attention over the paged KV cache: each new token of a sequence attends to the
// cached positions 0..its own position (within the sliding window if any), read through the
// sequence's block table. GQA/MQA: query head h reads KV head h / (heads / kv_heads).
#pragma once

#include <cstdint>

namespace pagoda {
struct ForwardBatch;
}

namespace pagoda::cpu {

class ThreadPool;

struct AttentionShape {
  int64_t num_heads;
  int64_t num_kv_heads;
  int64_t head_dim;
  int64_t block_size;
  int64_t sliding_window; // 0: none
  float scale;            // 1 / sqrt(head_dim)
};

// One layer's cache: [num_blocks · block_size slots, kv_heads, head_dim] float32 each.
struct KvLayer {
  float* k;
  float* v;
};

// Writes the new tokens' K and V ([tokens, kv_heads · head_dim]) at batch.slot_mapping.
void write_kv(const float* k, const float* v, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache);

// out[t, h·head_dim ...] = softmax(q·Kᵀ·scale) · V over the token's visible context.
void attention(const float* q, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache, float* out,
               ThreadPool& pool);
void attention_reference(const float* q, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache,
                         float* out);

} // namespace pagoda::cpu
