// FP8 e4m3 weights [out, in] with float32 scales: one per output row (compressed-tensors
// "channel", and `quantization: "fp8"` applied at load to a float checkpoint), or one per
// 128 x 128 block (`weight_scale_inv`, Qwen3-FP8 / DeepSeek). W[o, i] = f32(w[o, i]) * scale.
// Activations: dynamic per-token (per-channel) or per-token-and-group-of-128 (block) scales
// when the checkpoint says so.
#pragma once

#include "models/linear_method.h"

namespace pagoda {

class Fp8Linear : public LinearMethod {
public:
  // Stored e4m3 weights and their scales (f32 or bf16 in the file; kept as f32).
  Fp8Linear(const SafetensorsCheckpoint& checkpoint, const QuantizationConfig& quant, const std::string& prefix,
            int64_t out, int64_t in);
  // A float weight quantized here: per-channel scale max|W[o, :]| / 448 (block: per block).
  Fp8Linear(const TensorView& float_weight, const QuantizationConfig& quant, const std::string& prefix, int64_t out,
            int64_t in);
  // Random weights (load_format dummy): codes drawn directly, one scale 1 / (4 sqrt(in)) per
  // channel or block, so |W| < 1 / sqrt(in) (quantizing float weights on the host took minutes at 8B).
  Fp8Linear(const QuantizationConfig& quant, uint64_t seed, const std::string& prefix, int64_t out, int64_t in);

  QuantMethod method() const override { return block_ ? QuantMethod::kFp8Block : QuantMethod::kFp8PerChannel; }
  void dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const override;
  ActivationQuant activation_quant() const override;
  size_t weight_bytes() const override { return weight_.nbytes() + scales_.size() * sizeof(float); }

  static constexpr int kBlock = 128;
  bool block_scales() const { return block_; }
  const TensorView& weight() const { return weight_; } // e4m3 [out, in]
  // [out] per channel; [ceil(out/128), ceil(in/128)] row-major per block.
  const std::vector<float>& scales() const { return scales_; }
  int64_t scale_cols() const { return block_ ? (in_features() + kBlock - 1) / kBlock : 1; }
  float scale_of(int64_t o, int64_t i) const {
    return block_ ? scales_[static_cast<size_t>((o / kBlock) * scale_cols() + i / kBlock)] : scales_[o];
  }

private:
  void quantize(const float* w); // [out, in] float32 → weight_, scales_

  bool block_;
  bool dynamic_activations_;
  TensorView weight_;
  std::vector<float> scales_;
};

// Fake-quantizes activation rows in place the way `mode` says (the W8A8 reference): per token
// (or per token and group of 128 features) s = max(|x|, 1e-12) / 448, x = e4m3(clamp(x / s)) * s.
void fp8_quantize_activations(ActivationQuant mode, float* x, int64_t rows, int64_t cols);

} // namespace pagoda
