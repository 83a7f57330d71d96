// UnquantizedLinear: the float weight, read or drawn; dequantizing is a widening copy.
#include "models/unquantized_linear.h"

#include <cmath>

#include "model/tensor_reader.h"

namespace pagoda {

UnquantizedLinear::UnquantizedLinear(const SafetensorsCheckpoint& checkpoint, const std::string& prefix, int64_t out,
                                     int64_t in)
    : LinearMethod(prefix, out, in), weight_(read_tensor(checkpoint, prefix + ".weight", {out, in})) {}

UnquantizedLinear::UnquantizedLinear(DType dtype, uint64_t seed, const std::string& prefix, int64_t out, int64_t in)
    : LinearMethod(prefix, out, in) {
  std::vector<uint8_t> bytes(static_cast<size_t>(out * in) * dtype_size(dtype));
  fill_uniform(dtype, bytes.data(), out * in, seed, 0, 0.0f, 1.0f / std::sqrt(static_cast<float>(in)));
  weight_.name = prefix + ".weight";
  weight_.dtype = dtype;
  weight_.shape = {out, in};
  weight_.data = own(std::move(bytes));
}

void UnquantizedLinear::dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const {
  const int64_t in = in_features();
  for (int64_t i = row_begin * in; i < row_end * in; ++i) {
    const void* d = weight_.data;
    float v = 0.0f;
    switch (weight_.dtype) {
    case DType::F32: v = static_cast<const float*>(d)[i]; break;
    case DType::F16: v = f16_to_f32(static_cast<const uint16_t*>(d)[i]); break;
    case DType::BF16: v = bf16_to_f32(static_cast<const uint16_t*>(d)[i]); break;
    default: break;
    }
    *out++ = v;
  }
}

} // namespace pagoda
