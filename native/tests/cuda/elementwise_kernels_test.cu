// Checks the row-wise kernels (embedding, RMSNorm, fused add + RMSNorm, per-head norm, RoPE,
// SiLU·mul, bias add, KV-cache write, argmax) against their CPU references on random inputs;
// the float32 instantiations (the float32 compute path) on unrounded float32 inputs; the
// W8A8-fused norms and SiLU·mul (outputs fake-quantized to e4m3 from float32) against the host's
// fake quantization of the float32 reference.
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <numeric>
#include <type_traits>

#include "backend/cuda/kernels.h"
#include "model/rope_frequencies.h"
#include "test_support.h"
#include "reference.h"

using namespace pagoda::cuda;
using pagoda::RopeSpec;
using pagoda::rope_inv_freq;
using namespace pagoda::cuda::test;

namespace {

constexpr double kBf16Rel = 8e-3; // a few bf16 roundings
constexpr double kF32Rel = 1e-6;  // float32 arithmetic against double

// `tokens` distinct random slots among num_slots (a shuffled cache), slot -1 at `padding`: a
// padding token kv_cache_write must skip.
std::vector<int32_t> random_slots(int tokens, int num_slots, int padding, std::mt19937& rng) {
  std::vector<int32_t> all(num_slots);
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<int32_t> slots(all.begin(), all.begin() + tokens);
  slots[padding] = -1;
  return slots;
}

void test_embedding(Checker& c, std::mt19937& rng) {
  const int vocab = 1000, hidden = 4096 + 64, tokens = 37;
  auto table = random_bf16_values(size_t(vocab) * hidden, rng);
  std::vector<int32_t> ids(tokens);
  std::uniform_int_distribution<int> pick(0, vocab - 1);
  for (auto& id : ids) id = pick(rng);
  ids[3] = -1;      // out of range: zero row
  ids[5] = vocab;   // out of range: zero row
  auto d_table = upload_bf16(table);
  auto d_ids = upload(ids);
  DeviceBuffer d_out(size_t(tokens) * hidden * 2);
  poison(d_out);
  embedding_gather(d_ids.as<int32_t>(), d_table.as<bf16>(), d_out.as<bf16>(), tokens, hidden, vocab, 0);
  c.expect("embedding_gather (exact copy, bad ids -> zeros)",
           compare(download_bf16(d_out, size_t(tokens) * hidden), ref_embedding(ids, table, hidden, vocab)), 0, 0);
  DeviceBuffer d_out32(size_t(tokens) * hidden * 4);
  poison(d_out32);
  embedding_gather(d_ids.as<int32_t>(), d_table.as<bf16>(), d_out32.as<float>(), tokens, hidden, vocab, 0);
  c.expect("embedding_gather to float32",
           compare(download<float>(d_out32, size_t(tokens) * hidden), ref_embedding(ids, table, hidden, vocab)), 0, 0);
}

void test_rms_norm(Checker& c, std::mt19937& rng) {
  // One pass a row (hidden / 8 <= 1024 threads), two held in registers (12288), more read again (20480).
  for (int hidden : {64, 4096, 5120, 12288, 20480}) {
    const int rows = 19;
    const double eps = 1e-5;
    auto x = random_bf16_values(size_t(rows) * hidden, rng, 3.f);
    auto w = random_bf16_values(hidden, rng, 2.f);
    auto r = random_bf16_values(size_t(rows) * hidden, rng, 3.f);
    auto d_x = upload_bf16(x), d_w = upload_bf16(w), d_r = upload_bf16(r);
    DeviceBuffer d_out(x.size() * 2);
    poison(d_out);
    rms_norm(d_x.as<bf16>(), d_w.as<bf16>(), d_out.as<bf16>(), rows, hidden, eps, 0);
    c.expect("rms_norm hidden " + std::to_string(hidden),
             compare(download_bf16(d_out, x.size()), ref_rms_norm(x, w, rows, hidden, eps)), kBf16Rel, 0.05);

    std::vector<double> ref_res, ref_out;
    ref_add_rms_norm(r, x, w, rows, hidden, eps, true, ref_res, ref_out);
    poison(d_out);
    add_rms_norm(d_r.as<bf16>(), d_x.as<bf16>(), d_w.as<bf16>(), d_out.as<bf16>(), rows, hidden, eps, 0);
    c.expect("add_rms_norm residual, hidden " + std::to_string(hidden),
             compare(download_bf16(d_r, x.size()), ref_res), 0, 0);
    c.expect("add_rms_norm output, hidden " + std::to_string(hidden),
             compare(download_bf16(d_out, x.size()), ref_out), kBf16Rel, 0.05);

    // float32 residual stream: the sum is kept unrounded, and rms_norm reads float32 rows.
    std::vector<float> r32 = random_bf16_values(size_t(rows) * hidden, rng, 3.f);
    for (float& v : r32) v += 1e-3f; // not representable in bf16
    auto d_r32 = upload(r32);
    ref_add_rms_norm(r32, x, w, rows, hidden, eps, false, ref_res, ref_out);
    poison(d_out);
    add_rms_norm(d_r32.as<float>(), d_x.as<bf16>(), d_w.as<bf16>(), d_out.as<bf16>(), rows, hidden, eps, 0);
    c.expect("add_rms_norm float32 residual, hidden " + std::to_string(hidden),
             compare(download<float>(d_r32, x.size()), ref_res), 1e-6, 1e-5);
    c.expect("add_rms_norm float32 output, hidden " + std::to_string(hidden),
             compare(download_bf16(d_out, x.size()), ref_out), kBf16Rel, 0.05);
    std::vector<float> res32(ref_res.begin(), ref_res.end());
    poison(d_out);
    rms_norm(d_r32.as<float>(), d_w.as<bf16>(), d_out.as<bf16>(), rows, hidden, eps, 0);
    c.expect("rms_norm float32 input, hidden " + std::to_string(hidden),
             compare(download_bf16(d_out, x.size()), ref_rms_norm(res32, w, rows, hidden, eps)), kBf16Rel, 0.05);
  }
}

// The e4m3 code of y / s (round to nearest even, saturating) as a signed position on the code line
// (adjacent values are adjacent positions), and its value.
int e4m3_position(float v) {
  const uint8_t code = __nv_cvt_float_to_fp8(std::min(std::max(v, -448.f), 448.f), __NV_SATFINITE, __NV_E4M3);
  return (code & 0x80) ? -(code & 0x7F) : code;
}
float e4m3_of_position(int p) {
  const auto code = static_cast<__nv_fp8_storage_t>(p < 0 ? (0x80 | -p) : p);
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3)));
}

