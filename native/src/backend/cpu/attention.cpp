// Paged causal attention: for each (token, head) a dot-product pass over the visible slots,
// a softmax, and a weighted sum of V rows. AVX2 and reference.
#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/simd.h"
#include "backend/cpu/thread_pool.h"
#include "model/dtype.h"
#include "model/fp8.h"

namespace pagoda::cpu {

namespace {

// The sequence each token belongs to.
std::vector<int32_t> token_sequences(const ForwardBatch& batch) {
  std::vector<int32_t> seq(batch.num_tokens());
  for (int32_t s = 0; s < batch.num_seqs(); ++s)
    for (int32_t t = batch.query_start[s]; t < batch.query_start[s + 1]; ++t) seq[t] = s;
  return seq;
}

// Cache slot of `position` in sequence `s`.
inline int64_t slot_of(const ForwardBatch& batch, int32_t s, int64_t position, int64_t block_size) {
  const int32_t block = batch.block_tables[static_cast<size_t>(s) * batch.max_blocks_per_seq + position / block_size];
  return static_cast<int64_t>(block) * block_size + position % block_size;
}

inline int64_t first_visible(int64_t position, int64_t window) {
  return window > 0 ? std::max<int64_t>(0, position - window + 1) : 0;
}

inline float dot(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = hsum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void axpy(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

void store_row(const KvLayer& cache, bool key, int64_t offset, const float* src, int64_t n) {
  void* base = key ? cache.k : cache.v;
  switch (cache.dtype) {
  case KvDtype::kF32: std::memcpy(static_cast<float*>(base) + offset, src, n * sizeof(float)); break;
  case KvDtype::kBf16: {
    uint16_t* dst = static_cast<uint16_t*>(base) + offset;
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
    break;
  }
  case KvDtype::kFp8E4m3: {
    uint8_t* dst = static_cast<uint8_t*>(base) + offset;
    const float inv = 1.0f / (key ? cache.k_scale : cache.v_scale);
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_fp8_e4m3(src[i] * inv);
    break;
  }
  }
}

} // namespace

size_t kv_dtype_bytes(KvDtype dtype) {
  switch (dtype) {
  case KvDtype::kF32: return 4;
  case KvDtype::kBf16: return 2;
  case KvDtype::kFp8E4m3: return 1;
  }
  return 4;
}

const float* kv_row_of(const KvLayer& cache, bool key, int64_t offset, int64_t n, float* tmp) {
  const void* base = key ? cache.k : cache.v;
  switch (cache.dtype) {
  case KvDtype::kF32: return static_cast<const float*>(base) + offset;
  case KvDtype::kBf16: {
    const uint16_t* src = static_cast<const uint16_t*>(base) + offset;
    for (int64_t i = 0; i < n; ++i) tmp[i] = bf16_to_f32(src[i]);
    return tmp;
  }
  case KvDtype::kFp8E4m3: {
    const uint8_t* src = static_cast<const uint8_t*>(base) + offset;
    const float scale = key ? cache.k_scale : cache.v_scale;
    for (int64_t i = 0; i < n; ++i) tmp[i] = fp8_e4m3_to_f32(src[i]) * scale;
    return tmp;
  }
  }
  return tmp;
}

void write_kv(const float* k, const float* v, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache) {
  const int64_t row = shape.num_kv_heads * shape.head_dim;
  for (int32_t t = 0; t < batch.num_tokens(); ++t) {
    const int64_t slot = batch.slot_mapping[t];
    if (slot < 0) continue; // a padding token with no cache slot
    store_row(cache, true, slot * row, k + static_cast<int64_t>(t) * row, row);
    store_row(cache, false, slot * row, v + static_cast<int64_t>(t) * row, row);
  }
}

void attention(const float* q, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache, float* out,
               ThreadPool& pool) {
  const std::vector<int32_t> seq = token_sequences(batch);
  const int64_t hd = shape.head_dim, heads = shape.num_heads;
  const int64_t group = heads / shape.num_kv_heads;
  const int64_t kv_row = shape.num_kv_heads * hd;
  const int64_t items = static_cast<int64_t>(batch.num_tokens()) * heads;
  pool.parallel_for(items, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores, tmp(static_cast<size_t>(hd));
    std::vector<int64_t> slots;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / heads, h = item % heads, kvh = h / group;
      const int32_t s = seq[t];
      const int64_t pos = batch.positions[t];
      const int64_t first = first_visible(pos, shape.sliding_window);
      const int64_t n = pos - first + 1;
      scores.resize(n);
      slots.resize(n);
      const float* qv = q + t * heads * hd + h * hd;
      float max_score = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        slots[j] = slot_of(batch, s, first + j, shape.block_size);
        scores[j] = dot(qv, kv_row_of(cache, true, slots[j] * kv_row + kvh * hd, hd, tmp.data()), hd) * shape.scale;
        max_score = std::max(max_score, scores[j]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j < n; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
      }
      float* o = out + t * heads * hd + h * hd;
      std::fill(o, o + hd, 0.0f);
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < n; ++j)
        axpy(scores[j] * inv, kv_row_of(cache, false, slots[j] * kv_row + kvh * hd, hd, tmp.data()), o, hd);
    }
  });
}

void attention_reference(const float* q, const ForwardBatch& batch, const AttentionShape& shape, KvLayer cache,
                         float* out) {
  const std::vector<int32_t> seq = token_sequences(batch);
  const int64_t hd = shape.head_dim, heads = shape.num_heads, group = heads / shape.num_kv_heads;
  const int64_t kv_row = shape.num_kv_heads * hd;
  std::vector<float> tmp(static_cast<size_t>(hd));
  for (int32_t t = 0; t < batch.num_tokens(); ++t) {
    const int64_t pos = batch.positions[t];
    const int64_t first = first_visible(pos, shape.sliding_window);
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kvh = h / group;
      std::vector<double> p;
      double m = -INFINITY;
      for (int64_t j = first; j <= pos; ++j) {
        const float* kr = kv_row_of(cache, true, slot_of(batch, seq[t], j, shape.block_size) * kv_row + kvh * hd, hd, tmp.data());
        double d = 0.0;
        for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[(t * heads + h) * hd + i]) * kr[i];
        p.push_back(d * shape.scale);
        m = std::max(m, p.back());
      }
      double sum = 0.0;
      for (double& x : p) sum += (x = std::exp(x - m));
      for (int64_t i = 0; i < hd; ++i) {
        double acc = 0.0;
        for (int64_t j = first; j <= pos; ++j)
          acc += p[j - first] * kv_row_of(cache, false, slot_of(batch, seq[t], j, shape.block_size) * kv_row + kvh * hd + i, 1,
                                          tmp.data())[0];
        out[(t * heads + h) * hd + i] = static_cast<float>(acc / sum);
      }
    }
  }
}

} // namespace pagoda::cpu
