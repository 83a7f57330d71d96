// Each AVX2 kernel of the CPU backend against its plain reference, on shapes with tails
// (sizes not multiples of 8), every weight dtype, and paged attention over scattered blocks.
#include <immintrin.h>

#include <cmath>
#include <mutex>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/norm.h"
#include "backend/cpu/rope.h"
#include "model/rope_frequencies.h"
#include "backend/cpu/thread_pool.h"
#include "model/dtype.h"
#include "model/model_config.h"
#include "test_util.h"

using namespace pagoda;
using namespace pagoda::cpu;

namespace {

std::mt19937 rng(1234);

std::vector<float> random_floats(size_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Weights stored as `dtype`, plus their exact float32 values.
struct Stored {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};

Stored store_as(DType dtype, const std::vector<float>& v) {
  Stored s;
  s.bytes.resize(v.size() * dtype_size(dtype));
  s.values.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DType::F32) {
      reinterpret_cast<float*>(s.bytes.data())[i] = v[i];
      s.values[i] = v[i];
    } else if (dtype == DType::BF16) {
      const uint16_t h = f32_to_bf16(v[i]);
      reinterpret_cast<uint16_t*>(s.bytes.data())[i] = h;
      s.values[i] = bf16_to_f32(h);
    } else {
      const uint16_t h = f32_to_f16(v[i]);
      reinterpret_cast<uint16_t*>(s.bytes.data())[i] = h;
      s.values[i] = f16_to_f32(h);
    }
  }
  return s;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return std::isnan(m) ? INFINITY : m;
}

void test_dtype_conversions() {
  // Exact values survive; rounding is to nearest even; specials keep their class.
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    CHECK(f16_to_f32(f32_to_f16(f)) == f);
  }
  CHECK(f16_to_f32(f32_to_f16(1.0f + 1.0f / 4096)) == 1.0f);          // below half an ulp: down
  CHECK(f16_to_f32(f32_to_f16(1.0f + 3.0f / 2048)) == 1.0f + 2.0f / 1024); // tie: to even
  CHECK(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
  CHECK(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  for (float f : {0.0f, 1.0f, -3.0f, 1.5f}) CHECK(bf16_to_f32(f32_to_bf16(f)) == f);
  CHECK(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)) == 1.0f); // tie goes to even (1.0)
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  // F16C hardware conversion agrees with ours on every half value.
  int mismatches = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = f16_to_f32(static_cast<uint16_t>(h));
    const float b = _cvtsh_ss(static_cast<uint16_t>(h));
    if (!(a == b || (std::isnan(a) && std::isnan(b)))) ++mismatches;
    if (!std::isnan(a) && f32_to_f16(a) != h && !(a == 0.0f)) ++mismatches;
  }
  CHECK(mismatches == 0);
}

void test_thread_pool() {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 7, 16, 100, 1001}) {
      for (int64_t grain : {1, 4, 16}) {
        std::vector<int> hits(n, 0);
        std::vector<std::pair<int64_t, int64_t>> ranges;
        std::mutex m;
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          std::lock_guard<std::mutex> lock(m);
          ranges.emplace_back(b, e);
          for (int64_t i = b; i < e; ++i) ++hits[i];
        });
        bool once = true;
        for (int h : hits) once = once && h == 1;
        CHECK(once);
        for (auto& r : ranges) CHECK(r.first % grain == 0); // ranges start on grain boundaries
      }
    }
  }
}

void test_matmul() {
  ThreadPool pool(3);
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (int64_t m : {1, 2, 3, 5, 8, 9, 50, 100}) {
      for (auto nk : {std::pair<int64_t, int64_t>{1, 1}, {7, 13}, {33, 64}, {64, 172}, {130, 40}}) {
        const int64_t n = nk.first, k = nk.second;
        const Stored w = store_as(dtype, random_floats(n * k, 0.5f));
        const std::vector<float> x = random_floats(m * k), bias = random_floats(n);
        MatrixRef ref{dtype, w.bytes.data(), n, k};
        std::vector<float> y(m * n), y_ref(m * n);
        matmul(x.data(), m, ref, bias.data(), y.data(), pool);
        matmul_reference(x.data(), m, ref, bias.data(), y_ref.data());
        const double err = max_abs_diff(y, y_ref);
        if (!(err < 1e-4 * std::sqrt(double(k)) + 1e-5)) {
          std::fprintf(stderr, "matmul %s m=%ld n=%ld k=%ld: error %g\n", dtype_name(dtype), long(m), long(n), long(k), err);
          CHECK(false);
        }
        // No bias.
        matmul(x.data(), m, ref, nullptr, y.data(), pool);
        matmul_reference(x.data(), m, ref, nullptr, y_ref.data());
        CHECK(max_abs_diff(y, y_ref) < 1e-4 * std::sqrt(double(k)) + 1e-5);
      }
    }
  }
}