// Per row (group = width) or per 128 columns: s = max(|y|, 1e-12) / 448 of the float32 values.
std::vector<float> ref_scales(const std::vector<double>& y, int rows, int width, int group) {
  std::vector<float> s(y.size());
  for (int r = 0; r < rows; ++r)
    for (int g0 = 0; g0 < width; g0 += group) {
      float amax = 0.f;
      for (int i = 0; i < group; ++i) amax = std::max(amax, std::fabs(static_cast<float>(y[size_t(r) * width + g0 + i])));
      for (int i = 0; i < group; ++i) s[size_t(r) * width + g0 + i] = std::max(amax, 1e-12f) / 448.f;
    }
  return s;
}

// The fused output against the fake quantization of the float32 reference, bf16(e4m3(y / s) * s):
// every value is one of those (the code read back from out / s, whose bf16 rounding moves it by
// far less than half a step; the value within a bf16 step of code * s), equal to the reference's but where y / s lies within float32 noise
// of a rounding boundary (the kernel's rsqrtf / __expf and sum order), and there one code apart;
// and far fewer codes move than quantizing the bf16-rounded value would move (what a linear
// quantizing the stored bf16 output does).
void expect_fused(Checker& c, const std::string& what, const std::vector<float>& out, const std::vector<double>& ref,
                  int rows, int width, int group) {
  const auto s = ref_scales(ref, rows, width, group);
  size_t moved = 0, far = 0, not_fake = 0, moved_bf16 = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const int p_ref = e4m3_position(static_cast<float>(ref[i]) / s[i]);
    const int p_out = e4m3_position(out[i] / s[i]);
    // bf16(code * s) up to one bf16 step: the kernel's s may be an ulp from this one.
    const float fake = e4m3_of_position(p_out) * s[i];
    not_fake += !(std::fabs(out[i] - fake) <= std::fabs(fake) * (1.f / 256.f));
    moved += p_out != p_ref;
    far += std::abs(p_out - p_ref) > 1;
    const float rounded = __bfloat162float(__float2bfloat16(static_cast<float>(ref[i])));
    moved_bf16 += e4m3_position(rounded / s[i]) != p_ref;
  }
  c.expect_true(what + ": the float32 value's codes",
                not_fake == 0 && far == 0 && moved * 1000 <= out.size() && moved * 5 <= moved_bf16,
                std::to_string(moved) + " of " + std::to_string(out.size()) + " one code off (bf16 input: " +
                    std::to_string(moved_bf16) + "), " + std::to_string(not_fake) + " not e4m3 * s, " +
                    std::to_string(far) + " further");
}

