// CpuBackend::forward: embedding, then per layer RMSNorm → q/k/v (+bias, q/k norm, RoPE) →
// KV write → paged attention → o_proj + residual → RMSNorm → SwiGLU MLP + residual; final
// norm and lm_head on the rows that need logits.
#include "backend/cpu/cpu_backend.h"

#include <cmath>
#include <sstream>

#include "backend/cpu/attention.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/norm.h"
#include "backend/cpu/rope.h"
#include "model/rope_frequencies.h"
#include "backend/cpu/simd.h"
#include "engine/engine_config.h"
#include "error.h"
#include "model/model_loader.h"

namespace pagoda::cpu {

namespace {

constexpr int64_t kDefaultKvSpace = int64_t(4) << 30;

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out;
  if (!t.present()) return out;
  out.resize(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = load_any(t.dtype, t.data, i);
  return out;
}

MatrixRef matrix(const TensorView& t) { return MatrixRef{t.dtype, t.data, t.rows(), t.cols()}; }

const float* opt(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

} // namespace

size_t CpuBackend::Workspace::bytes() const {
  size_t n = 0;
  for (const auto* b : {&x, &h, &q, &k, &v, &attn, &gate, &up, &rope_cos, &rope_sin, &rows}) n += b->capacity();
  return n * sizeof(float);
}

CpuBackend::CpuBackend(ModelConfig config, ModelWeights weights, const CpuOptions& options)
    : config_(std::move(config)), weights_(std::move(weights)), pool_(options.num_threads),
      kv_cache_space_bytes_(options.kv_cache_space_bytes > 0 ? options.kv_cache_space_bytes : kDefaultKvSpace),
      profile_block_size_(options.block_size > 0 ? options.block_size : 16) {
  for (const LayerWeights& l : weights_.layers) {
    vectors_.push_back(LayerVectors{to_f32(l.input_layernorm), to_f32(l.post_attention_layernorm), to_f32(l.q_norm),
                                    to_f32(l.k_norm), to_f32(l.q_bias), to_f32(l.k_bias), to_f32(l.v_bias),
                                    to_f32(l.o_bias)});
  }
  final_norm_ = to_f32(weights_.norm);
  inv_freq_ = rope_inv_freq(rope_spec(config_), 0);
}

void CpuBackend::ensure_workspace(int64_t tokens, int64_t logit_rows) {
  const ModelConfig& c = config_;
  auto grow = [](std::vector<float>& b, int64_t n) {
    if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  };
  grow(ws_.x, tokens * c.hidden_size);
  grow(ws_.h, tokens * c.hidden_size);
  grow(ws_.q, tokens * c.q_size());
  grow(ws_.k, tokens * c.kv_size());
  grow(ws_.v, tokens * c.kv_size());
  grow(ws_.attn, tokens * std::max(c.q_size(), c.hidden_size));
  grow(ws_.gate, tokens * c.intermediate_size);
  grow(ws_.up, tokens * c.intermediate_size);
  grow(ws_.rope_cos, tokens * (c.head_dim / 2));
  grow(ws_.rope_sin, tokens * (c.head_dim / 2));
  grow(ws_.rows, logit_rows * c.hidden_size);
}

MemoryProfile CpuBackend::profile(int32_t max_num_batched_tokens, int32_t max_num_seqs) {
  ensure_workspace(max_num_batched_tokens, max_num_seqs);
  MemoryProfile p;
  p.weights_bytes = weights_.total_bytes();
  // Activations: the workspace at its largest, the logits of a full batch, and each
  // thread's attention scores over the longest context.
  p.peak_activation_bytes = ws_.bytes() + static_cast<size_t>(max_num_seqs) * config_.vocab_size * sizeof(float) +
                            static_cast<size_t>(pool_.size()) * config_.max_position_embeddings * 2 * sizeof(float);
  // K and V of every layer for one block of the engine's block size, float32.
  const size_t per_token = size_t(2) * config_.num_hidden_layers * config_.kv_size() * sizeof(float);
  p.kv_bytes_per_block = per_token * static_cast<size_t>(profile_block_size_);
  p.total_bytes = static_cast<size_t>(kv_cache_space_bytes_) + p.weights_bytes + p.peak_activation_bytes;
  return p;
}

void CpuBackend::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  if (num_blocks <= 0 || block_size <= 0) {
    throw Error("allocate_kv_cache: num_blocks (" + std::to_string(num_blocks) + ") and block_size (" +
                std::to_string(block_size) + ") must be positive");
  }
  const size_t per_layer = static_cast<size_t>(num_blocks) * block_size * config_.kv_size();
  kv_ = HostBuffer(per_layer * 2 * config_.num_hidden_layers);
  num_blocks_ = num_blocks;
  block_size_ = block_size;
}

void CpuBackend::validate(const ForwardBatch& b) const {
  if (!kv_.data()) throw Error("forward called before allocate_kv_cache");
  const int32_t n = b.num_tokens(), s = b.num_seqs();
  if (n == 0 || s == 0) throw Error("forward: empty batch");
  if (b.positions.size() != size_t(n) || b.slot_mapping.size() != size_t(n) || b.query_start.size() != size_t(s) + 1 ||
      b.query_start.front() != 0 || b.query_start.back() != n ||
      b.block_tables.size() != size_t(s) * size_t(b.max_blocks_per_seq)) {
    throw Error("forward: inconsistent ForwardBatch sizes (positions, slot_mapping, query_start, block_tables)");
  }
  const int64_t slots = int64_t(num_blocks_) * block_size_;
  for (int32_t seq = 0; seq < s; ++seq) {
    if (b.query_start[seq + 1] < b.query_start[seq]) throw Error("forward: query_start must not decrease");
    const int32_t ctx = b.context_lens[seq];
    if (ctx > int64_t(b.max_blocks_per_seq) * block_size_) {
      throw Error("forward: context_len " + std::to_string(ctx) + " exceeds the sequence's block table");
    }
    for (int32_t blk = 0; blk < (ctx + block_size_ - 1) / block_size_; ++blk) {
      const int32_t id = b.block_tables[size_t(seq) * b.max_blocks_per_seq + blk];
      if (id < 0 || id >= num_blocks_) throw Error("forward: block table entry " + std::to_string(id) + " out of range");
    }
    for (int32_t t = b.query_start[seq]; t < b.query_start[seq + 1]; ++t) {
      if (b.positions[t] < 0 || b.positions[t] >= ctx) {
        throw Error("forward: position " + std::to_string(b.positions[t]) + " outside the context of length " +
                    std::to_string(ctx));
      }
    }
  }
  for (int32_t t = 0; t < n; ++t) {
    if (b.token_ids[t] < 0 || b.token_ids[t] >= config_.vocab_size) {
      throw Error("forward: token id " + std::to_string(b.token_ids[t]) + " outside the vocabulary of " +
                  std::to_string(config_.vocab_size));
    }
    if (b.slot_mapping[t] >= slots) throw Error("forward: slot " + std::to_string(b.slot_mapping[t]) + " out of range");
  }
}

void CpuBackend::compute_rope(const ForwardBatch& b) {
  const int64_t half = config_.head_dim / 2;
  const bool dynamic = config_.rope_scaling.type == "dynamic";
  std::vector<float> inv;
  for (int32_t s = 0; s < b.num_seqs(); ++s) {
    // Dynamic NTK scaling depends on the sequence length, so each sequence gets its own.
    if (dynamic) inv = rope_inv_freq(rope_spec(config_), b.context_lens[s]);
    const float* freqs = dynamic ? inv.data() : inv_freq_.data();
    for (int32_t t = b.query_start[s]; t < b.query_start[s + 1]; ++t) {
      rope_cos_sin(freqs, half, b.positions[t], ws_.rope_cos.data() + t * half, ws_.rope_sin.data() + t * half);
    }
  }
}

void CpuBackend::run_layer(int li, const ForwardBatch& b) {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[li];
  const LayerVectors& vec = vectors_[li];
  const int64_t n = b.num_tokens(), hidden = c.hidden_size, hd = c.head_dim, half = hd / 2;
  const float eps = static_cast<float>(c.rms_norm_eps);
  float *x = ws_.x.data(), *h = ws_.h.data(), *q = ws_.q.data(), *k = ws_.k.data(), *v = ws_.v.data();

  pool_.parallel_for(n, 1, [&](int64_t t0, int64_t t1) {
    rms_norm(x + t0 * hidden, vec.input_norm.data(), t1 - t0, hidden, eps, h + t0 * hidden);
  });
  matmul(h, n, matrix(w.q_proj), opt(vec.q_bias), q, pool_);
  matmul(h, n, matrix(w.k_proj), opt(vec.k_bias), k, pool_);
  matmul(h, n, matrix(w.v_proj), opt(vec.v_bias), v, pool_);
  pool_.parallel_for(n, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* qt = q + t * c.q_size();
      float* kt = k + t * c.kv_size();
      if (c.qk_norm) {
        rms_norm(qt, vec.q_norm.data(), c.num_attention_heads, hd, eps, qt);
        rms_norm(kt, vec.k_norm.data(), c.num_key_value_heads, hd, eps, kt);
      }
      apply_rope(qt, c.num_attention_heads, hd, ws_.rope_cos.data() + t * half, ws_.rope_sin.data() + t * half);
      apply_rope(kt, c.num_key_value_heads, hd, ws_.rope_cos.data() + t * half, ws_.rope_sin.data() + t * half);
    }
  });

  const AttentionShape shape{c.num_attention_heads, c.num_key_value_heads, hd, block_size_, c.sliding_window,
                             static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)))};
  const size_t per_layer = static_cast<size_t>(num_blocks_) * block_size_ * c.kv_size();
  KvLayer cache{kv_.data() + (2 * li) * per_layer, kv_.data() + (2 * li + 1) * per_layer};
  write_kv(k, v, b, shape, cache);
  attention(q, b, shape, cache, ws_.attn.data(), pool_);

  // o_proj into h, then the residual.
  matmul(ws_.attn.data(), n, matrix(w.o_proj), opt(vec.o_bias), h, pool_);
  add_inplace(x, h, n * hidden);

  pool_.parallel_for(n, 1, [&](int64_t t0, int64_t t1) {
    rms_norm(x + t0 * hidden, vec.post_norm.data(), t1 - t0, hidden, eps, h + t0 * hidden);
  });
  matmul(h, n, matrix(w.gate_proj), nullptr, ws_.gate.data(), pool_);
  matmul(h, n, matrix(w.up_proj), nullptr, ws_.up.data(), pool_);
  const int64_t inter = c.intermediate_size;
  pool_.parallel_for(n * inter, 1024, [&](int64_t i0, int64_t i1) {
    silu_mul(ws_.gate.data() + i0, ws_.up.data() + i0, i1 - i0, ws_.gate.data() + i0);
  });
  matmul(ws_.gate.data(), n, matrix(w.down_proj), nullptr, h, pool_);
  add_inplace(x, h, n * hidden);
}

