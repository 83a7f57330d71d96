// CPU references for the CUDA kernels, in double precision on bf16-rounded inputs, written
// for clarity, one function per kernel. They round only where a kernel stores an
// intermediate that later steps read (a bf16 residual stream).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace pagoda::cuda::test {

inline double rb(double x) { // bf16 rounding, as the modules store intermediates
  return static_cast<double>(round_bf16(static_cast<float>(x)));
}

inline std::vector<double> ref_embedding(const std::vector<int32_t>& ids, const std::vector<float>& table,
                                         int hidden, int num_rows) {
  std::vector<double> out(ids.size() * hidden, 0.0);
  for (size_t t = 0; t < ids.size(); ++t)
    if (ids[t] >= 0 && ids[t] < num_rows)
      for (int i = 0; i < hidden; ++i) out[t * hidden + i] = table[static_cast<size_t>(ids[t]) * hidden + i];
  return out;
}

// RMSNorm of one row: x / rms(x) * w.
inline void ref_rms_norm_row(const double* x, const std::vector<float>& w, double* out, int n, double eps) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const double inv = 1.0 / std::sqrt(ss / n + eps);
  for (int i = 0; i < n; ++i) out[i] = w[i] * x[i] * inv;
}

inline std::vector<double> ref_rms_norm(const std::vector<float>& x, const std::vector<float>& w, int rows,
                                        int hidden, double eps) {
  std::vector<double> xd(x.begin(), x.end()), out(x.size());
  for (int r = 0; r < rows; ++r) ref_rms_norm_row(&xd[size_t(r) * hidden], w, &out[size_t(r) * hidden], hidden, eps);
  return out;
}

// residual + x (rounded to bf16 when the residual stream is bf16), then RMSNorm of that.
inline void ref_add_rms_norm(const std::vector<float>& residual, const std::vector<float>& x,
                             const std::vector<float>& w, int rows, int hidden, double eps, bool bf16_residual,
                             std::vector<double>& new_residual, std::vector<double>& out) {
  new_residual.resize(x.size());
  out.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double sum = double(residual[i]) + x[i];
    new_residual[i] = bf16_residual ? rb(sum) : sum;
  }
  for (int r = 0; r < rows; ++r)
    ref_rms_norm_row(&new_residual[size_t(r) * hidden], w, &out[size_t(r) * hidden], hidden, eps);
}

inline std::vector<double> ref_rms_norm_heads(const std::vector<float>& x, const std::vector<float>& w,
                                              int tokens, int heads, int head_dim, int64_t stride, double eps) {
  std::vector<double> out(x.begin(), x.end());
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < heads; ++h) {
      const size_t base = size_t(t) * stride + size_t(h) * head_dim;
      std::vector<double> head(out.begin() + base, out.begin() + base + head_dim);
      ref_rms_norm_row(head.data(), w, &out[base], head_dim, eps);
    }
  return out;
}

// Neox rotary embedding of the first rotary_dim elements of every q and k head.
inline void ref_rope(std::vector<double>& buf, int64_t stride, int64_t q_offset, int64_t k_offset,
                     const std::vector<int32_t>& positions, const std::vector<float>& inv_freq,
                     int q_heads, int kv_heads, int head_dim, int rotary_dim) {
  const int half = rotary_dim / 2;
  for (size_t t = 0; t < positions.size(); ++t) {
    auto rotate = [&](int64_t head_base) {
      for (int i = 0; i < half; ++i) {
        const double angle = double(float(positions[t]) * inv_freq[i]);
        const double c = std::cos(angle), s = std::sin(angle);
        const double x1 = buf[head_base + i], x2 = buf[head_base + i + half];
        buf[head_base + i] = x1 * c - x2 * s;
        buf[head_base + i + half] = x2 * c + x1 * s;
      }
    };
    for (int h = 0; h < q_heads; ++h) rotate(int64_t(t) * stride + q_offset + int64_t(h) * head_dim);
    for (int h = 0; h < kv_heads; ++h) rotate(int64_t(t) * stride + k_offset + int64_t(h) * head_dim);
  }
}