void test_fp8_fused(Checker& c, std::mt19937& rng) {
  // 384: 48 vectors on 64 threads, so some threads hold no columns (their zeros enter the amax); 12288 two held
  // passes, 20480 read again.
  for (int hidden : {256, 384, 4096, 5120, 12288, 20480}) {
    const int rows = 17;
    const double eps = 1e-5;
    auto x = random_bf16_values(size_t(rows) * hidden, rng, 3.f);
    auto w = random_bf16_values(hidden, rng, 2.f);
    std::vector<float> r32 = random_bf16_values(size_t(rows) * hidden, rng, 3.f);
    for (float& v : r32) v += 1e-3f;
    auto d_x = upload_bf16(x), d_w = upload_bf16(w);
    for (Fp8Fuse fuse : {Fp8Fuse::kPerToken, Fp8Fuse::kGroup128}) {
      const int group = fuse == Fp8Fuse::kGroup128 ? 128 : hidden;
      const std::string tag = std::string(fuse == Fp8Fuse::kGroup128 ? "per 128" : "per token") + ", hidden " +
                              std::to_string(hidden);
      auto d_r32 = upload(r32);
      DeviceBuffer d_out(x.size() * 2);
      poison(d_out);
      rms_norm(d_r32.as<float>(), d_w.as<bf16>(), d_out.as<bf16>(), rows, hidden, eps, 0, fuse);
      expect_fused(c, "rms_norm fp8-fused " + tag, download_bf16(d_out, x.size()),
                   ref_rms_norm(r32, w, rows, hidden, eps), rows, hidden, group);
      std::vector<double> ref_res, ref_out;
      ref_add_rms_norm(r32, x, w, rows, hidden, eps, false, ref_res, ref_out);
      poison(d_out);
      add_rms_norm(d_r32.as<float>(), d_x.as<bf16>(), d_w.as<bf16>(), d_out.as<bf16>(), rows, hidden, eps, 0, fuse);
      c.expect("add_rms_norm fp8-fused residual, " + tag, compare(download<float>(d_r32, x.size()), ref_res), 1e-6, 1e-5);
      expect_fused(c, "add_rms_norm fp8-fused " + tag, download_bf16(d_out, x.size()), ref_out, rows, hidden, group);
    }
  }
  // One pass a row, two held in registers (14336 / 8 > 1024 threads), and more recomputed (24576 / 8 > 2 x 1024).
  for (int inter : {512, 14336, 24576}) {
    const int tokens = 9;
    auto gu = random_bf16_values(size_t(tokens) * 2 * inter, rng, 6.f);
    auto d_gu = upload_bf16(gu);
    for (Fp8Fuse fuse : {Fp8Fuse::kPerToken, Fp8Fuse::kGroup128}) {
      DeviceBuffer d_out(size_t(tokens) * inter * 2);
      poison(d_out);
      silu_mul(d_gu.as<bf16>(), d_out.as<bf16>(), tokens, inter, 0, fuse);
      expect_fused(c,
                   std::string("silu_mul fp8-fused ") + (fuse == Fp8Fuse::kGroup128 ? "per 128" : "per token") +
                       ", intermediate " + std::to_string(inter),
                   download_bf16(d_out, size_t(tokens) * inter), ref_silu_mul(gu, tokens, inter), tokens, inter,
                   fuse == Fp8Fuse::kGroup128 ? 128 : inter);
    }
  }
}

