// CpuEncoder: EncoderOps on the CPU. LayerNorm statistics in double (eps as small as 1e-12
// must not vanish against float rounding), erf-GELU, and attention that reads only the
// token's own sequence of the packed batch.
#include "backend/cpu/cpu_encoder.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_linear.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/simd.h"
#include "error.h"

namespace pagoda::cpu {

namespace {

struct CpuParam : ParamData {
  std::vector<float> values;
};

const float* values(const Param& p) { return static_cast<const CpuParam&>(*p.data).values.data(); }

MatrixRef table_of(const Param& p) {
  const TensorView& t = *p.parts.front();
  return MatrixRef{t.dtype, t.data, t.rows(), t.cols()};
}

} // namespace

CpuEncoder::CpuEncoder(std::unique_ptr<EncoderModel> model, int num_threads)
    : model_(std::move(model)), pool_(num_threads) {
  // Norms and biases as float32 once; the embedding tables are read as stored.
  model_->for_each_param([&](Param& p) {
    if (&p == &model_->word_embeddings() || &p == &model_->position_embeddings() ||
        &p == &model_->token_type_embeddings())
      return;
    auto data = std::make_unique<CpuParam>();
    for (const TensorView* t : p.parts)
      for (int64_t i = 0; i < t->numel(); ++i) data->values.push_back(load_any(t->dtype, t->data, i));
    p.data = std::move(data);
  });
}

float* CpuEncoder::act(EncAct a) {
  switch (a) {
  case EncAct::kHidden: return hidden_.data();
  case EncAct::kQkv: return qkv_.data();
  case EncAct::kAttn: return attn_.data();
  case EncAct::kOut: return out_.data();
  case EncAct::kInter: return inter_.data();
  }
  return nullptr;
}

void CpuEncoder::forward(const PoolingBatch& b) {
  validate_pooling_batch(model_->config(), b);
  const EncoderConfig& c = model_->config();
  const size_t n = static_cast<size_t>(b.num_tokens());
  auto grow = [](std::vector<float>& v, size_t size) {
    if (v.size() < size) v.resize(size);
  };
  grow(hidden_, n * c.hidden_size);
  grow(qkv_, n * 3 * c.hidden_size);
  grow(attn_, n * c.hidden_size);
  grow(out_, n * c.hidden_size);
  grow(inter_, n * c.intermediate_size);
  grow(rows_, n * c.hidden_size);
  batch_ = &b;
  model_->forward(*this);
  batch_ = nullptr;
}

void CpuEncoder::embed(const PoolingBatch& b, PoolingMode mode, bool normalize, std::vector<float>& pooled) {
  forward(b);
  const int64_t d = model_->config().hidden_size;
  pooled.resize(static_cast<size_t>(b.num_seqs() * d));
  for (int32_t s = 0; s < b.num_seqs(); ++s) {
    float* out = pooled.data() + s * d;
    pool_rows(mode, hidden_.data() + int64_t(b.seq_start[s]) * d, b.seq_start[s + 1] - b.seq_start[s], d, out);
    if (normalize) l2_normalize(out, d);
  }
}

void CpuEncoder::score(const PoolingBatch& b, std::vector<float>& logits) {
  if (!model_->has_head()) throw Error(model_->config().architecture + " has no classification head");
  forward(b);
  const int64_t d = model_->config().hidden_size;
  logits.clear();
  for (int32_t s = 0; s < b.num_seqs(); ++s) { // the head reads each sequence's first token
    const std::vector<float> l = model_->classify(hidden_.data() + int64_t(b.seq_start[s]) * d);
    logits.insert(logits.end(), l.begin(), l.end());
  }
}

void CpuEncoder::layer_norm_rows(float* x, const Param& weight, const Param& bias) {
  const int64_t d = model_->config().hidden_size;
  const double eps = model_->config().layer_norm_eps;
  const float* w = values(weight);
  const float* bs = values(bias);
  pool_.parallel_for(batch_->num_tokens(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* r = x + t * d;
      double mean = 0.0, var = 0.0;
      for (int64_t i = 0; i < d; ++i) mean += r[i];
      mean /= double(d);
      for (int64_t i = 0; i < d; ++i) var += (r[i] - mean) * (r[i] - mean);
      const double inv = 1.0 / std::sqrt(var / double(d) + eps);
      for (int64_t i = 0; i < d; ++i) r[i] = static_cast<float>((r[i] - mean) * inv) * w[i] + bs[i];
    }
  });
}

