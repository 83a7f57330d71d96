// CpuBackend: the batch checks, the workspace and KV cache, and forward(): RoPE angles for the
// step, the model file's forward through this backend's ModelOps, then lm_head on the rows
// that need logits.
#include "backend/cpu/cpu_backend.h"

#include <cmath>

#include "backend/cpu/matmul.h"
#include "backend/cpu/rope.h"
#include "engine/engine_config.h"
#include "error.h"
#include "model/model_loader.h"
#include "model/rope_frequencies.h"

namespace pagoda::cpu {

namespace {
constexpr int64_t kDefaultKvSpace = int64_t(4) << 30;
} // namespace

size_t CpuBackend::Workspace::bytes() const {
  size_t n = 0;
  for (const auto* b : {&x, &h, &qkv, &attn, &out, &gate_up, &mlp, &q, &k, &v, &rope_cos, &rope_sin, &rows, &scratch})
    n += b->capacity();
  return n * sizeof(float);
}

CpuBackend::CpuBackend(std::unique_ptr<CausalLM> model, const CpuOptions& options)
    : model_(std::move(model)), config_(model_->config()), pool_(options.num_threads),
      kv_cache_space_bytes_(options.kv_cache_space_bytes > 0 ? options.kv_cache_space_bytes : kDefaultKvSpace),
      profile_block_size_(options.block_size > 0 ? options.block_size : 16), kv_dtype_(options.kv_dtype) {
  prepare_cpu_params(*model_);
  inv_freq_ = rope_inv_freq(rope_spec(config_), 0);
  // PAGODA_KEEP_LOGIT_ROWS=0 runs the last layer's o_proj and MLP on every row (what it saves, timed side by side).
  keep_logit_rows_ = keep_logit_rows_from_env(true);
}

void CpuBackend::ensure_workspace(int64_t tokens, int64_t logit_rows) {
  const ModelConfig& c = config_;
  auto grow = [](std::vector<float>& b, int64_t n) {
    if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  };
  grow(ws_.x, tokens * c.hidden_size);
  grow(ws_.h, tokens * c.hidden_size);
  grow(ws_.out, tokens * c.hidden_size);
  grow(ws_.qkv, tokens * (c.q_size() + 2 * c.kv_size()));
  grow(ws_.attn, tokens * c.q_size());
  grow(ws_.q, tokens * c.q_size());
  grow(ws_.k, tokens * c.kv_size());
  grow(ws_.v, tokens * c.kv_size());
  grow(ws_.gate_up, tokens * 2 * c.intermediate_size);
  grow(ws_.mlp, tokens * c.intermediate_size);
  grow(ws_.rope_cos, tokens * (c.head_dim / 2));
  grow(ws_.rope_sin, tokens * (c.head_dim / 2));
  grow(ws_.rows, logit_rows * c.hidden_size);
  if (c.quantization.dynamic_activations) grow(ws_.scratch, tokens * std::max(c.hidden_size, c.intermediate_size));
}

MemoryProfile CpuBackend::profile(int32_t max_num_batched_tokens, int32_t max_num_seqs) {
  ensure_workspace(max_num_batched_tokens, max_num_seqs);
  MemoryProfile p;
  p.weights_bytes = model_->weights().total_bytes();
  // Activations: the workspace at its largest, the logits of a full batch, and each
  // thread's attention scores over the longest context.
  p.peak_activation_bytes = ws_.bytes() + static_cast<size_t>(max_num_seqs) * config_.vocab_size * sizeof(float) +
                            static_cast<size_t>(pool_.size()) * config_.max_position_embeddings * 2 * sizeof(float);
  // K and V of every layer for one block of the engine's block size, in the cache's dtype.
  const size_t per_token = size_t(2) * config_.num_hidden_layers * config_.kv_size() * kv_dtype_bytes(kv_dtype_);
  p.kv_bytes_per_block = per_token * static_cast<size_t>(profile_block_size_);
  p.total_bytes = static_cast<size_t>(kv_cache_space_bytes_) + p.weights_bytes + p.peak_activation_bytes;
  return p;
}

void CpuBackend::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  if (num_blocks <= 0 || block_size <= 0) {
    throw Error("allocate_kv_cache: num_blocks (" + std::to_string(num_blocks) + ") and block_size (" +
                std::to_string(block_size) + ") must be positive");
  }
  // Each layer's K and V start on a float boundary.
  kv_layer_bytes_ = (static_cast<size_t>(num_blocks) * block_size * config_.kv_size() * kv_dtype_bytes(kv_dtype_) + 3) / 4 * 4;
  kv_ = HostBuffer(kv_layer_bytes_ / 4 * 2 * config_.num_hidden_layers);
  num_blocks_ = num_blocks;
  block_size_ = block_size;
}