void test_rms_norm_heads(Checker& c, std::mt19937& rng) {
  for (int head_dim : cuda_head_dims()) {
    const int tokens = 23, heads = 6;
    const int64_t stride = int64_t(heads) * head_dim + 3 * head_dim; // heads inside a wider row
    const double eps = 1e-6;
    auto x = random_bf16_values(size_t(tokens) * stride, rng, 2.f);
    auto w = random_bf16_values(head_dim, rng, 1.5f);
    auto d_x = upload_bf16(x), d_w = upload_bf16(w);
    rms_norm_heads(d_x.as<bf16>(), d_w.as<bf16>(), tokens, heads, head_dim, stride, eps, 0);
    c.expect("rms_norm_heads head_dim " + std::to_string(head_dim) + " (untouched tail kept)",
             compare(download_bf16(d_x, x.size()), ref_rms_norm_heads(x, w, tokens, heads, head_dim, stride, eps)),
             kBf16Rel, 0.05);
  }
}

void test_rope(Checker& c, std::mt19937& rng) {
  struct Case { std::string name; RopeSpec spec; int head_dim; int q_heads, kv_heads; int rotary_dim; };
  std::vector<Case> cases;
  RopeSpec base;
  base.theta = 500000.0;
  cases.push_back({"default", base, 128, 32, 8, 128});
  RopeSpec linear = base; linear.type = "linear"; linear.factor = 4.0;
  cases.push_back({"linear", linear, 64, 4, 2, 64});
  RopeSpec dyn = base; dyn.type = "dynamic"; dyn.factor = 2.0; dyn.original_max_position = 2048;
  cases.push_back({"dynamic", dyn, 128, 8, 1, 128});
  RopeSpec l3 = base; l3.type = "llama3"; l3.factor = 8.0; l3.low_freq_factor = 1.0; l3.high_freq_factor = 4.0;
  l3.original_max_position = 8192;
  cases.push_back({"llama3", l3, 128, 16, 4, 128});
  cases.push_back({"partial rotary 64 of 128", base, 128, 4, 4, 64}); // rotary_dim < head_dim
  // Every head_dim of the bf16 attention kernels, GQA 4: rotary over the whole head (llama3
  // scaling), and over its first half (partial rotary, as a rotary factor of 0.5 gives).
  for (int d : cuda_head_dims()) {
    cases.push_back({"llama3 head_dim " + std::to_string(d), l3, d, 8, 2, d});
    cases.push_back({"partial rotary " + std::to_string(d / 2) + " of " + std::to_string(d), base, d, 8, 2, d / 2});
  }
  for (Case& k : cases) {
    k.spec.rotary_dim = k.rotary_dim;
    const int tokens = 41;
    std::vector<int32_t> positions(tokens);
    std::uniform_int_distribution<int> pos(0, 30000);
    for (auto& p : positions) p = pos(rng);
    const int max_pos = *std::max_element(positions.begin(), positions.end());
    const auto inv_freq = rope_inv_freq(k.spec, max_pos + 1);
    const int64_t q_width = int64_t(k.q_heads) * k.head_dim, kv_width = int64_t(k.kv_heads) * k.head_dim;
    const int64_t stride = q_width + 2 * kv_width; // fused qkv rows
    auto x = random_bf16_values(size_t(tokens) * stride, rng, 2.f);
    std::vector<double> ref(x.begin(), x.end());
    ref_rope(ref, stride, 0, q_width, positions, inv_freq, k.q_heads, k.kv_heads, k.head_dim, k.spec.rotary_dim);
    auto d_x = upload_bf16(x), d_pos = upload(positions), d_freq = upload(inv_freq);
    rope_neox(d_x.as<bf16>(), d_x.as<bf16>() + q_width, stride, d_pos.as<int32_t>(), d_freq.as<float>(), tokens,
              k.q_heads, k.kv_heads, k.head_dim, k.spec.rotary_dim, 0);
    c.expect("rope_neox " + k.name, compare(download_bf16(d_x, x.size()), ref), kBf16Rel, 0.04);
  }
}