void test_embedding() {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const int64_t vocab = 50, hidden = 21;
    const Stored table = store_as(dtype, random_floats(vocab * hidden));
    MatrixRef ref{dtype, table.bytes.data(), vocab, hidden};
    const std::vector<int32_t> ids = {0, 49, 7, 7, 13};
    std::vector<float> out(ids.size() * hidden), expect(ids.size() * hidden);
    embedding(ref, ids.data(), ids.size(), out.data());
    embedding_reference(ref, ids.data(), ids.size(), expect.data());
    CHECK(out == expect);
    CHECK(out[hidden + 3] == table.values[49 * hidden + 3]);
  }
}

void test_norm_and_elementwise() {
  for (int64_t dim : {8, 64, 67, 128}) {
    const std::vector<float> x = random_floats(3 * dim, 3.0f), w = random_floats(dim);
    std::vector<float> out(3 * dim), expect(3 * dim);
    rms_norm(x.data(), w.data(), 3, dim, 1e-5f, out.data());
    rms_norm_reference(x.data(), w.data(), 3, dim, 1e-5f, expect.data());
    CHECK(max_abs_diff(out, expect) < 1e-5);
    std::vector<float> inplace = x;
    rms_norm(inplace.data(), w.data(), 3, dim, 1e-5f, inplace.data());
    CHECK(inplace == out);
  }
  const int64_t n = 1003;
  const std::vector<float> a = random_floats(n, 8.0f), b = random_floats(n, 8.0f);
  std::vector<float> x = a, y = a;
  add_inplace(x.data(), b.data(), n);
  add_inplace_reference(y.data(), b.data(), n);
  CHECK(x == y);
  std::vector<float> out(n), expect(n);
  silu_mul(a.data(), b.data(), n, out.data());
  silu_mul_reference(a.data(), b.data(), n, expect.data());
  CHECK(max_abs_diff(out, expect) < 1e-5);
  // silu(0) = 0, silu(large) ~ identity.
  const float g[2] = {0.0f, 30.0f}, u[2] = {5.0f, 1.0f};
  float o[2];
  silu_mul(g, u, 2, o);
  CHECK(o[0] == 0.0f);
  CHECK_NEAR(o[1], 30.0, 1e-4);
}

ModelConfig rope_config(const std::string& type) {
  ModelConfig c;
  c.head_dim = 64;
  c.rope_theta = 500000.0;
  c.max_position_embeddings = 2048;
  c.rope_scaling.type = type;
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = type == "dynamic" ? 2048 : 256;
  return c;
}

void test_rope() {
  // Frequencies: default is theta^(-2i/d); linear divides by factor; llama3 keeps the high
  // frequencies, divides the low ones by factor and blends between; dynamic equals default
  // until the original length, then lowers every frequency but the first.
  const auto def = rope_inv_freq(rope_spec(rope_config("default")), 0);
  CHECK(def.size() == 32);
  for (int i = 0; i < 32; ++i) CHECK_NEAR(def[i], std::pow(500000.0, -2.0 * i / 64), 1e-6 * def[i] + 1e-12);
  const auto lin = rope_inv_freq(rope_spec(rope_config("linear")), 0);
  for (int i = 0; i < 32; ++i) CHECK_NEAR(lin[i], def[i] / 8.0, 1e-6 * def[i]);
  const auto l3 = rope_inv_freq(rope_spec(rope_config("llama3")), 0);
  const double pi = 3.141592653589793;
  int high = 0, low = 0, mid = 0;
  for (int i = 0; i < 32; ++i) {
    const double wavelen = 2 * pi / def[i];
    if (wavelen < 256.0 / 4) { CHECK(l3[i] == def[i]); ++high; }
    else if (wavelen > 256.0) { CHECK_NEAR(l3[i], def[i] / 8.0, 1e-6 * def[i]); ++low; }
    else { CHECK(l3[i] < def[i] && l3[i] > def[i] / 8.0); ++mid; }
  }
  CHECK(high > 0 && low > 0 && mid > 0);
  const auto dyn_short = rope_inv_freq(rope_spec(rope_config("dynamic")), 2048);
  CHECK(dyn_short == def);
  const auto dyn_long = rope_inv_freq(rope_spec(rope_config("dynamic")), 4096);
  CHECK(dyn_long[0] == def[0]);
  for (int i = 1; i < 32; ++i) CHECK(dyn_long[i] < def[i]);
  // base' = base · (factor·len/orig − (factor−1))^(d/(d−2))
  const double base = 500000.0 * std::pow(8.0 * 4096 / 2048 - 7.0, 64.0 / 62.0);
  CHECK_NEAR(dyn_long[5], std::pow(base, -10.0 / 64), 1e-6 * dyn_long[5]);

  // Rotation: AVX2 vs reference, odd half sizes too; position 0 is the identity.
  for (int64_t hd : {8, 20, 64, 128}) {
    ModelConfig c = rope_config("default");
    c.head_dim = static_cast<int32_t>(hd);
    const auto inv = rope_inv_freq(rope_spec(c), 0);
    std::vector<float> cs(hd / 2), sn(hd / 2);
    rope_cos_sin(inv.data(), hd / 2, 37, cs.data(), sn.data());
    std::vector<float> x = random_floats(3 * hd), y = x;
    apply_rope(x.data(), 3, hd, cs.data(), sn.data());
    apply_rope_reference(y.data(), 3, hd, cs.data(), sn.data());
    CHECK(max_abs_diff(x, y) < 1e-6);
    // A rotation keeps each pair's norm.
    std::vector<float> z = random_floats(hd), z0 = z;
    apply_rope(z.data(), 1, hd, cs.data(), sn.data());
    CHECK_NEAR(z[0] * z[0] + z[hd / 2] * z[hd / 2], z0[0] * z0[0] + z0[hd / 2] * z0[hd / 2], 1e-5);
    rope_cos_sin(inv.data(), hd / 2, 0, cs.data(), sn.data());
    z = z0;
    apply_rope(z.data(), 1, hd, cs.data(), sn.data());
    CHECK(z == z0);
  }
}

