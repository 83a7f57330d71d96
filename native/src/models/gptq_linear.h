// GPTQ int4 (AutoGPTQ "gptq" checkpoint format, symmetric): 8 values packed along the INPUT dim
// per int32 of qweight [in/8, out], zero points minus one packed along the output dim in
// qzeros [groups, out/8], fp16 scales [groups, out], and g_idx [in]: the group of input row i
// (a permutation of groups with desc_act; i / group_size without). W[o, i] =
// (q[i, o] - z[g_idx[i], o]) * scales[g_idx[i], o].
#pragma once

#include "models/linear_method.h"

namespace pagoda {

class GptqLinear : public LinearMethod {
public:
  GptqLinear(const SafetensorsCheckpoint& checkpoint, const QuantizationConfig& quant, const std::string& prefix,
             int64_t out, int64_t in);
  // Random int4 codes, zero point 8, scales so |W| <= ~1/sqrt(in); g_idx = i / group_size.
  GptqLinear(const QuantizationConfig& quant, uint64_t seed, const std::string& prefix, int64_t out, int64_t in);

  QuantMethod method() const override { return QuantMethod::kGptq; }
  void dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const override;
  size_t weight_bytes() const override;

  int group_size() const { return group_size_; }
  int64_t num_groups() const { return num_groups_; }
  bool act_order() const { return act_order_; } // g_idx is not i / group_size
  const TensorView& qweight() const { return qweight_; } // int32 [in/8, out]
  const TensorView& qzeros() const { return qzeros_; }   // int32 [groups, out/8], stored zero - 1
  const TensorView& scales() const { return scales_; }   // f16 [groups, out]
  const std::vector<int32_t>& g_idx() const { return g_idx_; } // [in]

private:
  void check_shapes() const;

  int group_size_;
  int64_t num_groups_;
  bool act_order_ = false;
  TensorView qweight_, qzeros_, scales_;
  std::vector<int32_t> g_idx_;
};

} // namespace pagoda
