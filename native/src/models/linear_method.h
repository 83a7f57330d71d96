// A linear layer's weight format (vLLM's LinearMethodBase): the method reads and checks its
// tensors at load (create + load weights), keeps them in the checkpoint's own layout, and
// states what they mean as float32 rows (dequantize_rows: the reference every backend's
// kernel is checked against, and what the CPU backend computes with, a tile at a time).
// Backends repack a method's tensors for their kernels (process_weights_after_loading) and
// apply them (see LinearKernel in models/linear_layer.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/quantization_config.h"
#include "model/tensor_view.h"

namespace pagoda {

class SafetensorsCheckpoint;

// How a method's checkpoint wants the linear's input treated before the GEMM.
enum class ActivationQuant {
  kNone,             // activations stay float
  kFp8PerToken,      // e4m3 with a dynamic scale per token (max|x_t| / 448)
  kFp8PerTokenGroup, // the same per token and group of 128 input features (DeepSeek's act_quant)
};

class LinearMethod {
public:
  LinearMethod(std::string prefix, int64_t out_features, int64_t in_features)
      : prefix_(std::move(prefix)), out_features_(out_features), in_features_(in_features) {}
  virtual ~LinearMethod() = default;
  LinearMethod(const LinearMethod&) = delete;
  LinearMethod& operator=(const LinearMethod&) = delete;

  virtual QuantMethod method() const = 0;
  // W[row_begin..row_end) as float32, row-major [rows, in_features].
  virtual void dequantize_rows(int64_t row_begin, int64_t row_end, float* out) const = 0;
  virtual ActivationQuant activation_quant() const { return ActivationQuant::kNone; }
  // Bytes of the stored weight tensors (what a forward streams).
  virtual size_t weight_bytes() const = 0;

  // Frees tensors the method made itself, once a backend holds its own copy (the CUDA backend
  // after upload); its tensors and dequantize_rows must not be used afterwards.
  void release_host_data() {
    owned_.clear();
    owned_.shrink_to_fit();
  }

  // "model.layers.0.self_attn.q_proj": the checkpoint prefix of this linear's tensors.
  const std::string& prefix() const { return prefix_; }
  int64_t out_features() const { return out_features_; }
  int64_t in_features() const { return in_features_; }

protected:
  // Storage for tensors the method makes itself (quantized at load, dummy weights).
  const void* own(std::vector<uint8_t> bytes) {
    owned_.push_back(std::move(bytes));
    return owned_.back().data();
  }

private:
  std::string prefix_;
  int64_t out_features_;
  int64_t in_features_;
  std::vector<std::vector<uint8_t>> owned_;
};

// The method `quant` names for the linear at `prefix` ([out, in]), its tensors read from the
// checkpoint and checked. Throws pagoda::Error naming the tensor for a missing tensor, a wrong
// dtype or shape, or values the format cannot hold.
std::unique_ptr<LinearMethod> load_linear(const QuantizationConfig& quant, const SafetensorsCheckpoint& checkpoint,
                                          const std::string& prefix, int64_t out_features, int64_t in_features);

// Random weights in the method's own format (load_format "dummy"), values like those
// ModelWeights::dummy gives a float linear: uniform in +-1/sqrt(in); deterministic in `seed`.
std::unique_ptr<LinearMethod> dummy_linear(const QuantizationConfig& quant, DType float_dtype, uint64_t seed,
                                           const std::string& prefix, int64_t out_features, int64_t in_features);

// Whether `prefix` is one of quant.ignore's modules (left unquantized).
bool linear_ignored(const QuantizationConfig& quant, const std::string& prefix);

} // namespace pagoda