void test_silu_mul_bias(Checker& c, std::mt19937& rng) {
  const int tokens = 29;
  for (int inter : {14336 / 4, 172}) { // vectorized path, and the odd-width path of small models
    auto gu = random_bf16_values(size_t(tokens) * 2 * inter, rng, 6.f);
    auto d_gu = upload_bf16(gu);
    DeviceBuffer d_out(size_t(tokens) * inter * 2);
    poison(d_out);
    silu_mul(d_gu.as<bf16>(), d_out.as<bf16>(), tokens, inter, 0);
    c.expect("silu_mul intermediate " + std::to_string(inter),
             compare(download_bf16(d_out, size_t(tokens) * inter), ref_silu_mul(gu, tokens, inter)), kBf16Rel, 0.2);
  }

  const int cols = 1024 + 2 * 256;
  auto x = random_bf16_values(size_t(tokens) * cols, rng, 4.f);
  auto b = random_bf16_values(cols, rng, 4.f);
  auto d_x = upload_bf16(x), d_b = upload_bf16(b);
  bias_add(d_x.as<bf16>(), d_b.as<bf16>(), tokens, cols, 0);
  c.expect("bias_add", compare(download_bf16(d_x, x.size()), ref_bias_add(x, b, cols)), kBf16Rel, 0.04);
}

void check_kv_cache_write(Checker& c, std::mt19937& rng, int head_dim) {
  const int tokens = 53, kv_heads = 8, block_size = 16, num_blocks = 40;
  const int64_t q_width = 32 * head_dim, kv_width = int64_t(kv_heads) * head_dim;
  const int64_t stride = q_width + 2 * kv_width;
  auto qkv = random_bf16_values(size_t(tokens) * stride, rng);
  const std::vector<int32_t> slots = random_slots(tokens, num_blocks * block_size, 7, rng);
  const size_t cache_elems = size_t(num_blocks) * kv_heads * block_size * head_dim;
  std::vector<float> k_cache = random_bf16_values(cache_elems, rng), v_cache = random_bf16_values(cache_elems, rng);
  std::vector<double> k_ref(k_cache.begin(), k_cache.end()), v_ref(v_cache.begin(), v_cache.end());
  ref_kv_cache_write(qkv, slots, stride, q_width, kv_heads, head_dim, block_size, k_ref, v_ref);
  auto d_qkv = upload_bf16(qkv), d_slots = upload(slots), d_k = upload_bf16(k_cache), d_v = upload_bf16(v_cache);
  kv_cache_write(d_qkv.as<bf16>() + q_width, d_qkv.as<bf16>() + q_width + kv_width, stride, d_slots.as<int32_t>(),
                 d_k.as<bf16>(), d_v.as<bf16>(), tokens, kv_heads, head_dim, block_size, 0);
  const std::string what = "kv_cache_write head_dim " + std::to_string(head_dim);
  c.expect(what + " K (other slots untouched)", compare(download_bf16(d_k, cache_elems), k_ref), 0, 0);
  c.expect(what + " V (other slots untouched)", compare(download_bf16(d_v, cache_elems), v_ref), 0, 0);
}

void test_kv_cache_write(Checker& c, std::mt19937& rng) {
  for (int head_dim : cuda_head_dims()) check_kv_cache_write(c, rng, head_dim);
}

