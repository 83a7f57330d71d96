// Checks the encoder's row kernels against double-precision references on random inputs:
// embed_layer_norm (three gathered tables + LayerNorm), add_layer_norm (with and without the
// delta's bias, eps 1e-12 and 1e-5), bias_gelu (erf form), pool_sequences (every mode, with
// and without L2 normalization, over a packed batch) and classifier_head.
#include <cmath>
#include <random>
#include <vector>

#include "backend/cuda/encoder_kernels.h"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr double kBf16Rel = 8e-3; // a few bf16 roundings

std::vector<double> ref_layer_norm(const std::vector<double>& x, const std::vector<float>& w,
                                   const std::vector<float>& b, int rows, int hidden, double eps) {
  std::vector<double> out(x.size());
  for (int r = 0; r < rows; ++r) {
    const double* row = &x[size_t(r) * hidden];
    double mean = 0, var = 0;
    for (int i = 0; i < hidden; ++i) mean += row[i];
    mean /= hidden;
    for (int i = 0; i < hidden; ++i) var += (row[i] - mean) * (row[i] - mean);
    const double inv = 1.0 / std::sqrt(var / hidden + eps);
    for (int i = 0; i < hidden; ++i) out[size_t(r) * hidden + i] = (row[i] - mean) * inv * w[i] + b[i];
  }
  return out;
}

void test_embed_layer_norm(Checker& c, std::mt19937& rng) {
  for (int hidden : {64, 1024, 2048}) {
    const int rows = 37, vocab = 50, positions = 70, types = 2;
    auto word = random_bf16_values(size_t(vocab) * hidden, rng);
    auto pos = random_bf16_values(size_t(positions) * hidden, rng);
    auto type = random_bf16_values(size_t(types) * hidden, rng);
    auto w = random_bf16_values(hidden, rng, 2.f);
    auto b = random_bf16_values(hidden, rng);
    std::vector<int32_t> ids(rows), ps(rows), ts(rows);
    for (int r = 0; r < rows; ++r) {
      ids[r] = int(rng() % vocab);
      ps[r] = int(rng() % positions);
      ts[r] = int(rng() % types);
    }
    std::vector<double> sum(size_t(rows) * hidden);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < hidden; ++i)
        sum[size_t(r) * hidden + i] = double(word[size_t(ids[r]) * hidden + i]) + pos[size_t(ps[r]) * hidden + i] +
                                      type[size_t(ts[r]) * hidden + i];
    auto d_word = upload_bf16(word), d_pos = upload_bf16(pos), d_type = upload_bf16(type), d_w = upload_bf16(w),
         d_b = upload_bf16(b);
    auto d_ids = upload(ids), d_ps = upload(ps), d_ts = upload(ts);
    DeviceBuffer d_out(size_t(rows) * hidden * 2);
    poison(d_out);
    embed_layer_norm(d_ids.as<int32_t>(), d_ps.as<int32_t>(), d_ts.as<int32_t>(), d_word.as<bf16>(), d_pos.as<bf16>(),
                     d_type.as<bf16>(), d_w.as<bf16>(), d_b.as<bf16>(), d_out.as<bf16>(), rows, hidden, 1e-12f, 0);
    c.expect("embed_layer_norm hidden " + std::to_string(hidden),
             compare(download_bf16(d_out, size_t(rows) * hidden), ref_layer_norm(sum, w, b, rows, hidden, 1e-12)),
             kBf16Rel, 0.06);
  }
}

void test_add_layer_norm(Checker& c, std::mt19937& rng) {
  for (int hidden : {64, 768, 1024}) {
    for (bool with_bias : {false, true}) {
      const int rows = 29;
      const double eps = with_bias ? 1e-12 : 1e-5;
      auto h = random_bf16_values(size_t(rows) * hidden, rng, 3.f);
      auto delta = random_bf16_values(size_t(rows) * hidden, rng, 3.f);
      auto dbias = random_bf16_values(hidden, rng);
      auto w = random_bf16_values(hidden, rng, 2.f);
      auto b = random_bf16_values(hidden, rng);
      std::vector<double> sum(h.size());
      for (size_t i = 0; i < h.size(); ++i) sum[i] = double(h[i]) + delta[i] + (with_bias ? dbias[i % hidden] : 0.f);
      auto d_h = upload_bf16(h), d_delta = upload_bf16(delta), d_dbias = upload_bf16(dbias), d_w = upload_bf16(w),
           d_b = upload_bf16(b);
      add_layer_norm(d_h.as<bf16>(), d_delta.as<bf16>(), with_bias ? d_dbias.as<bf16>() : nullptr, d_w.as<bf16>(),
                     d_b.as<bf16>(), rows, hidden, float(eps), 0);
      c.expect("add_layer_norm hidden " + std::to_string(hidden) + (with_bias ? " + bias" : ""),
               compare(download_bf16(d_h, h.size()), ref_layer_norm(sum, w, b, rows, hidden, eps)), kBf16Rel, 0.06);
    }
  }
  bool threw = false;
  try {
    add_layer_norm(nullptr, nullptr, nullptr, nullptr, nullptr, 1, 4096, 1e-5f, 0);
  } catch (const std::exception&) {
    threw = true;
  }
  c.expect_true("add_layer_norm refuses hidden 4096", threw);
}

