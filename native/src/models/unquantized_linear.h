// Float weights ([out, in] f32 / f16 / bf16) as the checkpoint stores them.
#pragma once

#include "models/linear_method.h"

namespace pagoda {

class UnquantizedLinear : public LinearMethod {
public:
  // From the checkpoint's `<prefix>.weight`.
  UnquantizedLinear(const SafetensorsCheckpoint& checkpoint, const std::string& prefix, int64_t out, int64_t in);
  // Random weights uniform in +-1/sqrt(in), in `dtype`.
  UnquantizedLinear(DType dtype, uint64_t seed, const std::string& prefix, int64_t out, int64_t in);

  QuantMethod method() const override { return QuantMethod::kNone; }
  void dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const override;
  size_t weight_bytes() const override { return weight_.nbytes(); }

  const TensorView& weight() const { return weight_; } // [out, in]

private:
  TensorView weight_;
};

} // namespace pagoda
