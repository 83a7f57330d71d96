// CpuBackend's ModelOps: the operations a model file's forward is written in, on float32
// [tokens, width] buffers and the float32 residual stream ws_.x.
#include <cmath>
#include <cstring>

#include "backend/cpu/attention.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_linear.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/norm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/simd.h"
#include "error.h"

namespace pagoda::cpu {

namespace {

// A parameter as float32, converted once at load.
struct CpuParam : ParamData {
  std::vector<float> values;
};

const float* values(const Param& p) { return static_cast<const CpuParam&>(*p.data).values.data(); }

} // namespace

// Converts every norm and bias (the embedding and lm_head stay as stored).
void prepare_cpu_params(CausalLM& model) {
  model.for_each_param([&](Param& p) {
    if (&p == &model.embed_tokens() || &p == &model.lm_head()) return;
    auto data = std::make_unique<CpuParam>();
    for (const TensorView* t : p.parts)
      for (int64_t i = 0; i < t->numel(); ++i) data->values.push_back(load_any(t->dtype, t->data, i));
    p.data = std::move(data);
  });
}

float* CpuBackend::act(Act a) {
  switch (a) {
  case Act::kHidden: return ws_.h.data();
  case Act::kQkv: return ws_.qkv.data();
  case Act::kAttn: return ws_.attn.data();
  case Act::kOut: return ws_.out.data();
  case Act::kGateUp: return ws_.gate_up.data();
  case Act::kMlp: return ws_.mlp.data();
  }
  return nullptr;
}

int64_t CpuBackend::width(Act a) const {
  const ModelConfig& c = config_;
  switch (a) {
  case Act::kHidden:
  case Act::kOut: return c.hidden_size;
  case Act::kQkv: return c.q_size() + 2 * c.kv_size();
  case Act::kAttn: return c.q_size();
  case Act::kGateUp: return 2 * int64_t(c.intermediate_size);
  case Act::kMlp: return c.intermediate_size;
  }
  return 0;
}

void CpuBackend::embed(const Param& table) {
  const TensorView& t = *table.parts.front();
  embedding(MatrixRef{t.dtype, t.data, t.rows(), t.cols()}, batch_->token_ids.data(), batch_->num_tokens(), ws_.x.data());
}

void CpuBackend::rms_norm(const Param& weight, Act out) {
  const int64_t hidden = config_.hidden_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  float* x = ws_.x.data();
  float* o = act(out);
  pool_.parallel_for(rows_, 1, [&](int64_t t0, int64_t t1) {
    cpu::rms_norm(x + t0 * hidden, values(weight), t1 - t0, hidden, eps, o + t0 * hidden);
  });
}

void CpuBackend::add_rms_norm(Act delta, const Param& weight, Act out) {
  add_inplace(ws_.x.data(), act(delta), rows_ * int64_t(config_.hidden_size));
  rms_norm(weight, out);
}

void CpuBackend::linear(const LinearLayer& layer, Act in, Act out) {
  linear_forward(layer, act(in), rows_, act(out), pool_, ws_.scratch);
}

void CpuBackend::bias_add(Act x, const Param& bias) {
  const int64_t w = width(x);
  float* p = act(x);
  const float* b = values(bias);
  for (int64_t t = 0; t < rows_; ++t)
    for (int64_t i = 0; i < w; ++i) p[t * w + i] += b[i];
}

void CpuBackend::qk_norm(Act qkv, const Param& q_norm, const Param& k_norm) {
  const ModelConfig& c = config_;
  const int64_t w = width(qkv), hd = c.head_dim;
  const float eps = static_cast<float>(c.rms_norm_eps);
  float* p = act(qkv);
  pool_.parallel_for(batch_->num_tokens(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* q = p + t * w;
      cpu::rms_norm(q, values(q_norm), c.num_attention_heads, hd, eps, q);
      cpu::rms_norm(q + c.q_size(), values(k_norm), c.num_key_value_heads, hd, eps, q + c.q_size());
    }
  });
}

void CpuBackend::rope(Act qkv) {
  const ModelConfig& c = config_;
  const int64_t w = width(qkv), half = c.head_dim / 2;
  float* p = act(qkv);
  pool_.parallel_for(batch_->num_tokens(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* cs = ws_.rope_cos.data() + t * half;
      const float* sn = ws_.rope_sin.data() + t * half;
      apply_rope(p + t * w, c.num_attention_heads, c.head_dim, cs, sn);
      apply_rope(p + t * w + c.q_size(), c.num_key_value_heads, c.head_dim, cs, sn);
    }
  });
}

void CpuBackend::attention(int li, Act qkv, Act out) {
  const ModelConfig& c = config_;
  const ForwardBatch& b = *batch_;
  const int64_t n = b.num_tokens(), w = width(qkv), hd = c.head_dim;
  if (rows_ != n) throw Error("attention after keep_logit_rows: a model cuts rows after its last attention");
  // q, k, v apart, as the attention kernels read them.
  const float* p = act(qkv);
  for (int64_t t = 0; t < n; ++t) {
    std::memcpy(ws_.q.data() + t * c.q_size(), p + t * w, c.q_size() * sizeof(float));
    std::memcpy(ws_.k.data() + t * c.kv_size(), p + t * w + c.q_size(), c.kv_size() * sizeof(float));
    std::memcpy(ws_.v.data() + t * c.kv_size(), p + t * w + c.q_size() + c.kv_size(), c.kv_size() * sizeof(float));
  }
  const AttentionShape shape{c.num_attention_heads, c.num_key_value_heads, hd, block_size_, c.sliding_window,
                             static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)))};
  char* base = reinterpret_cast<char*>(kv_.data());
  const KvLayer cache(base + (2 * li) * kv_layer_bytes_, base + (2 * li + 1) * kv_layer_bytes_, kv_dtype_);
  write_kv(ws_.k.data(), ws_.v.data(), b, shape, cache);
  cpu::attention(ws_.q.data(), b, shape, cache, act(out), pool_);
}

void CpuBackend::silu_mul(Act gate_up, Act out) {
  const int64_t inter = config_.intermediate_size;
  const float* g = act(gate_up);
  float* o = act(out);
  pool_.parallel_for(rows_, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) cpu::silu_mul(g + t * 2 * inter, g + t * 2 * inter + inter, inter, o + t * inter);
  });
}

// Each sequence's last row moves to row `seq`, in order: a last row is never before its destination and
// the rows still to move lie past every destination so far, so the copy is safe in place.
void CpuBackend::keep_logit_rows(Act a) {
  const ForwardBatch& b = *batch_;
  if (!may_keep_logit_rows_ || rows_ == b.num_seqs()) return;
  const int64_t hidden = config_.hidden_size, w = width(a);
  float* x = ws_.x.data();
  float* p = act(a);
  for (int64_t seq = 0; seq < b.num_seqs(); ++seq) {
    const int64_t t = b.query_start[seq + 1] - 1;
    std::memmove(x + seq * hidden, x + t * hidden, hidden * sizeof(float));
    std::memmove(p + seq * w, p + t * w, w * sizeof(float));
  }
  rows_ = b.num_seqs();
}

} // namespace pagoda::cpu
