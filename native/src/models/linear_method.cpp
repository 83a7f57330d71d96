// load_linear / dummy_linear: the method a QuantizationConfig names, for one linear layer.
#include "models/linear_method.h"

#include "error.h"
#include "model/tensor_reader.h"
#include "models/awq_linear.h"
#include "models/fp8_linear.h"
#include "models/gptq_linear.h"
#include "models/unquantized_linear.h"

namespace pagoda {

bool linear_ignored(const QuantizationConfig& quant, const std::string& prefix) {
  for (const std::string& name : quant.ignore) {
    // compressed-tensors writes module names ("model.layers.0.mlp.down_proj") or "re:" patterns
    // (not supported: such a module is quantized unless named exactly); AWQ short names ("down_proj").
    if (name == prefix) return true;
    if (name.find('.') == std::string::npos && prefix.size() > name.size() &&
        prefix.compare(prefix.size() - name.size() - 1, std::string::npos, "." + name) == 0)
      return true;
  }
  return false;
}

std::unique_ptr<LinearMethod> load_linear(const QuantizationConfig& quant, const SafetensorsCheckpoint& ckpt,
                                          const std::string& prefix, int64_t out, int64_t in) {
  if (!quant.quantized() || linear_ignored(quant, prefix))
    return std::make_unique<UnquantizedLinear>(ckpt, prefix, out, in);
  if (quant.quantize_at_load) {
    const TensorView w = read_tensor(ckpt, prefix + ".weight", {out, in});
    return std::make_unique<Fp8Linear>(w, quant, prefix, out, in);
  }
  switch (quant.method) {
  case QuantMethod::kGptq: return std::make_unique<GptqLinear>(ckpt, quant, prefix, out, in);
  case QuantMethod::kAwq: return std::make_unique<AwqLinear>(ckpt, quant, prefix, out, in);
  case QuantMethod::kFp8PerChannel:
  case QuantMethod::kFp8Block: return std::make_unique<Fp8Linear>(ckpt, quant, prefix, out, in);
  case QuantMethod::kNone: break;
  }
  return std::make_unique<UnquantizedLinear>(ckpt, prefix, out, in);
}

std::unique_ptr<LinearMethod> dummy_linear(const QuantizationConfig& quant, DType float_dtype, uint64_t seed,
                                           const std::string& prefix, int64_t out, int64_t in) {
  switch (quant.method) {
  case QuantMethod::kGptq: return std::make_unique<GptqLinear>(quant, seed, prefix, out, in);
  case QuantMethod::kAwq: return std::make_unique<AwqLinear>(quant, seed, prefix, out, in);
  case QuantMethod::kFp8PerChannel:
  case QuantMethod::kFp8Block: return std::make_unique<Fp8Linear>(quant, seed, prefix, out, in);
  case QuantMethod::kNone: break;
  }
  return std::make_unique<UnquantizedLinear>(float_dtype, seed, prefix, out, in);
}

} // namespace pagoda
