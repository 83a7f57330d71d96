// Checks rope_kv_cache_write (PAGODA_DECODE_FUSED) against rope_neox followed by kv_cache_write on
// the same rows: q and k rotated and the bf16 cache bit for bit, the e4m3 cache's codes too (with
// K / V scales other than 1); full and partial rotary_dim, GQA / MQA / MHA, block sizes 16 and 32,
// tokens at random positions and shuffled slots with padding (-1) slots, and the cache also
// against a float64 RoPE on the host (what the two paths agree on must be RoPE).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "backend/cuda/kernels.h"
#include "model/fp8.h"
#include "model/rope_frequencies.h"
#include "test_support.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

struct Case {
  int q_heads, kv_heads, head_dim, rotary_dim, block_size;
};

template <typename T> size_t count_differ(const std::vector<T>& a, const std::vector<T>& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(T)) != 0;
  return n;
}

void run_case(Checker& c, std::mt19937& rng, const Case& k, bool fp8) {
  const int tokens = 37, blocks = 7;
  const int num_slots = blocks * k.block_size;
  const int64_t q_width = int64_t(k.q_heads) * k.head_dim, kv_width = int64_t(k.kv_heads) * k.head_dim;
  const int64_t stride = q_width + 2 * kv_width; // fused qkv rows
  std::vector<int32_t> positions(tokens);
  std::uniform_int_distribution<int> pos(0, 100000);
  for (auto& p : positions) p = pos(rng);
  std::vector<int32_t> order(num_slots);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int32_t> slots(tokens);
  for (int t = 0; t < tokens; ++t) slots[t] = t % 11 == 3 ? -1 : order[t];
  pagoda::RopeSpec spec;
  spec.theta = 500000.0;
  spec.rotary_dim = k.rotary_dim;
  const std::vector<float> inv_freq = pagoda::rope_inv_freq(spec, 0);
  const std::vector<float> x = random_bf16_values(size_t(tokens) * stride, rng, fp8 ? 100.f : 4.f); // e4m3: |2 k| stays under 448
  const float k_scale = fp8 ? 0.5f : 1.f, v_scale = fp8 ? 2.f : 1.f;

  auto d_pos = upload(positions), d_slots = upload(slots), d_freq = upload(inv_freq);
  const size_t cache_elems = size_t(blocks) * k.kv_heads * k.block_size * k.head_dim;
  const size_t cache_bytes = cache_elems * (fp8 ? 1 : 2);
  DeviceBuffer rows_plain = upload_bf16(x), rows_fused = upload_bf16(x);
  DeviceBuffer kc_plain(cache_bytes), vc_plain(cache_bytes), kc_fused(cache_bytes), vc_fused(cache_bytes);
  for (DeviceBuffer* b : {&kc_plain, &vc_plain, &kc_fused, &vc_fused})
    PAGODA_CUDA_CHECK(cudaMemset(b->data(), 0x5a, cache_bytes)); // slots nobody writes keep this

  // The two-kernel path, as cuda_model_ops.cpp runs it without the switch.
  bf16* q = rows_plain.as<bf16>();
  rope_neox(q, q + q_width, stride, d_pos.as<int32_t>(), d_freq.as<float>(), tokens, k.q_heads, k.kv_heads,
            k.head_dim, k.rotary_dim, 0);
  if (fp8)
    kv_cache_write(q + q_width, q + q_width + kv_width, stride, d_slots.as<int32_t>(), kc_plain.as<uint8_t>(),
                   vc_plain.as<uint8_t>(), k_scale, v_scale, tokens, k.kv_heads, k.head_dim, k.block_size, 0);
  else
    kv_cache_write(q + q_width, q + q_width + kv_width, stride, d_slots.as<int32_t>(), kc_plain.as<bf16>(),
                   vc_plain.as<bf16>(), tokens, k.kv_heads, k.head_dim, k.block_size, 0);
  // The fused kernel.
  bf16* qf = rows_fused.as<bf16>();
  if (fp8)
    rope_kv_cache_write(qf, qf + q_width, qf + q_width + kv_width, stride, d_pos.as<int32_t>(), d_freq.as<float>(),
                        d_slots.as<int32_t>(), kc_fused.as<uint8_t>(), vc_fused.as<uint8_t>(), k_scale, v_scale, tokens,
                        k.q_heads, k.kv_heads, k.head_dim, k.rotary_dim, k.block_size, 0);
  else
    rope_kv_cache_write(qf, qf + q_width, qf + q_width + kv_width, stride, d_pos.as<int32_t>(), d_freq.as<float>(),
                        d_slots.as<int32_t>(), kc_fused.as<bf16>(), vc_fused.as<bf16>(), tokens, k.q_heads,
                        k.kv_heads, k.head_dim, k.rotary_dim, k.block_size, 0);

  const std::string tag = std::string(fp8 ? "e4m3" : "bf16") + " " + std::to_string(k.q_heads) + "/" +
                          std::to_string(k.kv_heads) + " head_dim " + std::to_string(k.head_dim) + " rotary " +
                          std::to_string(k.rotary_dim) + " block " + std::to_string(k.block_size);
  const auto rows_p = download<uint16_t>(rows_plain, x.size()), rows_f = download<uint16_t>(rows_fused, x.size());
  c.expect_true("rope_kv_cache_write " + tag + ": q, k, v rows = rope_neox's bit for bit",
                count_differ(rows_p, rows_f) == 0, std::to_string(count_differ(rows_p, rows_f)) + " differ");
  const auto kp = download<uint8_t>(kc_plain, cache_bytes), kf = download<uint8_t>(kc_fused, cache_bytes);
  const auto vp = download<uint8_t>(vc_plain, cache_bytes), vf = download<uint8_t>(vc_fused, cache_bytes);
  c.expect_true("rope_kv_cache_write " + tag + ": K cache = kv_cache_write's bit for bit", count_differ(kp, kf) == 0,
                std::to_string(count_differ(kp, kf)) + " bytes differ");
  c.expect_true("rope_kv_cache_write " + tag + ": V cache = kv_cache_write's bit for bit", count_differ(vp, vf) == 0,
                std::to_string(count_differ(vp, vf)) + " bytes differ");

  // Independently: the fused cache holds RoPE'd k (float64 on the host) and plain v, / scale.
  std::vector<double> ref(x.begin(), x.end());
  ref_rope(ref, stride, 0, q_width, positions, inv_freq, k.q_heads, k.kv_heads, k.head_dim, k.rotary_dim);
  std::vector<float> got_k, got_v;
  std::vector<double> want_k, want_v;
  size_t untouched_changed = 0;
  std::vector<bool> written(size_t(num_slots), false);
  for (int t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    written[slots[t]] = true;
    for (int h = 0; h < k.kv_heads; ++h)
      for (int e = 0; e < k.head_dim; ++e) {
        const size_t dst = ((size_t(slots[t] / k.block_size) * k.kv_heads + h) * k.block_size + slots[t] % k.block_size) *
                               k.head_dim + e;
        const size_t src = size_t(t) * stride + q_width + size_t(h) * k.head_dim + e;
        auto value = [&](const std::vector<uint8_t>& cache) {
          if (fp8) return pagoda::fp8_e4m3_to_f32(cache[dst]);
          uint16_t bits;
          std::memcpy(&bits, &cache[2 * dst], 2);
          const uint32_t f = uint32_t(bits) << 16;
          float out;
          std::memcpy(&out, &f, 4);
          return out;
        };
        got_k.push_back(value(kf));
        got_v.push_back(value(vf));
        want_k.push_back(ref[src] / k_scale);
        want_v.push_back(ref[src + kv_width] / v_scale);
      }
  }
  for (int slot = 0; slot < num_slots; ++slot) {
    if (written[slot]) continue;
    for (int h = 0; h < k.kv_heads; ++h)
      for (int e = 0; e < k.head_dim; ++e) {
        const size_t dst = ((size_t(slot / k.block_size) * k.kv_heads + h) * k.block_size + slot % k.block_size) *
                               k.head_dim + e;
        const size_t bytes = fp8 ? 1 : 2;
        for (size_t b = 0; b < bytes; ++b)
          untouched_changed += (kf[dst * bytes + b] != 0x5a) + (vf[dst * bytes + b] != 0x5a);
      }
  }
  // e4m3 keeps 3 mantissa bits (relative error up to 1/16), bf16 8.
  const double rel = fp8 ? 4e-2 : 8e-3, abs_limit = fp8 ? 40.0 : 0.04;
  c.expect("rope_kv_cache_write " + tag + ": K cache vs float64 RoPE", compare(got_k, want_k), rel, abs_limit);
  c.expect("rope_kv_cache_write " + tag + ": V cache vs v / scale", compare(got_v, want_v), rel, abs_limit);
  c.expect_true("rope_kv_cache_write " + tag + ": slots of no token (and padding tokens) untouched",
                untouched_changed == 0, std::to_string(untouched_changed) + " bytes changed");
}

} // namespace

