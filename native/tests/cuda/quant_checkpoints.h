// Random quantized checkpoints for the CUDA kernel tests (GPTQ, AWQ, fp8 per-channel and 128x128
// blocks) with the wave2 README's dequantization computed on the host from the checkpoint tensors.
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace pagoda::cuda::test {

inline float f16_bits_to_float(uint16_t h) { return __half2float(*reinterpret_cast<const __half*>(&h)); }
inline uint16_t float_to_f16_bits(float f) {
  const __half h = __float2half(f);
  return *reinterpret_cast<const uint16_t*>(&h);
}
inline float e4m3_value(uint8_t c) { return __half2float(__half(__nv_cvt_fp8_to_halfraw(c, __NV_E4M3))); }
inline uint8_t e4m3_code(float v) { return static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3)); }

// A GPTQ checkpoint's tensors for one linear, random, and the README's dequantization.
struct Gptq {
  int in, out, group;
  std::vector<int32_t> qweight, qzeros, g_idx;
  std::vector<uint16_t> scales;
  std::vector<float> dequant; // [out][in]
};

inline Gptq make_gptq(int in, int out, int group, bool act_order, bool symmetric, std::mt19937& rng) {
  Gptq c{in, out, group, {}, {}, {}, {}, {}};
  const int groups = in / group;
  std::uniform_int_distribution<uint32_t> word;
  std::uniform_real_distribution<float> scale(0.002f, 0.02f);
  c.qweight.resize(size_t(in / 8) * out);
  for (auto& v : c.qweight) v = static_cast<int32_t>(word(rng));
  c.qzeros.resize(size_t(groups) * (out / 8));
  for (auto& v : c.qzeros) v = symmetric ? 0x77777777 : static_cast<int32_t>(word(rng) & 0xEEEEEEEEu); // stored z - 1 <= 14
  c.scales.resize(size_t(groups) * out);
  for (auto& v : c.scales) v = float_to_f16_bits(scale(rng));
  c.g_idx.resize(size_t(in));
  std::vector<int> order(static_cast<size_t>(in));
  std::iota(order.begin(), order.end(), 0);
  if (act_order) std::shuffle(order.begin(), order.end(), rng);
  for (int r = 0; r < in; ++r) c.g_idx[size_t(order[size_t(r)])] = r / group; // rank(i) / group
  c.dequant.resize(size_t(out) * in);
  for (int o = 0; o < out; ++o)
    for (int i = 0; i < in; ++i) {
      const int g = c.g_idx[size_t(i)];
      const uint32_t q = (static_cast<uint32_t>(c.qweight[size_t(i / 8) * out + o]) >> (4 * (i % 8))) & 0xF;
      const uint32_t z = ((static_cast<uint32_t>(c.qzeros[size_t(g) * (out / 8) + o / 8]) >> (4 * (o % 8))) & 0xF) + 1;
      c.dequant[size_t(o) * in + i] = (float(q) - float(z)) * f16_bits_to_float(c.scales[size_t(g) * out + o]);
    }
  return c;
}

struct Awq {
  int in, out, group;
  std::vector<int32_t> qweight, qzeros;
  std::vector<uint16_t> scales;
  std::vector<float> dequant;
};

inline Awq make_awq(int in, int out, int group, std::mt19937& rng) {
  static constexpr int kRev[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  Awq c{in, out, group, {}, {}, {}, {}};
  const int groups = in / group;
  std::uniform_int_distribution<uint32_t> word;
  std::uniform_real_distribution<float> scale(0.002f, 0.02f);
  c.qweight.resize(size_t(in) * (out / 8));
  for (auto& v : c.qweight) v = static_cast<int32_t>(word(rng));
  c.qzeros.resize(size_t(groups) * (out / 8));
  for (auto& v : c.qzeros) v = static_cast<int32_t>(word(rng));
  c.scales.resize(size_t(groups) * out);
  for (auto& v : c.scales) v = float_to_f16_bits(scale(rng));
  c.dequant.resize(size_t(out) * in);
  for (int o = 0; o < out; ++o)
    for (int i = 0; i < in; ++i) {
      const int g = i / group;
      const uint32_t q = (static_cast<uint32_t>(c.qweight[size_t(i) * (out / 8) + o / 8]) >> (4 * kRev[o % 8])) & 0xF;
      const uint32_t z = (static_cast<uint32_t>(c.qzeros[size_t(g) * (out / 8) + o / 8]) >> (4 * kRev[o % 8])) & 0xF;
      c.dequant[size_t(o) * in + i] = (float(q) - float(z)) * f16_bits_to_float(c.scales[size_t(g) * out + o]);
    }
  return c;
}

struct Fp8 {
  int in, out;
  bool block;
  std::vector<uint8_t> weight;
  std::vector<float> scale; // [out] or [ceil(out/128)][in/128]
  std::vector<float> dequant;
};

inline Fp8 make_fp8(int in, int out, bool block, std::mt19937& rng) {
  Fp8 c{in, out, block, {}, {}, {}};
  std::uniform_int_distribution<int> code(0, 255);
  std::uniform_real_distribution<float> scale(1e-4f, 1e-3f);
  c.weight.resize(size_t(out) * in);
  for (auto& v : c.weight) {
    do v = static_cast<uint8_t>(code(rng));
    while ((v & 0x7F) == 0x7F); // NaN codes are never stored
  }
  const int rb = (out + 127) / 128, cb = in / 128;
  c.scale.resize(block ? size_t(rb) * cb : size_t(out));
  for (auto& v : c.scale) v = scale(rng);
  c.dequant.resize(size_t(out) * in);
  for (int o = 0; o < out; ++o)
    for (int i = 0; i < in; ++i) {
      const float s = block ? c.scale[size_t(o / 128) * cb + i / 128] : c.scale[size_t(o)];
      c.dequant[size_t(o) * in + i] = e4m3_value(c.weight[size_t(o) * in + i]) * s;
    }
  return c;
}

inline bool equal_exactly(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

} // namespace pagoda::cuda::test
