// AWQ int4, GEMM layout: qweight [in, out/8] and qzeros [in/group, out/8] pack 8 OUTPUT
// columns per int32 in AWQ's interleaved order (column 8j + [0,2,4,6,1,3,5,7][k] in nibble k),
// zero points stored as they are (asymmetric, 0..15), fp16 scales [in/group, out].
// W[o, i] = (q[i, o] - z[i / group, o]) * scales[i / group, o].
#pragma once

#include "models/linear_method.h"

namespace pagoda {

// The nibble of a packed AWQ word that holds output column o (vLLM's AWQ_REVERSE_ORDER).
inline int awq_nibble(int64_t o) {
  static constexpr int kReverse[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  return kReverse[o % 8];
}

class AwqLinear : public LinearMethod {
public:
  AwqLinear(const SafetensorsCheckpoint& checkpoint, const QuantizationConfig& quant, const std::string& prefix,
            int64_t out, int64_t in);
  // Random int4 codes and zero points, scales so |W| <= ~1/sqrt(in).
  AwqLinear(const QuantizationConfig& quant, uint64_t seed, const std::string& prefix, int64_t out, int64_t in);

  QuantMethod method() const override { return QuantMethod::kAwq; }
  void dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const override;
  size_t weight_bytes() const override { return qweight_.nbytes() + qzeros_.nbytes() + scales_.nbytes(); }

  int group_size() const { return group_size_; }
  const TensorView& qweight() const { return qweight_; } // int32 [in, out/8]
  const TensorView& qzeros() const { return qzeros_; }   // int32 [in/group, out/8]
  const TensorView& scales() const { return scales_; }   // f16 [in/group, out]

private:
  void check_shapes() const;

  int group_size_;
  TensorView qweight_, qzeros_, scales_;
};

} // namespace pagoda