int main() {
  skip_without_device("rope_kv_cache_write_test");
  std::mt19937 rng(2020);
  Checker c;
  try {
    const std::vector<Case> cases = {
        {32, 8, 128, 128, 16}, // Llama-3-8B
        {32, 8, 128, 128, 32},
        {28, 4, 128, 128, 16}, // Qwen2.5-7B, group 7
        {16, 8, 128, 128, 32}, // Qwen3 (tiny) layout
        {8, 2, 128, 64, 16},   // partial rotary: half the head
        {8, 2, 64, 32, 32},
        {4, 4, 64, 48, 16},    // MHA, rotary 48 of 64 (threads not a power of two per head)
        {8, 1, 256, 256, 16},  // MQA, head_dim 256
        {4, 2, 80, 80, 32},    // head_dim 80
    };
    for (const Case& k : cases)
      for (bool fp8 : {false, true}) run_case(c, rng, k, fp8);
    // The refusals rope_neox and kv_cache_write give.
    expect_refused(c, "rope_kv_cache_write refuses an odd rotary_dim", [] {
      rope_kv_cache_write(nullptr, nullptr, nullptr, 8, nullptr, nullptr, nullptr, static_cast<bf16*>(nullptr), nullptr,
                          1, 1, 1, 64, 63, 16, 0);
    }, "rotary_dim");
    expect_refused(c, "rope_kv_cache_write refuses a zero fp8 scale", [] {
      rope_kv_cache_write(nullptr, nullptr, nullptr, 8, nullptr, nullptr, nullptr, static_cast<uint8_t*>(nullptr),
                          nullptr, 0.f, 1.f, 1, 1, 1, 64, 64, 16, 0);
    }, "scales");
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("rope_kv_cache_write_test");
}
