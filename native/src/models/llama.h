// LlamaForCausalLM (and Mistral, the same forward with a sliding window that attention
// honours): pre-norm decoder layers of GQA attention with RoPE and a SiLU-gated MLP. Qwen2 and
// Qwen3 derive from it and override the step that turns the input into rotated q and k.
#pragma once

#include "models/causal_lm.h"

namespace pagoda {

class LlamaForCausalLM : public CausalLM {
public:
  LlamaForCausalLM(ModelConfig config, ModelWeights weights) : CausalLM(std::move(config), std::move(weights)) {}
  void forward(ModelOps& ops) const override;

protected:
  // kHidden → q, k, v in kQkv, before RoPE (Llama: the projection, plus its bias with attention_bias).
  virtual void project_qkv(ModelOps& ops, const Layer& layer) const;
  // kHidden → kOut: the attention half of the layer.
  void self_attention(ModelOps& ops, int layer) const;
  // kHidden → kOut: gate_up, silu · up, down.
  void mlp(ModelOps& ops, const Layer& layer) const;
};

} // namespace pagoda