// rope_neox_kv_write against rope_neox followed by kv_cache_write: the same bits in q, k and both caches, padding
// slots skipped, every head_dim, whole and partial rotary, GQA 4 and 1; bf16 and the float32 path.
template <typename T>
void check_rope_kv_write(Checker& c, std::mt19937& rng, int head_dim, int rotary_dim, int q_heads, int kv_heads) {
  const int tokens = 37, block_size = 16, num_blocks = 24;
  const int64_t q_width = int64_t(q_heads) * head_dim, kv_width = int64_t(kv_heads) * head_dim;
  const int64_t stride = q_width + 2 * kv_width;
  RopeSpec spec;
  spec.theta = 500000.0;
  spec.rotary_dim = rotary_dim;
  std::vector<int32_t> positions(tokens);
  std::uniform_int_distribution<int> pos(0, 9000);
  for (auto& p : positions) p = pos(rng);
  const auto inv_freq = rope_inv_freq(spec, 9001);
  const std::vector<int32_t> slots = random_slots(tokens, num_blocks * block_size, 5, rng);
  const size_t cache_elems = size_t(num_blocks) * kv_heads * block_size * head_dim;
  const std::vector<float> qkv = random_bf16_values(size_t(tokens) * stride, rng, 2.f);
  const std::vector<float> k0 = random_bf16_values(cache_elems, rng), v0 = random_bf16_values(cache_elems, rng);
  auto up = [](const std::vector<float>& v) {
    if constexpr (std::is_same_v<T, bf16>) return upload_bf16(v);
    else return upload(v);
  };
  auto down = [](const DeviceBuffer& b, size_t n) {
    if constexpr (std::is_same_v<T, bf16>) return download_bf16(b, n);
    else return download<float>(b, n);
  };
  auto d_pos = upload(positions), d_freq = upload(inv_freq), d_slots = upload(slots);
  std::vector<float> got[3], want[3];
  for (int fused = 0; fused < 2; ++fused) {
    auto d_qkv = up(qkv), d_k = up(k0), d_v = up(v0);
    T* x = d_qkv.template as<T>();
    if (fused) {
      rope_neox_kv_write(x, x + q_width, x + q_width + kv_width, stride, d_pos.as<int32_t>(), d_freq.as<float>(),
                         d_slots.as<int32_t>(), d_k.template as<T>(), d_v.template as<T>(), tokens, q_heads, kv_heads,
                         head_dim, rotary_dim, block_size, 0);
    } else {
      rope_neox(x, x + q_width, stride, d_pos.as<int32_t>(), d_freq.as<float>(), tokens, q_heads, kv_heads, head_dim,
                rotary_dim, 0);
      kv_cache_write(x + q_width, x + q_width + kv_width, stride, d_slots.as<int32_t>(), d_k.template as<T>(),
                     d_v.template as<T>(), tokens, kv_heads, head_dim, block_size, 0);
    }
    auto& out = fused ? got : want;
    out[0] = down(d_qkv, qkv.size());
    out[1] = down(d_k, cache_elems);
    out[2] = down(d_v, cache_elems);
  }
  const std::string what = std::string(std::is_same_v<T, bf16> ? "" : "f32 ") + "rope_neox_kv_write head_dim " +
                           std::to_string(head_dim) + " rotary " + std::to_string(rotary_dim) + " heads " +
                           std::to_string(q_heads) + "/" + std::to_string(kv_heads);
  const char* parts[3] = {" q/k/v", " K cache", " V cache"};
  for (int i = 0; i < 3; ++i)
    c.expect_true(what + parts[i] + " = rope_neox + kv_cache_write", got[i] == want[i], "bits differ");
}

void test_rope_kv_write(Checker& c, std::mt19937& rng) {
  for (int d : cuda_head_dims()) {
    check_rope_kv_write<bf16>(c, rng, d, d, 8, 2);
    check_rope_kv_write<bf16>(c, rng, d, d / 2, 8, 8);
  }
  check_rope_kv_write<bf16>(c, rng, 128, 128, 32, 8); // Llama-3-8B heads
  check_rope_kv_write<float>(c, rng, 128, 128, 32, 8);
  check_rope_kv_write<float>(c, rng, 64, 32, 4, 1);
}

