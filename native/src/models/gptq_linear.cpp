// GptqLinear: reads and checks qweight / qzeros / scales / g_idx (every g_idx value a valid
// group, every group of an act-order checkpoint the same size); dequantizes as the format says.
#include "models/gptq_linear.h"

#include <cmath>
#include <cstring>
#include <random>

#include "error.h"
#include "model/tensor_reader.h"

namespace pagoda {

namespace {

int64_t groups_of(int64_t in, int group) { return (in + group - 1) / group; }

void check_divisible(const std::string& prefix, const char* what, int64_t n, int64_t by) {
  if (n % by)
    throw Error("GPTQ linear \"" + prefix + "\": " + what + " (" + std::to_string(n) + ") must be divisible by " +
                std::to_string(by));
}

} // namespace

GptqLinear::GptqLinear(const SafetensorsCheckpoint& ckpt, const QuantizationConfig& quant, const std::string& prefix,
                       int64_t out, int64_t in)
    : LinearMethod(prefix, out, in), group_size_(quant.group_size), num_groups_(groups_of(in, quant.group_size)) {
  check_shapes();
  qweight_ = read_tensor(ckpt, prefix + ".qweight", {in / 8, out}, {DType::I32});
  qzeros_ = read_tensor(ckpt, prefix + ".qzeros", {num_groups_, out / 8}, {DType::I32});
  scales_ = read_tensor(ckpt, prefix + ".scales", {num_groups_, out}, {DType::F16});
  g_idx_.resize(static_cast<size_t>(in));
  if (has_tensor(ckpt, prefix + ".g_idx")) {
    const TensorView g = read_tensor(ckpt, prefix + ".g_idx", {in}, {DType::I32});
    std::memcpy(g_idx_.data(), g.data, g_idx_.size() * sizeof(int32_t));
  } else if (quant.desc_act) {
    throw Error("GPTQ linear \"" + prefix + "\": missing tensor \"" + prefix + ".g_idx\" (required with desc_act true)");
  } else {
    for (int64_t i = 0; i < in; ++i) g_idx_[i] = static_cast<int32_t>(i / group_size_);
  }
  std::vector<int64_t> rows_in_group(static_cast<size_t>(num_groups_), 0);
  for (int64_t i = 0; i < in; ++i) {
    const int32_t g = g_idx_[i];
    if (g < 0 || g >= num_groups_)
      throw Error("tensor \"" + prefix + ".g_idx\": entry " + std::to_string(i) + " is " + std::to_string(g) +
                  ", outside the " + std::to_string(num_groups_) + " groups");
    ++rows_in_group[g];
    act_order_ = act_order_ || g != i / group_size_;
  }
  for (int64_t g = 0; g < num_groups_; ++g)
    if (rows_in_group[g] > group_size_)
      throw Error("tensor \"" + prefix + ".g_idx\": group " + std::to_string(g) + " has " +
                  std::to_string(rows_in_group[g]) + " rows, more than group_size " + std::to_string(group_size_));
}

GptqLinear::GptqLinear(const QuantizationConfig& quant, uint64_t seed, const std::string& prefix, int64_t out,
                       int64_t in)
    : LinearMethod(prefix, out, in), group_size_(quant.group_size), num_groups_(groups_of(in, quant.group_size)) {
  check_shapes();
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> qw(static_cast<size_t>(in / 8 * out) * 4);
  for (size_t i = 0; i < qw.size(); i += 8) {
    const uint64_t r = rng();
    std::memcpy(qw.data() + i, &r, std::min<size_t>(8, qw.size() - i));
  }
  std::vector<uint8_t> qz(static_cast<size_t>(num_groups_ * out / 8) * 4, 0x77); // zero point 8
  std::vector<uint8_t> sc(static_cast<size_t>(num_groups_ * out) * 2);
  const uint16_t s = f32_to_f16(1.0f / (8.0f * std::sqrt(static_cast<float>(in))));
  for (size_t i = 0; i < sc.size(); i += 2) std::memcpy(sc.data() + i, &s, 2);
  qweight_ = TensorView{prefix + ".qweight", DType::I32, {in / 8, out}, own(std::move(qw))};
  qzeros_ = TensorView{prefix + ".qzeros", DType::I32, {num_groups_, out / 8}, own(std::move(qz))};
  scales_ = TensorView{prefix + ".scales", DType::F16, {num_groups_, out}, own(std::move(sc))};
  g_idx_.resize(static_cast<size_t>(in));
  for (int64_t i = 0; i < in; ++i) g_idx_[i] = static_cast<int32_t>(i / group_size_);
}

void GptqLinear::check_shapes() const {
  check_divisible(prefix(), "in_features", in_features(), 8);
  check_divisible(prefix(), "out_features", out_features(), 8);
}

size_t GptqLinear::weight_bytes() const {
  return qweight_.nbytes() + qzeros_.nbytes() + scales_.nbytes() + g_idx_.size() * sizeof(int32_t);
}

void GptqLinear::dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const {
  const int64_t in = in_features(), n_out = out_features(), rows = row_end - row_begin;
  const auto* qw = static_cast<const uint32_t*>(qweight_.data);
  const auto* qz = static_cast<const uint32_t*>(qzeros_.data);
  const auto* sc = static_cast<const uint16_t*>(scales_.data);
  // Each (group, row) pair's scale and zero point once, not once per weight.
  std::vector<float> scale(static_cast<size_t>(num_groups_ * rows)), zero(scale.size());
  for (int64_t g = 0; g < num_groups_; ++g)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t o = row_begin + r;
      scale[g * rows + r] = f16_to_f32(sc[g * n_out + o]);
      zero[g * rows + r] = static_cast<float>(((qz[g * (n_out / 8) + o / 8] >> (4 * (o % 8))) & 0xF) + 1);
    }
  for (int64_t i = 0; i < in; ++i) {
    const int64_t g = g_idx_[i];
    const uint32_t* qrow = qw + (i / 8) * n_out + row_begin;
    const int shift = 4 * static_cast<int>(i % 8);
    const float* s = scale.data() + g * rows;
    const float* z = zero.data() + g * rows;
    for (int64_t r = 0; r < rows; ++r)
      out[r * in + i] = (static_cast<float>((qrow[r] >> shift) & 0xF) - z[r]) * s[r];
  }
}

} // namespace pagoda
