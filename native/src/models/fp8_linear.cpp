// Fp8Linear: stored, at-load and dummy e4m3 weights with float32 scales, and the activation
// quantization the W8A8 checkpoints ask for.
#include "models/fp8_linear.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "error.h"
#include "model/fp8.h"
#include "model/safetensors.h"
#include "model/tensor_reader.h"

namespace pagoda {

namespace {

std::vector<float> widen(const TensorView& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t.dtype) {
    case DType::F32: v[i] = static_cast<const float*>(t.data)[i]; break;
    case DType::F16: v[i] = f16_to_f32(static_cast<const uint16_t*>(t.data)[i]); break;
    case DType::BF16: v[i] = bf16_to_f32(static_cast<const uint16_t*>(t.data)[i]); break;
    default: throw Error("tensor \"" + t.name + "\": expected a float tensor, found " + dtype_name(t.dtype));
    }
  }
  return v;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

} // namespace

Fp8Linear::Fp8Linear(const SafetensorsCheckpoint& ckpt, const QuantizationConfig& quant, const std::string& prefix,
                     int64_t out, int64_t in)
    : LinearMethod(prefix, out, in), block_(quant.method == QuantMethod::kFp8Block),
      dynamic_activations_(quant.dynamic_activations) {
  weight_ = read_tensor(ckpt, prefix + ".weight", {out, in}, {DType::F8E4M3});
  TensorView scale;
  if (block_) {
    const std::vector<int64_t> shape = {ceil_div(out, kBlock), ceil_div(in, kBlock)};
    const std::string inv = prefix + ".weight_scale_inv";
    scale = read_tensor(ckpt, has_tensor(ckpt, inv) ? inv : prefix + ".weight_scale", shape, {DType::F32, DType::BF16});
  } else {
    // [out, 1] as compressed-tensors writes it; [out] in some exports.
    const std::string name = prefix + ".weight_scale";
    const SafetensorsTensor* t = ckpt.find(name);
    const std::vector<int64_t> shape = t && t->shape.size() == 1 ? std::vector<int64_t>{out} : std::vector<int64_t>{out, 1};
    scale = read_tensor(ckpt, name, shape, {DType::F32, DType::BF16, DType::F16});
  }
  scales_ = widen(scale);
  for (size_t i = 0; i < scales_.size(); ++i)
    if (!(scales_[i] > 0.0f) || !std::isfinite(scales_[i]))
      throw Error("tensor \"" + scale.name + "\": entry " + std::to_string(i) + " is " + std::to_string(scales_[i]) +
                  "; FP8 scales must be positive and finite");
  if (has_tensor(ckpt, prefix + ".input_scale"))
    throw Error("tensor \"" + prefix + ".input_scale\": static activation scales are not supported (dynamic only)");
}

Fp8Linear::Fp8Linear(const TensorView& float_weight, const QuantizationConfig& quant, const std::string& prefix,
                     int64_t out, int64_t in)
    : LinearMethod(prefix, out, in), block_(quant.method == QuantMethod::kFp8Block),
      dynamic_activations_(quant.dynamic_activations) {
  quantize(widen(float_weight).data());
}

Fp8Linear::Fp8Linear(const QuantizationConfig& quant, uint64_t seed, const std::string& prefix, int64_t out,
                     int64_t in)
    : LinearMethod(prefix, out, in), block_(quant.method == QuantMethod::kFp8Block),
      dynamic_activations_(quant.dynamic_activations) {
  // Random codes drawn directly (no float weight to quantize: for an 8B model that took minutes
  // on the host): a random sign and magnitude 0.5..3.75 (e4m3 exponents -1..2, never a NaN
  // code), and one scale 1 / (4 sqrt(in)) for every channel or block, so |w| < 1 / sqrt(in).
  std::vector<uint8_t> codes(static_cast<size_t>(out * in));
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < codes.size(); i += 8) {
    const uint64_t r = rng();
    for (size_t b = 0; b < 8 && i + b < codes.size(); ++b) {
      const auto byte = static_cast<uint8_t>(r >> (8 * b));
      codes[i + b] = static_cast<uint8_t>((byte & 0x80) | (0x30 + (byte & 0x1F)));
    }
  }
  const int64_t srows = block_ ? ceil_div(out, kBlock) : out, scols = block_ ? ceil_div(in, kBlock) : 1;
  scales_.assign(static_cast<size_t>(srows * scols), 1.0f / (4.0f * std::sqrt(static_cast<float>(in))));
  weight_ = TensorView{prefix + ".weight", DType::F8E4M3, {out, in}, own(std::move(codes))};
}

void Fp8Linear::quantize(const float* w) {
  const int64_t out = out_features(), in = in_features();
  const int64_t srows = block_ ? ceil_div(out, kBlock) : out, scols = block_ ? ceil_div(in, kBlock) : 1;
  scales_.assign(static_cast<size_t>(srows * scols), 0.0f);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      float& s = scales_[static_cast<size_t>((block_ ? o / kBlock : o) * scols + (block_ ? i / kBlock : 0))];
      s = std::max(s, std::fabs(w[o * in + i]));
    }
  for (float& s : scales_) s = s > 0.0f ? s / kFp8E4m3Max : 1.0f;
  std::vector<uint8_t> codes(static_cast<size_t>(out * in));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) codes[o * in + i] = f32_to_fp8_e4m3(w[o * in + i] / scale_of(o, i));
  weight_ = TensorView{prefix() + ".weight", DType::F8E4M3, {out, in}, own(std::move(codes))};
}

ActivationQuant Fp8Linear::activation_quant() const {
  if (!dynamic_activations_) return ActivationQuant::kNone;
  return block_ ? ActivationQuant::kFp8PerTokenGroup : ActivationQuant::kFp8PerToken;
}

void Fp8Linear::dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const {
  const int64_t in = in_features();
  const auto* codes = static_cast<const uint8_t*>(weight_.data);
  for (int64_t o = row_begin; o < row_end; ++o)
    for (int64_t i = 0; i < in; ++i) *out++ = fp8_e4m3_to_f32(codes[o * in + i]) * scale_of(o, i);
}

void fp8_quantize_activations(ActivationQuant mode, float* x, int64_t rows, int64_t cols) {
  if (mode == ActivationQuant::kNone) return;
  const int64_t group = mode == ActivationQuant::kFp8PerTokenGroup ? Fp8Linear::kBlock : cols;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c0 = 0; c0 < cols; c0 += group) {
      float* g = x + r * cols + c0;
      const int64_t len = std::min(group, cols - c0);
      float amax = 0.0f;
      for (int64_t i = 0; i < len; ++i) amax = std::max(amax, std::fabs(g[i]));
      const float s = std::max(amax, 1e-12f) / kFp8E4m3Max;
      for (int64_t i = 0; i < len; ++i)
        g[i] = fp8_e4m3_to_f32(f32_to_fp8_e4m3(std::clamp(g[i] / s, -kFp8E4m3Max, kFp8E4m3Max))) * s;
    }
  }
}

} // namespace pagoda
