// The weight format of a checkpoint's linear layers, from config.json's quantization_config
// (GPTQ, AWQ, compressed-tensors FP8, block FP8) or the engine's `quantization` option.
#pragma once

#include <string>
#include <vector>

namespace pagoda {

namespace json {
class Value;
}

enum class QuantMethod {
  kNone,          // float weights (f32 / f16 / bf16)
  kGptq,          // int4, packed along the input dim, group scales, zero points minus one, g_idx
  kAwq,           // int4 GEMM layout, packed along the output dim (interleaved), asymmetric zeros
  kFp8PerChannel, // e4m3 weights, a float32 scale per output row (compressed-tensors "channel")
  kFp8Block,      // e4m3 weights, a float32 scale_inv per 128 x 128 block
};

// "none", "gptq", "awq", "fp8-per-channel", "fp8-block".
const char* quant_method_name(QuantMethod method);

struct QuantizationConfig {
  QuantMethod method = QuantMethod::kNone;
  int bits = 16;
  int group_size = 0;      // GPTQ / AWQ: input rows per scale group
  bool desc_act = false;   // GPTQ: act-order (g_idx is a permuted group assignment)
  int block_out = 128;     // FP8 block: weight_block_size [out, in]
  int block_in = 128;
  // FP8: activations quantized per token (per-channel) or per token and group of block_in
  // (block) with dynamic scales; false: weight-only (the activations stay in float).
  bool dynamic_activations = false;
  // At load from a float checkpoint (`quantization: "fp8"`): per-channel e4m3, scale max|row| / 448.
  bool quantize_at_load = false;
  std::vector<std::string> ignore; // module names left unquantized (lm_head is never quantized here)

  bool quantized() const { return method != QuantMethod::kNone; }
};

// Reads a quantization_config object; `source` names the file in errors. Throws pagoda::Error
// naming the field for an unknown method, an unsupported bit width, group size or strategy,
// or fields that contradict each other.
QuantizationConfig parse_quantization_config(const json::Value& qc, const std::string& source);

// Combines the checkpoint's format with the engine's `quantization` option the way vLLM does:
// empty: the checkpoint's; "fp8" on a float checkpoint: per-channel FP8 quantized at load;
// a named method must agree with the checkpoint. With dummy weights (load_format "dummy") on
// a float config, "gptq" / "awq" / "compressed-tensors" give that format with its common
// settings (4-bit, group 128; FP8 per channel with dynamic activations). Throws pagoda::Error
// saying what to change.
QuantizationConfig resolve_quantization(const QuantizationConfig& checkpoint, const std::string& option,
                                        const std::string& source, bool dummy = false);

} // namespace pagoda
