// Qwen2ForCausalLM (Qwen2, Qwen2.5): Llama's forward with a bias on every q, k and v
// projection (and none on o_proj).
#include "error.h"
#include "models/llama.h"

namespace pagoda {

namespace {

class Qwen2ForCausalLM : public LlamaForCausalLM {
public:
  Qwen2ForCausalLM(ModelConfig config, ModelWeights weights) : LlamaForCausalLM(std::move(config), std::move(weights)) {
    for (const Layer& l : layers_)
      if (!l.qkv_bias.present()) throw Error(config_.source + ": Qwen2 layers need q/k/v biases");
  }

protected:
  void project_qkv(ModelOps& ops, const Layer& l) const override {
    ops.linear(l.qkv_proj, Act::kHidden, Act::kQkv);
    ops.bias_add(Act::kQkv, l.qkv_bias);
  }
};

} // namespace

std::unique_ptr<CausalLM> make_qwen2(ModelConfig config, ModelWeights weights) {
  return std::make_unique<Qwen2ForCausalLM>(std::move(config), std::move(weights));
}

} // namespace pagoda