void test_attention() {
  ThreadPool pool(2);
  for (auto heads : {std::pair<int64_t, int64_t>{4, 4}, {8, 2}, {4, 1}}) {
    for (int64_t window : {0, 5}) {
      const int64_t hd = 20, block = 4, num_blocks = 16;
      AttentionShape shape{heads.first, heads.second, hd, block, window, 1.0f / std::sqrt(float(hd))};
      const int64_t kv_row = heads.second * hd;
      std::vector<float> kc = random_floats(num_blocks * block * kv_row), vc = random_floats(num_blocks * block * kv_row);
      // Two sequences: A has 9 cached tokens and 3 new ones (a prefill chunk), B has 5 cached
      // and 1 new (decode). Their blocks are scattered through the pool.
      ForwardBatch b;
      b.max_blocks_per_seq = 4;
      b.block_tables = {7, 2, 12, -1, 5, 0, -1, -1};
      b.query_start = {0, 3, 4};
      b.context_lens = {12, 6};
      b.positions = {9, 10, 11, 5};
      b.token_ids = {1, 2, 3, 4};
      auto slot = [&](int s, int64_t p) { return b.block_tables[s * 4 + p / block] * block + p % block; };
      b.slot_mapping = {int32_t(slot(0, 9)), int32_t(slot(0, 10)), int32_t(slot(0, 11)), int32_t(slot(1, 5))};
      const std::vector<float> q = random_floats(4 * heads.first * hd, 2.0f);
      const std::vector<float> k_new = random_floats(4 * kv_row), v_new = random_floats(4 * kv_row);
      write_kv(k_new.data(), v_new.data(), b, shape, KvLayer{kc.data(), vc.data()});
      CHECK(kc[slot(1, 5) * kv_row + 3] == k_new[3 * kv_row + 3]);
      CHECK(vc[slot(0, 10) * kv_row] == v_new[kv_row]);
      std::vector<float> out(q.size()), expect(q.size());
      attention(q.data(), b, shape, KvLayer{kc.data(), vc.data()}, out.data(), pool);
      attention_reference(q.data(), b, shape, KvLayer{kc.data(), vc.data()}, expect.data());
      CHECK(max_abs_diff(out, expect) < 1e-5);

      // Causality: changing a later position's K/V leaves an earlier query's output alone.
      std::vector<float> kc2 = kc;
      for (int64_t i = 0; i < kv_row; ++i) kc2[slot(0, 11) * kv_row + i] += 5.0f;
      std::vector<float> out2(q.size());
      attention(q.data(), b, shape, KvLayer{kc2.data(), vc.data()}, out2.data(), pool);
      for (int64_t i = 0; i < heads.first * hd; ++i) CHECK(out2[i] == out[i]);                 // token at position 9
      bool changed = false;
      for (int64_t i = 0; i < heads.first * hd; ++i) changed |= out2[2 * heads.first * hd + i] != out[2 * heads.first * hd + i];
      CHECK(changed); // the token at position 11 sees it
    }
  }
  // A single visible position returns that position's V exactly (softmax of one is 1).
  {
    AttentionShape shape{2, 1, 8, 4, 0, 0.3f};
    std::vector<float> kc = random_floats(8 * 8), vc = random_floats(8 * 8);
    ForwardBatch b;
    b.max_blocks_per_seq = 1;
    b.block_tables = {1};
    b.query_start = {0, 1};
    b.context_lens = {1};
    b.positions = {0};
    b.token_ids = {0};
    b.slot_mapping = {4};
    const std::vector<float> q = random_floats(16);
    std::vector<float> out(16);
    attention(q.data(), b, shape, KvLayer{kc.data(), vc.data()}, out.data(), pool);
    for (int i = 0; i < 8; ++i) {
      CHECK_NEAR(out[i], vc[4 * 8 + i], 1e-6);
      CHECK_NEAR(out[8 + i], vc[4 * 8 + i], 1e-6);
    }
  }
}

} // namespace

int main() {
  test_dtype_conversions();
  test_thread_pool();
  test_matmul();
  test_embedding();
  test_norm_and_elementwise();
  test_rope();
  test_attention();
  return test::finish("cpu_kernels_test");
}