// Every kernel's float instantiation, as the float32 compute path calls it.
void test_float32(Checker& c, std::mt19937& rng) {
  { // embedding and row gather: float32 rows copied exactly
    const int vocab = 300, hidden = 64 + 8, tokens = 21;
    auto table = random_f32_values(size_t(vocab) * hidden, rng);
    std::vector<int32_t> ids(tokens);
    std::uniform_int_distribution<int> pick(0, vocab - 1);
    for (auto& id : ids) id = pick(rng);
    ids[2] = -7;
    ids[9] = vocab;
    auto d_table = upload(table), d_ids = upload(ids);
    DeviceBuffer d_out(size_t(tokens) * hidden * 4);
    poison(d_out);
    embedding_gather(d_ids.as<int32_t>(), d_table.as<float>(), d_out.as<float>(), tokens, hidden, vocab, 0);
    c.expect("f32 embedding_gather (exact, bad ids -> zeros)",
             compare(download<float>(d_out, size_t(tokens) * hidden), ref_embedding(ids, table, hidden, vocab)), 0, 0);
  }
  for (int hidden : {64, 4096 + 8}) { // rms_norm and add_rms_norm, all float32
    const int rows = 13;
    const double eps = 1e-5;
    auto x = random_f32_values(size_t(rows) * hidden, rng, 3.f);
    auto w = random_f32_values(hidden, rng, 2.f);
    auto r = random_f32_values(size_t(rows) * hidden, rng, 3.f);
    auto d_x = upload(x), d_w = upload(w), d_r = upload(r);
    DeviceBuffer d_out(x.size() * 4);
    poison(d_out);
    rms_norm(d_x.as<float>(), d_w.as<float>(), d_out.as<float>(), rows, hidden, eps, 0);
    c.expect("f32 rms_norm hidden " + std::to_string(hidden),
             compare(download<float>(d_out, x.size()), ref_rms_norm(x, w, rows, hidden, eps)), kF32Rel, 1e-5);
    std::vector<double> ref_res, ref_out;
    ref_add_rms_norm(r, x, w, rows, hidden, eps, false, ref_res, ref_out);
    poison(d_out);
    add_rms_norm(d_r.as<float>(), d_x.as<float>(), d_w.as<float>(), d_out.as<float>(), rows, hidden, eps, 0);
    c.expect("f32 add_rms_norm residual, hidden " + std::to_string(hidden),
             compare(download<float>(d_r, x.size()), ref_res), kF32Rel, 1e-5);
    c.expect("f32 add_rms_norm output, hidden " + std::to_string(hidden),
             compare(download<float>(d_out, x.size()), ref_out), kF32Rel, 1e-5);
  }
  for (int head_dim : {8, 64, 256}) { // per-head norm inside a wider row
    const int tokens = 17, heads = 4;
    const int64_t stride = int64_t(heads) * head_dim + 2 * head_dim;
    auto x = random_f32_values(size_t(tokens) * stride, rng, 2.f);
    auto w = random_f32_values(head_dim, rng, 1.5f);
    auto d_x = upload(x), d_w = upload(w);
    rms_norm_heads(d_x.as<float>(), d_w.as<float>(), tokens, heads, head_dim, stride, 1e-6f, 0);
    c.expect("f32 rms_norm_heads head_dim " + std::to_string(head_dim),
             compare(download<float>(d_x, x.size()), ref_rms_norm_heads(x, w, tokens, heads, head_dim, stride, 1e-6)),
             kF32Rel, 1e-5);
  }
  for (int head_dim : {8, 128}) { // RoPE on fused qkv rows (stories260k: head_dim 8)
    RopeSpec spec;
    spec.theta = 10000.0;
    spec.rotary_dim = head_dim;
    const int tokens = 31, q_heads = 8, kv_heads = 4;
    std::vector<int32_t> positions(tokens);
    std::uniform_int_distribution<int> pos(0, 4000);
    for (auto& p : positions) p = pos(rng);
    const auto inv_freq = rope_inv_freq(spec, 4001);
    const int64_t q_width = int64_t(q_heads) * head_dim, kv_width = int64_t(kv_heads) * head_dim;
    const int64_t stride = q_width + 2 * kv_width;
    auto x = random_f32_values(size_t(tokens) * stride, rng, 2.f);
    std::vector<double> ref(x.begin(), x.end());
    ref_rope(ref, stride, 0, q_width, positions, inv_freq, q_heads, kv_heads, head_dim, head_dim);
    auto d_x = upload(x), d_pos = upload(positions), d_freq = upload(inv_freq);
    rope_neox(d_x.as<float>(), d_x.as<float>() + q_width, stride, d_pos.as<int32_t>(), d_freq.as<float>(), tokens,
              q_heads, kv_heads, head_dim, head_dim, 0);
    c.expect("f32 rope_neox head_dim " + std::to_string(head_dim), compare(download<float>(d_x, x.size()), ref),
             kF32Rel, 1e-5);
  }
  for (int inter : {1024, 172}) { // vectorized path, and the odd-width path (stories260k: 172)
    const int tokens = 23;
    auto gu = random_f32_values(size_t(tokens) * 2 * inter, rng, 6.f);
    auto d_gu = upload(gu);
    DeviceBuffer d_out(size_t(tokens) * inter * 4);
    poison(d_out);
    silu_mul(d_gu.as<float>(), d_out.as<float>(), tokens, inter, 0);
    c.expect("f32 silu_mul intermediate " + std::to_string(inter),
             compare(download<float>(d_out, size_t(tokens) * inter), ref_silu_mul(gu, tokens, inter)), 4 * kF32Rel, 1e-4); // __expf
  }
  {
    const int tokens = 19, cols = 512 + 2 * 128;
    auto x = random_f32_values(size_t(tokens) * cols, rng, 4.f);
    auto b = random_f32_values(cols, rng, 4.f);
    auto d_x = upload(x), d_b = upload(b);
    bias_add(d_x.as<float>(), d_b.as<float>(), tokens, cols, 0);
    c.expect("f32 bias_add", compare(download<float>(d_x, x.size()), ref_bias_add(x, b, cols)), kF32Rel, 1e-5);
  }
  for (int head_dim : {8, 64}) { // KV write: exact copies, other slots untouched, padding skipped
    const int tokens = 37, kv_heads = 4, block_size = 16, num_blocks = 12;
    const int64_t q_width = 8 * head_dim, kv_width = int64_t(kv_heads) * head_dim;
    const int64_t stride = q_width + 2 * kv_width;
    auto qkv = random_f32_values(size_t(tokens) * stride, rng);
    const std::vector<int32_t> slots = random_slots(tokens, num_blocks * block_size, 4, rng);
    const size_t cache_elems = size_t(num_blocks) * kv_heads * block_size * head_dim;
    auto k_cache = random_f32_values(cache_elems, rng), v_cache = random_f32_values(cache_elems, rng);
    std::vector<double> k_ref(k_cache.begin(), k_cache.end()), v_ref(v_cache.begin(), v_cache.end());
    ref_kv_cache_write(qkv, slots, stride, q_width, kv_heads, head_dim, block_size, k_ref, v_ref);
    auto d_qkv = upload(qkv), d_slots = upload(slots), d_k = upload(k_cache), d_v = upload(v_cache);
    kv_cache_write(d_qkv.as<float>() + q_width, d_qkv.as<float>() + q_width + kv_width, stride, d_slots.as<int32_t>(),
                   d_k.as<float>(), d_v.as<float>(), tokens, kv_heads, head_dim, block_size, 0);
    c.expect("f32 kv_cache_write K, head_dim " + std::to_string(head_dim), compare(download<float>(d_k, cache_elems), k_ref), 0, 0);
    c.expect("f32 kv_cache_write V, head_dim " + std::to_string(head_dim), compare(download<float>(d_v, cache_elems), v_ref), 0, 0);
  }
}

