// CausalLM's parameters from ModelWeights (q/k/v and gate/up fused, biases concatenated) and
// the architecture registry.
#include "models/causal_lm.h"

#include "error.h"

namespace pagoda {

namespace {

Param param(std::initializer_list<const TensorView*> tensors) {
  Param p;
  for (const TensorView* t : tensors)
    if (t->present()) p.parts.push_back(t);
  if (!p.parts.empty() && p.parts.size() != tensors.size()) p.parts.clear(); // all or none
  return p;
}

} // namespace

LinearLayer fuse_linears(std::string name, std::vector<const LinearMethod*> parts) {
  LinearLayer l;
  l.name = std::move(name);
  l.in_features = parts.front()->in_features();
  for (const LinearMethod* p : parts) {
    if (p->in_features() != l.in_features)
      throw Error("fusing " + l.name + ": " + p->prefix() + " has " + std::to_string(p->in_features()) +
                  " input features, expected " + std::to_string(l.in_features));
    l.out_features += p->out_features();
  }
  l.parts = std::move(parts);
  return l;
}

CausalLM::CausalLM(ModelConfig config, ModelWeights weights) : config_(std::move(config)), weights_(std::move(weights)) {
  embed_tokens_ = param({&weights_.embed_tokens});
  norm_ = param({&weights_.norm});
  lm_head_ = param({&weights_.lm_head});
  for (const LayerWeights& w : weights_.layers) {
    Layer l;
    l.input_norm = param({&w.input_layernorm});
    l.post_norm = param({&w.post_attention_layernorm});
    l.qkv_bias = param({&w.q_bias, &w.k_bias, &w.v_bias});
    l.o_bias = param({&w.o_bias});
    l.q_norm = param({&w.q_norm});
    l.k_norm = param({&w.k_norm});
    l.qkv_proj = fuse_linears("qkv_proj", {w.q_proj.get(), w.k_proj.get(), w.v_proj.get()});
    l.o_proj = fuse_linears("o_proj", {w.o_proj.get()});
    l.gate_up_proj = fuse_linears("gate_up_proj", {w.gate_proj.get(), w.up_proj.get()});
    l.down_proj = fuse_linears("down_proj", {w.down_proj.get()});
    layers_.push_back(std::move(l));
  }
}

std::unique_ptr<CausalLM> create_causal_lm(ModelConfig config, ModelWeights weights) {
  const std::string arch = config.architecture;
  if (arch == "LlamaForCausalLM" || arch == "MistralForCausalLM") return make_llama(std::move(config), std::move(weights));
  if (arch == "Qwen2ForCausalLM") return make_qwen2(std::move(config), std::move(weights));
  if (arch == "Qwen3ForCausalLM" || arch == "Qwen3Model") return make_qwen3(std::move(config), std::move(weights));
  throw Error("architecture \"" + arch + "\" has no model file in this engine");
}

} // namespace pagoda