void test_bias_gelu(Checker& c, std::mt19937& rng) {
  const int rows = 33, cols = 4096 + 8;
  auto x = random_bf16_values(size_t(rows) * cols, rng, 4.f);
  auto bias = random_bf16_values(cols, rng);
  std::vector<double> ref(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double y = double(x[i]) + bias[i % cols];
    ref[i] = 0.5 * y * (1.0 + std::erf(y / std::sqrt(2.0)));
  }
  auto d_x = upload_bf16(x), d_b = upload_bf16(bias);
  bias_gelu(d_x.as<bf16>(), d_b.as<bf16>(), rows, cols, 0);
  c.expect("bias_gelu (erf)", compare(download_bf16(d_x, x.size()), ref), kBf16Rel, 0.04);
}

void test_pool(Checker& c, std::mt19937& rng) {
  const int hidden = 1024 + 40;
  const std::vector<int32_t> seq_start = {0, 1, 9, 300, 301, 340};
  const int tokens = seq_start.back(), seqs = int(seq_start.size()) - 1;
  auto h = random_bf16_values(size_t(tokens) * hidden, rng, 2.f);
  auto d_h = upload_bf16(h), d_start = upload(seq_start);
  DeviceBuffer d_out(size_t(seqs) * hidden * 4);
  const char* names[] = {"cls", "mean", "max", "mean_sqrt_len", "lasttoken"};
  for (int kind = 0; kind <= 4; ++kind) {
    for (bool normalize : {false, true}) {
      std::vector<double> ref(size_t(seqs) * hidden);
      for (int s = 0; s < seqs; ++s) {
        const int first = seq_start[s], len = seq_start[s + 1] - first;
        double ss = 0;
        for (int i = 0; i < hidden; ++i) {
          auto at = [&](int t) { return double(h[size_t(first + t) * hidden + i]); };
          double v = 0;
          if (kind == 0) v = at(0);
          if (kind == 4) v = at(len - 1);
          if (kind == 2) {
            v = at(0);
            for (int t = 1; t < len; ++t) v = std::max(v, at(t));
          }
          if (kind == 1 || kind == 3) {
            for (int t = 0; t < len; ++t) v += at(t);
            v = kind == 1 ? v / len : v / std::sqrt(double(len));
          }
          ref[size_t(s) * hidden + i] = v;
          ss += v * v;
        }
        if (normalize)
          for (int i = 0; i < hidden; ++i) ref[size_t(s) * hidden + i] /= std::max(std::sqrt(ss), 1e-12);
      }
      poison(d_out);
      pool_sequences(d_h.as<bf16>(), d_start.as<int32_t>(), seqs, hidden, PoolKind(kind), normalize, d_out.as<float>(),
                     0);
      c.expect(std::string("pool_sequences ") + names[kind] + (normalize ? " + normalize" : ""),
               compare(download<float>(d_out, size_t(seqs) * hidden), ref), 1e-5, 1e-4);
    }
  }
}

void test_classifier_head(Checker& c, std::mt19937& rng) {
  for (int labels : {1, 3}) {
    const int seqs = 7, hidden = 1024;
    auto dense = random_f32_values(size_t(seqs) * hidden, rng, 2.f);
    auto dbias = random_bf16_values(hidden, rng);
    auto w = random_bf16_values(size_t(labels) * hidden, rng, 0.1f);
    auto ob = random_bf16_values(labels, rng);
    std::vector<double> ref(size_t(seqs) * labels);
    for (int s = 0; s < seqs; ++s)
      for (int l = 0; l < labels; ++l) {
        double acc = ob[l];
        for (int i = 0; i < hidden; ++i)
          acc += std::tanh(double(dense[size_t(s) * hidden + i]) + dbias[i]) * w[size_t(l) * hidden + i];
        ref[size_t(s) * labels + l] = acc;
      }
    auto d_dense = upload(dense), d_dbias = upload_bf16(dbias), d_w = upload_bf16(w), d_ob = upload_bf16(ob);
    DeviceBuffer d_out(size_t(seqs) * labels * 4);
    poison(d_out);
    classifier_head(d_dense.as<float>(), d_dbias.as<bf16>(), d_w.as<bf16>(), d_ob.as<bf16>(), d_out.as<float>(), seqs,
                    hidden, labels, 0);
    c.expect("classifier_head labels " + std::to_string(labels),
             compare(download<float>(d_out, size_t(seqs) * labels), ref), 1e-5, 1e-4);
  }
}

} // namespace

int main() {
  skip_without_device("encoder_kernels_test");
  Checker c;
  std::mt19937 rng(11);
  test_embed_layer_norm(c, rng);
  test_add_layer_norm(c, rng);
  test_bias_gelu(c, rng);
  test_pool(c, rng);
  test_classifier_head(c, rng);
  return c.finish("encoder_kernels_test");
}