void CpuBackend::forward(const ForwardBatch& b, std::vector<float>& logits) {
  validate(b);
  const ModelConfig& c = config_;
  const int64_t n = b.num_tokens(), hidden = c.hidden_size;
  const int64_t rows = b.all_logits ? n : b.num_seqs();
  ensure_workspace(n, rows);

  embedding(matrix(weights_.embed_tokens), b.token_ids.data(), n, ws_.x.data());
  compute_rope(b);
  for (int li = 0; li < c.num_hidden_layers; ++li) run_layer(li, b);

  // Rows that need logits: every token, or the last of each sequence.
  float* r = ws_.rows.data();
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = b.all_logits ? i : b.query_start[i + 1] - 1;
    rms_norm(ws_.x.data() + t * hidden, final_norm_.data(), 1, hidden, static_cast<float>(c.rms_norm_eps), r + i * hidden);
  }
  logits.resize(static_cast<size_t>(rows) * c.vocab_size);
  matmul(r, rows, matrix(weights_.lm_head), nullptr, logits.data(), pool_);
}

std::unique_ptr<Backend> create_cpu_backend(const EngineConfig& e) {
  LoadedModel m = load_model(e);
  CpuOptions options;
  options.num_threads = e.num_threads;
  options.kv_cache_space_bytes = e.kv_cache_space_bytes;
  options.block_size = e.block_size;
  return std::make_unique<CpuBackend>(std::move(m.config), std::move(m.weights), options);
}

} // namespace pagoda::cpu