void CpuEncoder::embed(const Param& word, const Param& position, const Param& token_type, const Param& norm_weight,
                       const Param& norm_bias) {
  const PoolingBatch& b = *batch_;
  const int64_t n = b.num_tokens(), d = model_->config().hidden_size;
  embedding(table_of(word), b.token_ids.data(), n, hidden_.data());
  embedding(table_of(position), b.positions.data(), n, rows_.data());
  for (int64_t i = 0; i < n * d; ++i) hidden_[i] += rows_[i];
  embedding(table_of(token_type), b.token_type_ids.data(), n, rows_.data());
  for (int64_t i = 0; i < n * d; ++i) hidden_[i] += rows_[i];
  layer_norm_rows(hidden_.data(), norm_weight, norm_bias);
}

void CpuEncoder::linear(const LinearLayer& layer, EncAct in, EncAct out) {
  linear_forward(layer, act(in), batch_->num_tokens(), act(out), pool_, scratch_);
}

void CpuEncoder::bias_add(EncAct x, const Param& bias) {
  const int64_t w = width(x);
  float* p = act(x);
  const float* bs = values(bias);
  pool_.parallel_for(batch_->num_tokens(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t i = 0; i < w; ++i) p[t * w + i] += bs[i];
  });
}

void CpuEncoder::attention(EncAct qkv, EncAct out) {
  const PoolingBatch& b = *batch_;
  const EncoderConfig& c = model_->config();
  const int64_t heads = c.num_attention_heads, hd = c.head_dim, hidden = c.hidden_size, w = 3 * hidden;
  const float scale = static_cast<float>(1.0 / std::sqrt(double(hd)));
  const float* p = act(qkv);
  float* o = act(out);
  // One task per (sequence, head); each thread keeps its own score row.
  const int64_t tasks = int64_t(b.num_seqs()) * heads;
  pool_.parallel_for(tasks, 1, [&](int64_t k0, int64_t k1) {
    std::vector<float> scores;
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t s = k / heads, h = k % heads;
      const int64_t begin = b.seq_start[s], len = b.seq_start[s + 1] - begin;
      scores.resize(static_cast<size_t>(len));
      for (int64_t i = 0; i < len; ++i) {
        const float* q = p + (begin + i) * w + h * hd;
        float mx = -INFINITY;
        for (int64_t j = 0; j < len; ++j) {
          const float* kv = p + (begin + j) * w + hidden + h * hd;
          __m256 acc = _mm256_setzero_ps();
          int64_t e = 0;
          for (; e + 8 <= hd; e += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(kv + e), acc);
          float dot = hsum(acc);
          for (; e < hd; ++e) dot += q[e] * kv[e];
          scores[j] = dot * scale;
          mx = std::max(mx, scores[j]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < len; ++j) sum += (scores[j] = std::exp(scores[j] - mx));
        float* y = o + (begin + i) * hidden + h * hd;
        std::fill(y, y + hd, 0.0f);
        for (int64_t j = 0; j < len; ++j) {
          const float* v = p + (begin + j) * w + 2 * hidden + h * hd;
          const float a = scores[j] / sum;
          for (int64_t e = 0; e < hd; ++e) y[e] += a * v[e];
        }
      }
    }
  });
}

void CpuEncoder::gelu(EncAct x, const Param& bias) {
  bias_add(x, bias);
  const int64_t w = width(x);
  float* p = act(x);
  pool_.parallel_for(batch_->num_tokens(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t i = t0 * w; i < t1 * w; ++i) p[i] = 0.5f * p[i] * (1.0f + std::erf(p[i] * float(M_SQRT1_2)));
  });
}

void CpuEncoder::add_layer_norm(EncAct delta, const Param& delta_bias, const Param& weight, const Param& bias) {
  bias_add(delta, delta_bias);
  const int64_t n = int64_t(batch_->num_tokens()) * model_->config().hidden_size;
  const float* d = act(delta);
  for (int64_t i = 0; i < n; ++i) hidden_[i] += d[i];
  layer_norm_rows(hidden_.data(), weight, bias);
}

} // namespace pagoda::cpu
