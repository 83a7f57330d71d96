// Checks varlen_attention against a double-precision reference on random packed batches:
// sequence lengths around the 64-row / 64-key tile edges (1, 5, 63, 64, 65, 200), head_dim 16,
// 32, 64 and 128, bidirectional and causal, MHA and GQA, q/k/v read from one fused row with a
// stride, as the encoder and the embedding decoder call it.
#include <cmath>
#include <random>
#include <vector>

#include "backend/cuda/encoder_kernels.h"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

// out[t, h, :] = softmax(q·kᵀ·scale) v over the keys of t's sequence (up to t when causal).
std::vector<double> reference(const std::vector<float>& qkv, const std::vector<int32_t>& seq_start, int heads,
                              int kv_heads, int d, bool causal) {
  const int width = (heads + 2 * kv_heads) * d;
  const int tokens = seq_start.back();
  std::vector<double> out(size_t(tokens) * heads * d, 0.0);
  const double scale = 1.0 / std::sqrt(double(d));
  for (size_t s = 0; s + 1 < seq_start.size(); ++s) {
    const int first = seq_start[s], len = seq_start[s + 1] - first;
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / (heads / kv_heads);
      for (int i = 0; i < len; ++i) {
        const float* q = &qkv[size_t(first + i) * width + h * d];
        const int keys = causal ? i + 1 : len;
        std::vector<double> sc(keys);
        double mx = -1e300;
        for (int j = 0; j < keys; ++j) {
          const float* k = &qkv[size_t(first + j) * width + (heads + kvh) * d];
          double dot = 0;
          for (int e = 0; e < d; ++e) dot += double(q[e]) * k[e];
          sc[j] = dot * scale;
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (double& x : sc) sum += (x = std::exp(x - mx));
        double* o = &out[(size_t(first + i) * heads + h) * d];
        for (int j = 0; j < keys; ++j) {
          const float* v = &qkv[size_t(first + j) * width + (heads + kv_heads + kvh) * d];
          for (int e = 0; e < d; ++e) o[e] += sc[j] / sum * v[e];
        }
      }
    }
  }
  return out;
}

void check(Checker& c, std::mt19937& rng, int d, int heads, int kv_heads, bool causal) {
  const std::vector<int> lens = {5, 64, 1, 200, 63, 65, 17};
  std::vector<int32_t> seq_start = {0};
  int max_len = 0;
  for (int l : lens) {
    seq_start.push_back(seq_start.back() + l);
    max_len = std::max(max_len, l);
  }
  const int tokens = seq_start.back(), width = (heads + 2 * kv_heads) * d;
  const auto qkv = random_bf16_values(size_t(tokens) * width, rng, 2.f);
  auto d_qkv = upload_bf16(qkv);
  auto d_start = upload(seq_start);
  DeviceBuffer d_out(size_t(tokens) * heads * d * sizeof(bf16));
  poison(d_out);
  VarlenAttentionArgs a;
  a.q = d_qkv.as<bf16>();
  a.k = a.q + heads * d;
  a.v = a.k + kv_heads * d;
  a.token_stride = width;
  a.out = d_out.as<bf16>();
  a.seq_start = d_start.as<int32_t>();
  a.num_seqs = static_cast<int>(lens.size());
  a.max_seq_len = max_len;
  a.num_q_heads = heads;
  a.num_kv_heads = kv_heads;
  a.head_dim = d;
  a.scale = 1.f / std::sqrt(float(d));
  a.causal = causal;
  varlen_attention(a, 0);
  const auto got = download_bf16(d_out, size_t(tokens) * heads * d);
  const std::string name = std::string("varlen_attention d") + std::to_string(d) + " heads " + std::to_string(heads) +
                           "/" + std::to_string(kv_heads) + (causal ? " causal" : " bidirectional");
  // bf16 probabilities and output: about 1% relative.
  c.expect(name, compare(got, reference(qkv, seq_start, heads, kv_heads, d, causal)), 1.5e-2, 6e-2);
}

} // namespace

int main() {
  skip_without_device("varlen_attention_test");
  Checker c;
  std::mt19937 rng(7);
  for (int d : {16, 32, 64, 128})
    for (bool causal : {false, true}) {
      check(c, rng, d, 4, 4, causal);
      check(c, rng, d, 4, 2, causal);
    }
  // Bad arguments are refused, not launched.
  VarlenAttentionArgs bad;
  bad.num_q_heads = 4;
  bad.num_kv_heads = 4;
  bad.head_dim = 96;
  bad.num_seqs = 1;
  bad.max_seq_len = 1;
  bool threw = false;
  try {
    varlen_attention(bad, 0);
  } catch (const std::exception&) {
    threw = true;
  }
  c.expect_true("varlen_attention refuses head_dim 96", threw);
  return c.finish("varlen_attention_test");
}
