// The Llama forward pass (vLLM's models/llama.py, nano-vllm's models/qwen3.py in shape):
//   h = norm(embed(tokens))
//   per layer: residual += o_proj(attn(rope(qkv_proj(h)))); h = post_norm(residual)
//              residual += down(silu(gate(h)) * up(h));   h = next_norm(residual)
// where next_norm is the next layer's input norm, or the final norm after the last layer.
#include "models/llama.h"

namespace pagoda {

void LlamaForCausalLM::forward(ModelOps& ops) const {
  const int n = static_cast<int>(layers_.size());
  ops.embed(embed_tokens_);
  ops.rms_norm(layers_[0].input_norm, Act::kHidden);
  for (int li = 0; li < n; ++li) {
    const Layer& l = layers_[li];
    self_attention(ops, li);
    ops.add_rms_norm(Act::kOut, l.post_norm, Act::kHidden);
    mlp(ops, l);
    ops.add_rms_norm(Act::kOut, li + 1 < n ? layers_[li + 1].input_norm : norm_, Act::kHidden);
  }
}

void LlamaForCausalLM::project_qkv(ModelOps& ops, const Layer& l) const {
  ops.linear(l.qkv_proj, Act::kHidden, Act::kQkv);
  if (l.qkv_bias.present()) ops.bias_add(Act::kQkv, l.qkv_bias);
}

void LlamaForCausalLM::self_attention(ModelOps& ops, int li) const {
  const Layer& l = layers_[li];
  project_qkv(ops, l);
  ops.rope(Act::kQkv);
  ops.attention(li, Act::kQkv, Act::kAttn);
  // Past the last attention a prompt's tokens but its last feed nothing: o_proj, the MLP and the final
  // norm run on the rows that give logits.
  if (li + 1 == static_cast<int>(layers_.size())) ops.keep_logit_rows(Act::kAttn);
  ops.linear(l.o_proj, Act::kAttn, Act::kOut);
  if (l.o_bias.present()) ops.bias_add(Act::kOut, l.o_bias);
}

void LlamaForCausalLM::mlp(ModelOps& ops, const Layer& l) const {
  ops.linear(l.gate_up_proj, Act::kHidden, Act::kGateUp);
  ops.silu_mul(Act::kGateUp, Act::kMlp);
  ops.linear(l.down_proj, Act::kMlp, Act::kOut);
}

std::unique_ptr<CausalLM> make_llama(ModelConfig config, ModelWeights weights) {
  return std::make_unique<LlamaForCausalLM>(std::move(config), std::move(weights));
}

} // namespace pagoda
