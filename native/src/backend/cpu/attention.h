// Causal attention over the paged KV cache: each new token of a sequence attends to the
// cached positions 0..its own position (within the sliding window if any), read through the
// sequence's block table. GQA/MQA: query head h reads KV head h / (heads / kv_heads).
#pragma once

#include <cstddef>
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

// Element type of the KV cache: float32, bf16, or fp8 e4m3 holding x / scale (the scale a
// per-layer float, 1 unless the checkpoint gives one, as vLLM's default k_scale / v_scale).
enum class KvDtype { kF32, kBf16, kFp8E4m3 };
size_t kv_dtype_bytes(KvDtype dtype);

// One layer's cache: [num_blocks · block_size slots, kv_heads, head_dim] each, of `dtype`.
struct KvLayer {
  void* k;
  void* v;
  KvDtype dtype = KvDtype::kF32;
  float k_scale = 1.0f;
  float v_scale = 1.0f;
  KvLayer(float* k_, float* v_) : k(k_), v(v_) {}
  KvLayer(void* k_, void* v_, KvDtype d, float ks = 1.0f, float vs = 1.0f)
      : k(k_), v(v_), dtype(d), k_scale(ks), v_scale(vs) {}
};

// Row `slot` of a cache tensor (elements [offset, offset + n) of it) as float32: a pointer
// into the cache for float32, else converted into `tmp`.
const float* kv_row_of(const KvLayer& cache, bool key, int64_t offset, int64_t n, float* tmp);

// Writes the new tokens' K and V ([tokens, kv_heads · head_dim]) at batch.slot_mapping,
// converted to the cache's dtype (fp8: x / scale, rounded to nearest even, saturating).
void write_kv(const float* k, const float* v, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache);

// out[t, h·head_dim ...] = softmax(q·Kᵀ·scale) · V over the token's visible context.
void attention(const float* q, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache, float* out,
               ThreadPool& pool);
void attention_reference(const float* q, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache,
                         float* out);

} // namespace pagoda::cpu
