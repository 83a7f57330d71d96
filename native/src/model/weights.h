// The model's parameters as views {dtype, shape, pointer}: into the memory-mapped
// safetensors files (no copy), or into owned buffers for load_format "dummy"; each linear
// layer as its LinearMethod (the format config.json's quantization_config names). Every shape
// is checked against the ModelConfig at load. Model files (models/) and backends read these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "model/tensor_view.h"
#include "models/linear_method.h"

namespace pagoda {

class SafetensorsCheckpoint;

struct LayerWeights {
  TensorView input_layernorm;          // [hidden]
  std::unique_ptr<LinearMethod> q_proj; // [heads * head_dim, hidden]
  std::unique_ptr<LinearMethod> k_proj; // [kv_heads * head_dim, hidden]
  std::unique_ptr<LinearMethod> v_proj; // [kv_heads * head_dim, hidden]
  std::unique_ptr<LinearMethod> o_proj; // [hidden, heads * head_dim]
  TensorView q_bias, k_bias, v_bias;   // [q_size], [kv_size], [kv_size] when config.qkv_bias
  TensorView o_bias;                   // [hidden] when config.o_bias
  TensorView q_norm, k_norm;           // [head_dim] when config.qk_norm
  TensorView post_attention_layernorm; // [hidden]
  std::unique_ptr<LinearMethod> gate_proj; // [intermediate, hidden]
  std::unique_ptr<LinearMethod> up_proj;   // [intermediate, hidden]
  std::unique_ptr<LinearMethod> down_proj; // [hidden, intermediate]
};

class ModelWeights {
public:
  // Opens `<dir>/model.safetensors` or the shards of `<dir>/model.safetensors.index.json`
  // and validates every tensor against `config` (linear layers in config.quantization's format). Throws pagoda::Error naming the file, the
  // tensor and the expected and found shape.
  static ModelWeights load(const ModelConfig& config, const std::string& dir);
  // Random weights from the config alone (owned buffers): linear weights uniform in
  // +-1/sqrt(in_features) (in config.quantization's format), norms 1, biases small;
  // deterministic in `seed`.
  static ModelWeights dummy(const ModelConfig& config, DType dtype, uint64_t seed);

  ModelWeights(ModelWeights&&) noexcept;
  ModelWeights& operator=(ModelWeights&&) noexcept;
  ModelWeights(const ModelWeights&) = delete;
  ModelWeights& operator=(const ModelWeights&) = delete;
  ~ModelWeights();

  TensorView embed_tokens;          // [vocab, hidden]
  std::vector<LayerWeights> layers; // num_hidden_layers
  TensorView norm;                  // [hidden] final RMSNorm
  TensorView lm_head;               // [vocab, hidden]; equals embed_tokens when tied
  bool lm_head_tied = false;

  // Unmaps the checkpoint and frees owned buffers (dummy, quantized-at-load weights) once a
  // backend has its own copy; every view's data becomes nullptr, shapes and names stay.
  void release_host_data();

  // Bytes of all distinct parameters as stored (a tied lm_head counted once).
  size_t total_bytes() const;
  // Calls fn(view) for every present tensor that is not a linear layer's, the tied lm_head excluded.
  template <class Fn> void for_each_vector(Fn&& fn) const {
    fn(embed_tokens);
    for (const auto& l : layers) {
      for (const TensorView* t : {&l.input_layernorm, &l.q_bias, &l.k_bias, &l.v_bias, &l.o_bias, &l.q_norm,
                                  &l.k_norm, &l.post_attention_layernorm}) {
        if (t->present()) fn(*t);
      }
    }
    fn(norm);
    if (!lm_head_tied) fn(lm_head);
  }
  // Calls fn(method) for every linear layer of every decoder layer.
  template <class Fn> void for_each_linear(Fn&& fn) const {
    for (const auto& l : layers)
      for (const auto* m : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
        fn(**m);
  }

private:
  ModelWeights();
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;  // keeps the mmaps alive
  std::vector<std::vector<uint8_t>> owned_;             // dummy weights
};

} // namespace pagoda
