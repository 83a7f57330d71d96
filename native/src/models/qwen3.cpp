// Qwen3ForCausalLM: Llama's forward with a per-head RMSNorm on q and on k (over head_dim,
// before RoPE); no q/k/v bias unless attention_bias.
#include "error.h"
#include "models/llama.h"

namespace pagoda {

namespace {

class Qwen3ForCausalLM : public LlamaForCausalLM {
public:
  Qwen3ForCausalLM(ModelConfig config, ModelWeights weights) : LlamaForCausalLM(std::move(config), std::move(weights)) {
    for (const Layer& l : layers_)
      if (!l.q_norm.present() || !l.k_norm.present()) throw Error(config_.source + ": Qwen3 layers need q_norm and k_norm");
  }

protected:
  void project_qkv(ModelOps& ops, const Layer& l) const override {
    ops.linear(l.qkv_proj, Act::kHidden, Act::kQkv);
    if (l.qkv_bias.present()) ops.bias_add(Act::kQkv, l.qkv_bias);
    ops.qk_norm(Act::kQkv, l.q_norm, l.k_norm);
  }
};

} // namespace

std::unique_ptr<CausalLM> make_qwen3(ModelConfig config, ModelWeights weights) {
  return std::make_unique<Qwen3ForCausalLM>(std::move(config), std::move(weights));
}

} // namespace pagoda