void test_argmax(Checker& c, std::mt19937& rng) {
  const int rows = 9, vocab = 128256;
  std::normal_distribution<float> dist(0.f, 3.f);
  std::vector<float> logits(size_t(rows) * vocab);
  for (float& x : logits) x = dist(rng);
  // A tie: the lower index must win.
  logits[size_t(2) * vocab + 100] = 1e4f;
  logits[size_t(2) * vocab + 90000] = 1e4f;
  auto d_logits = upload(logits);
  DeviceBuffer d_out(rows * sizeof(int32_t));
  poison(d_out);
  argmax_rows(d_logits.as<float>(), d_out.as<int32_t>(), rows, vocab, 0);
  auto got = download<int32_t>(d_out, rows);
  int wrong = 0;
  for (int r = 0; r < rows; ++r) wrong += got[r] != ref_argmax(&logits[size_t(r) * vocab], vocab);
  c.expect_true("argmax_rows over 128256 (ties -> lowest index)", wrong == 0, std::to_string(wrong) + " rows differ");
}

} // namespace

int main() {
  skip_without_device("elementwise_kernels_test");
  std::mt19937 rng(20261125);
  Checker c;
  try {
    test_embedding(c, rng);
    test_rms_norm(c, rng);
    test_rms_norm_heads(c, rng);
    test_rope(c, rng);
    test_silu_mul_bias(c, rng);
    test_fp8_fused(c, rng);
    test_kv_cache_write(c, rng);
    test_rope_kv_write(c, rng);
    test_float32(c, rng);
    test_argmax(c, rng);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("elementwise_kernels_test");
}