inline std::vector<double> ref_silu_mul(const std::vector<float>& gate_up, int tokens, int inter) {
  std::vector<double> out(size_t(tokens) * inter);
  for (int t = 0; t < tokens; ++t)
    for (int i = 0; i < inter; ++i) {
      const double g = gate_up[size_t(t) * 2 * inter + i], u = gate_up[size_t(t) * 2 * inter + inter + i];
      out[size_t(t) * inter + i] = g / (1.0 + std::exp(-g)) * u;
    }
  return out;
}

inline std::vector<double> ref_bias_add(const std::vector<float>& x, const std::vector<float>& bias, int cols) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = double(x[i]) + bias[i % cols];
  return out;
}

inline int32_t ref_argmax(const float* row, int vocab) {
  int32_t best = 0;
  for (int i = 1; i < vocab; ++i)
    if (row[i] > row[best]) best = i;
  return best;
}

// y[m, n] = sum_k x[m, k] * w[n, k]
// kv_cache_write on k_ref / v_ref ([blocks, kv_heads, block_size, head_dim], the cache before the
// write): each token's K and V, at q_width and q_width + kv_heads * head_dim of its fused qkv
// row of `stride`, copied to its slot; slot -1 is a padding token and writes nothing.
inline void ref_kv_cache_write(const std::vector<float>& qkv, const std::vector<int32_t>& slots, int64_t stride,
                               int64_t q_width, int kv_heads, int head_dim, int block_size,
                               std::vector<double>& k_ref, std::vector<double>& v_ref) {
  const int64_t kv_width = int64_t(kv_heads) * head_dim;
  for (size_t t = 0; t < slots.size(); ++t) {
    if (slots[t] < 0) continue;
    const int blk = slots[t] / block_size, off = slots[t] % block_size;
    for (int h = 0; h < kv_heads; ++h)
      for (int d = 0; d < head_dim; ++d) {
        const size_t dst = ((size_t(blk) * kv_heads + h) * block_size + off) * head_dim + d;
        k_ref[dst] = qkv[t * stride + q_width + h * head_dim + d];
        v_ref[dst] = qkv[t * stride + q_width + kv_width + h * head_dim + d];
      }
  }
}

inline std::vector<double> ref_linear(const std::vector<float>& x, const std::vector<float>& w, int m, int n, int k) {
  std::vector<double> y(size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int e = 0; e < k; ++e) acc += double(x[size_t(i) * k + e]) * w[size_t(j) * k + e];
      y[size_t(i) * n + j] = acc;
    }
  return y;
}

// One sequence's attention over its full K/V history (contiguous [ctx, kv_heads, head_dim]),
// causal by absolute position; q rows [query_len, q_heads, head_dim].
inline std::vector<double> ref_attention(const std::vector<float>& q, const std::vector<float>& k,
                                         const std::vector<float>& v, int query_len, int context_len,
                                         int q_heads, int kv_heads, int head_dim, double scale) {
  std::vector<double> out(size_t(query_len) * q_heads * head_dim);
  const int group = q_heads / kv_heads;
  std::vector<double> p(context_len);
  for (int i = 0; i < query_len; ++i) {
    const int pos = context_len - query_len + i;
    for (int h = 0; h < q_heads; ++h) {
      const int kvh = h / group;
      const float* qi = &q[(size_t(i) * q_heads + h) * head_dim];
      double m = -std::numeric_limits<double>::infinity();
      for (int j = 0; j <= pos; ++j) {
        const float* kj = &k[(size_t(j) * kv_heads + kvh) * head_dim];
        double s = 0;
        for (int d = 0; d < head_dim; ++d) s += double(qi[d]) * kj[d];
        p[j] = s * scale;
        m = std::max(m, p[j]);
      }
      double l = 0;
      for (int j = 0; j <= pos; ++j) {
        p[j] = std::exp(p[j] - m);
        l += p[j];
      }
      for (int d = 0; d < head_dim; ++d) {
        double o = 0;
        for (int j = 0; j <= pos; ++j) o += p[j] * v[(size_t(j) * kv_heads + kvh) * head_dim + d];
        out[(size_t(i) * q_heads + h) * head_dim + d] = o / l;
      }
    }
  }
  return out;
}

} // namespace pagoda::cuda::test
