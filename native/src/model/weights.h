// The model's parameters as views {dtype, shape, pointer}: into the memory-mapped
// safetensors files (no copy), or into owned buffers for load_format "dummy". Every shape
// is checked against the ModelConfig at load. Backends read these; the CUDA backend uploads them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/dtype.h"
#include "model/model_config.h"

namespace pagoda {

class SafetensorsCheckpoint;

// A view of one tensor. `data` is nullptr when the tensor is absent (e.g. no bias).
// Linear weights keep the Hugging Face layout [out_features, in_features], row-major.
struct TensorView {
  std::string name; // checkpoint name, e.g. "model.layers.0.self_attn.q_proj.weight"
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;

  bool present() const { return data != nullptr; }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }             // [out, in]: out
  int64_t cols() const { return shape.size() < 2 ? 0 : shape[1]; }          // [out, in]: in
};

struct LayerWeights {
  TensorView input_layernorm;          // [hidden]
  TensorView q_proj;                   // [heads * head_dim, hidden]
  TensorView k_proj;                   // [kv_heads * head_dim, hidden]
  TensorView v_proj;                   // [kv_heads * head_dim, hidden]
  TensorView o_proj;                   // [hidden, heads * head_dim]
  TensorView q_bias, k_bias, v_bias;   // [q_size], [kv_size], [kv_size] when config.qkv_bias
  TensorView o_bias;                   // [hidden] when config.o_bias
  TensorView q_norm, k_norm;           // [head_dim] when config.qk_norm
  TensorView post_attention_layernorm; // [hidden]
  TensorView gate_proj;                // [intermediate, hidden]
  TensorView up_proj;                  // [intermediate, hidden]
  TensorView down_proj;                // [hidden, intermediate]
};

class ModelWeights {
public:
  // Opens `<dir>/model.safetensors` or the shards of `<dir>/model.safetensors.index.json`
  // and validates every tensor against `config`. Throws pagoda::Error naming the file, the
  // tensor and the expected and found shape.
  static ModelWeights load(const ModelConfig& config, const std::string& dir);
  // Random weights from the config alone (owned buffers): linear weights uniform in
  // +-1/sqrt(in_features), norms 1, biases small; deterministic in `seed`.
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

  // Bytes of all distinct parameters (a tied lm_head counted once).
  size_t total_bytes() const;
  // Calls fn(view) for every present tensor, the tied lm_head excluded.
  template <class Fn> void for_each(Fn&& fn) const {
    fn(embed_tokens);
    for (const auto& l : layers) {
      for (const TensorView* t : {&l.input_layernorm, &l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj,
                                  &l.q_bias, &l.k_bias, &l.v_bias, &l.o_bias, &l.q_norm, &l.k_norm,
                                  &l.post_attention_layernorm, &l.gate_proj, &l.up_proj, &l.down_proj}) {
        if (t->present()) fn(*t);
      }
    }
    fn(norm);
    if (!lm_head_tied) fn(lm_head);
  }

private:
  ModelWeights();
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;  // keeps the mmaps alive
  std::vector<std::vector<uint8_t>> owned_;             // dummy weights
};

} // namespace pagoda