void CpuBackend::release_kv_blocks(int32_t first, int32_t count) {
  if (first < 0 || count <= 0 || first + count > num_blocks_) return;
  // Every layer's K and V is its own region of num_blocks blocks: the same block range in each.
  const size_t block_bytes = static_cast<size_t>(block_size_) * config_.kv_size() * kv_dtype_bytes(kv_dtype_);
  for (size_t region = 0; region < size_t(2) * config_.num_hidden_layers; ++region) {
    const size_t begin = region * kv_layer_bytes_ + first * block_bytes;
    const size_t end = region * kv_layer_bytes_ + (first + count) * block_bytes;
    // HostBuffer counts floats; rounding inward keeps bytes of the neighbouring blocks.
    kv_.release_pages((begin + 3) / 4, end / 4 - (begin + 3) / 4);
  }
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

void CpuBackend::forward_hidden(const ForwardBatch& b, std::vector<float>& hidden) {
  validate(b);
  const int64_t n = b.num_tokens(), width = config_.hidden_size;
  ensure_workspace(n, 0);
  compute_rope(b);
  batch_ = &b;
  rows_ = n;
  may_keep_logit_rows_ = false; // pooling reads every token's hidden state
  model_->forward(*this);
  batch_ = nullptr;
  hidden.assign(ws_.h.begin(), ws_.h.begin() + n * width);
}

void CpuBackend::forward(const ForwardBatch& b, std::vector<float>& logits) {
  if (!model_->lm_head().present())
    throw Error(config_.source + ": " + config_.architecture + " has no lm_head; it is served as an embedding model");
  validate(b);
  const ModelConfig& c = config_;
  const int64_t n = b.num_tokens(), hidden = c.hidden_size;
  const int64_t rows = b.all_logits ? n : b.num_seqs();
  ensure_workspace(n, rows);
  compute_rope(b);
  batch_ = &b;
  rows_ = n;
  may_keep_logit_rows_ = keep_logit_rows_ && !b.all_logits;
  model_->forward(*this);
  batch_ = nullptr;

  // Rows that need logits (final-normed by the model): every token, or the last of each sequence
  // (already rows 0..num_seqs once the model kept only those).
  const bool kept = rows_ < n;
  float* r = ws_.rows.data();
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = b.all_logits || kept ? i : b.query_start[i + 1] - 1;
    std::copy(ws_.h.data() + t * hidden, ws_.h.data() + (t + 1) * hidden, r + i * hidden);
  }
  logits.resize(static_cast<size_t>(rows) * c.vocab_size);
  const TensorView& lm = *model_->lm_head().parts.front();
  matmul(r, rows, MatrixRef{lm.dtype, lm.data, lm.rows(), lm.cols()}, nullptr, logits.data(), pool_);
}

KvDtype parse_kv_cache_dtype(const std::string& name) {
  if (name == "auto" || name == "float32") return KvDtype::kF32;
  if (name == "bfloat16") return KvDtype::kBf16;
  if (name == "fp8" || name == "fp8_e4m3") return KvDtype::kFp8E4m3;
  throw Error("kv_cache_dtype \"" + name + "\" is not supported; use \"auto\", \"bfloat16\" or \"fp8\" (e4m3)");
}

std::unique_ptr<Backend> create_cpu_backend(const EngineConfig& e) {
  LoadedModel m = load_model(e);
  if (m.config.base_model)
    throw Error(m.config.source + ": " + m.config.architecture +
                " has no lm_head and cannot generate text; serve it as an embedding model");
  CpuOptions options;
  options.num_threads = e.num_threads;
  options.kv_cache_space_bytes = e.kv_cache_space_bytes;
  options.block_size = e.block_size;
  options.kv_dtype = parse_kv_cache_dtype(e.kv_cache_dtype);
  return std::make_unique<CpuBackend>(create_causal_lm(std::move(m.config), std::move(m.weights)), options);
}

} // namespace pagoda::cpu
