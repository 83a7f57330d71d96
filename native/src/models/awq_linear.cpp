// AwqLinear: reads and checks qweight / qzeros / scales; dequantizes in AWQ's nibble order.
#include "models/awq_linear.h"

#include <cmath>
#include <cstring>
#include <random>

#include "error.h"
#include "model/tensor_reader.h"

namespace pagoda {

AwqLinear::AwqLinear(const SafetensorsCheckpoint& ckpt, const QuantizationConfig& quant, const std::string& prefix,
                     int64_t out, int64_t in)
    : LinearMethod(prefix, out, in), group_size_(quant.group_size) {
  check_shapes();
  const int64_t groups = in / group_size_;
  qweight_ = read_tensor(ckpt, prefix + ".qweight", {in, out / 8}, {DType::I32});
  qzeros_ = read_tensor(ckpt, prefix + ".qzeros", {groups, out / 8}, {DType::I32});
  scales_ = read_tensor(ckpt, prefix + ".scales", {groups, out}, {DType::F16});
}

AwqLinear::AwqLinear(const QuantizationConfig& quant, uint64_t seed, const std::string& prefix, int64_t out, int64_t in)
    : LinearMethod(prefix, out, in), group_size_(quant.group_size) {
  check_shapes();
  const int64_t groups = in / group_size_;
  std::mt19937_64 rng(seed);
  auto random_words = [&](size_t bytes) {
    std::vector<uint8_t> v(bytes);
    for (size_t i = 0; i < v.size(); i += 8) {
      const uint64_t r = rng();
      std::memcpy(v.data() + i, &r, std::min<size_t>(8, v.size() - i));
    }
    return v;
  };
  std::vector<uint8_t> qz(static_cast<size_t>(groups * out / 8) * 4, 0x88); // zero point 8
  std::vector<uint8_t> sc(static_cast<size_t>(groups * out) * 2);
  const uint16_t s = f32_to_f16(1.0f / (8.0f * std::sqrt(static_cast<float>(in))));
  for (size_t i = 0; i < sc.size(); i += 2) std::memcpy(sc.data() + i, &s, 2);
  qweight_ = TensorView{prefix + ".qweight", DType::I32, {in, out / 8}, own(random_words(size_t(in * out / 8) * 4))};
  qzeros_ = TensorView{prefix + ".qzeros", DType::I32, {groups, out / 8}, own(std::move(qz))};
  scales_ = TensorView{prefix + ".scales", DType::F16, {groups, out}, own(std::move(sc))};
}

void AwqLinear::check_shapes() const {
  if (out_features() % 8)
    throw Error("AWQ linear \"" + prefix() + "\": out_features (" + std::to_string(out_features()) +
                ") must be divisible by 8");
  if (in_features() % group_size_)
    throw Error("AWQ linear \"" + prefix() + "\": in_features (" + std::to_string(in_features()) +
                ") must be divisible by group_size " + std::to_string(group_size_));
}

void AwqLinear::dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const {
  const int64_t in = in_features(), words = out_features() / 8, rows = row_end - row_begin;
  const auto* qw = static_cast<const uint32_t*>(qweight_.data);
  const auto* qz = static_cast<const uint32_t*>(qzeros_.data);
  const auto* sc = static_cast<const uint16_t*>(scales_.data);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = row_begin + r;
    const int shift = 4 * awq_nibble(o);
    float* dst = out + r * in;
    for (int64_t i0 = 0; i0 < in; i0 += group_size_) {
      // One scale and zero point per group of this row.
      const int64_t g = i0 / group_size_;
      const float s = f16_to_f32(sc[g * out_features() + o]);
      const float z = static_cast<float>((qz[g * words + o / 8] >> shift) & 0xF);
      for (int64_t i = i0; i < i0 + group_size_; ++i)
        dst[i] = (static_cast<float>((qw[i * words + o / 8] >> shift) & 0xF) - z) * s;
    }
  }
}

} // namespace pagoda
