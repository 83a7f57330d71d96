// A decoder-only language model as its architecture file states it: the parameters (norms,
// biases, embedding; linear layers fused as the forward uses them) and forward(), written over
// ModelOps. Backends own one, prepare its parameters for their kernels at load, and call
// forward() each step; lm_head stays with the backend (logits, sampling).
#pragma once

#include <memory>
#include <vector>

#include "model/model_config.h"
#include "model/weights.h"
#include "models/model_ops.h"

namespace pagoda {

class CausalLM {
public:
  struct Layer {
    Param input_norm, post_norm;
    Param qkv_bias, o_bias; // absent unless the architecture / config has them
    Param q_norm, k_norm;   // absent unless the architecture has per-head q/k norms
    LinearLayer qkv_proj, o_proj, gate_up_proj, down_proj;
  };

  virtual ~CausalLM() = default;
  CausalLM(const CausalLM&) = delete;
  CausalLM& operator=(const CausalLM&) = delete;

  // The step's tokens → the final-normed hidden state of every token in Act::kHidden.
  virtual void forward(ModelOps& ops) const = 0;

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const std::vector<Layer>& layers() const { return layers_; }
  const Param& embed_tokens() const { return embed_tokens_; }
  const Param& final_norm() const { return norm_; } // the norm before lm_head
  const Param& lm_head() const { return lm_head_; } // the embedding's tensor when tied
  bool lm_head_tied() const { return weights_.lm_head_tied; }

  // For a backend that copied every parameter to its own memory (ModelWeights::release_host_data):
  // afterwards only the model's structure, config and the backend's copies remain.
  void release_host_weights() { weights_.release_host_data(); }

  // For backends preparing their copies at load: every parameter and every linear layer.
  template <class Fn> void for_each_param(Fn&& fn) {
    fn(embed_tokens_);
    fn(norm_);
    if (!lm_head_tied() && lm_head_.present()) fn(lm_head_);
    for (Layer& l : layers_)
      for (Param* p : {&l.input_norm, &l.post_norm, &l.qkv_bias, &l.o_bias, &l.q_norm, &l.k_norm})
        if (p->present()) fn(*p);
  }
  template <class Fn> void for_each_linear(Fn&& fn) {
    for (Layer& l : layers_)
      for (LinearLayer* p : {&l.qkv_proj, &l.o_proj, &l.gate_up_proj, &l.down_proj}) fn(*p);
  }

protected:
  CausalLM(ModelConfig config, ModelWeights weights);

  ModelConfig config_;
  ModelWeights weights_;
  std::vector<Layer> layers_;
  Param embed_tokens_, norm_, lm_head_;
};

// The architecture config.architecture names (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM, Qwen3ForCausalLM). Throws pagoda::Error for any other.
std::unique_ptr<CausalLM> create_causal_lm(ModelConfig config, ModelWeights weights);

// One per architecture file.
std::unique_ptr<CausalLM> make_llama(ModelConfig config, ModelWeights weights);
std::unique_ptr<CausalLM> make_qwen2(ModelConfig config, ModelWeights weights);
std::unique_ptr<CausalLM> make_qwen3(ModelConfig config, ModelWeights weights);

} // namespace pagoda
