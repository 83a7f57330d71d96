// ModelWeights: Hugging Face tensor names → views, shape-checked against the ModelConfig, and
// each linear layer loaded by its method; or seeded random weights for load_format "dummy".
#include "model/weights.h"

#include <cmath>

#include "error.h"
#include "model/safetensors.h"
#include "model/tensor_reader.h"

namespace pagoda {

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return shape.empty() ? 0 : n;
}

ModelWeights::ModelWeights() = default;
ModelWeights::ModelWeights(ModelWeights&&) noexcept = default;
ModelWeights& ModelWeights::operator=(ModelWeights&&) noexcept = default;
ModelWeights::~ModelWeights() = default;

size_t ModelWeights::total_bytes() const {
  size_t total = 0;
  for_each_vector([&](const TensorView& t) { total += t.nbytes(); });
  for_each_linear([&](const LinearMethod& m) { total += m.weight_bytes(); });
  return total;
}

void ModelWeights::release_host_data() {
  for (LayerWeights& l : layers)
    for (auto* m : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      if (*m) (*m)->release_host_data();
  auto clear = [](TensorView& t) { t.data = nullptr; };
  clear(embed_tokens);
  clear(norm);
  clear(lm_head);
  for (LayerWeights& l : layers)
    for (TensorView* t : {&l.input_layernorm, &l.q_bias, &l.k_bias, &l.v_bias, &l.o_bias, &l.q_norm, &l.k_norm,
                          &l.post_attention_layernorm})
      clear(*t);
  owned_.clear();
  checkpoint_.reset();
}

namespace {

// One vector-like parameter (embedding, norm, bias): where it goes, its name and shape.
struct Slot {
  TensorView* view;
  std::string name;
  std::vector<int64_t> shape;
};

// One linear layer: where its method goes, its checkpoint prefix and [out, in].
struct LinearSlot {
  std::unique_ptr<LinearMethod>* method;
  std::string prefix;
  int64_t out, in;
};

// Every parameter the config implies, in checkpoint naming, lm_head excluded (tying decides).
void parameter_slots(const ModelConfig& c, ModelWeights& w, std::vector<Slot>& slots, std::vector<LinearSlot>& linears) {
  const int64_t hidden = c.hidden_size, inter = c.intermediate_size, q = c.q_size(), kv = c.kv_size();
  const std::string root = c.base_model ? "" : "model.";
  slots.push_back({&w.embed_tokens, root + "embed_tokens.weight", {c.vocab_size, hidden}});
  w.layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = root + "layers." + std::to_string(i) + ".";
    slots.push_back({&l.input_layernorm, p + "input_layernorm.weight", {hidden}});
    linears.push_back({&l.q_proj, p + "self_attn.q_proj", q, hidden});
    linears.push_back({&l.k_proj, p + "self_attn.k_proj", kv, hidden});
    linears.push_back({&l.v_proj, p + "self_attn.v_proj", kv, hidden});
    linears.push_back({&l.o_proj, p + "self_attn.o_proj", hidden, q});
    if (c.qkv_bias) {
      slots.push_back({&l.q_bias, p + "self_attn.q_proj.bias", {q}});
      slots.push_back({&l.k_bias, p + "self_attn.k_proj.bias", {kv}});
      slots.push_back({&l.v_bias, p + "self_attn.v_proj.bias", {kv}});
    }
    if (c.o_bias) slots.push_back({&l.o_bias, p + "self_attn.o_proj.bias", {hidden}});
    if (c.qk_norm) {
      slots.push_back({&l.q_norm, p + "self_attn.q_norm.weight", {c.head_dim}});
      slots.push_back({&l.k_norm, p + "self_attn.k_norm.weight", {c.head_dim}});
    }
    slots.push_back({&l.post_attention_layernorm, p + "post_attention_layernorm.weight", {hidden}});
    linears.push_back({&l.gate_proj, p + "mlp.gate_proj", inter, hidden});
    linears.push_back({&l.up_proj, p + "mlp.up_proj", inter, hidden});
    linears.push_back({&l.down_proj, p + "mlp.down_proj", hidden, inter});
  }
  slots.push_back({&w.norm, root + "norm.weight", {hidden}});
}

bool is_norm(const std::string& name) { return name.find("norm.weight") != std::string::npos; }

} // namespace

ModelWeights ModelWeights::load(const ModelConfig& config, const std::string& dir) {
  ModelWeights w;
  w.checkpoint_ = std::make_unique<SafetensorsCheckpoint>(dir);
  std::vector<Slot> slots;
  std::vector<LinearSlot> linears;
  parameter_slots(config, w, slots, linears);
  for (const Slot& slot : slots) *slot.view = read_tensor(*w.checkpoint_, slot.name, slot.shape);
  for (const LinearSlot& l : linears)
    *l.method = load_linear(config.quantization, *w.checkpoint_, l.prefix, l.out, l.in);
  if (config.base_model) {
    // no lm_head: the model's output is its last hidden state
  } else if (config.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;
    w.lm_head_tied = true;
  } else {
    w.lm_head = read_tensor(*w.checkpoint_, "lm_head.weight", {config.vocab_size, config.hidden_size});
  }
  return w;
}

ModelWeights ModelWeights::dummy(const ModelConfig& config, DType dtype, uint64_t seed) {
  ModelWeights w;
  std::vector<Slot> slots;
  std::vector<LinearSlot> linears;
  parameter_slots(config, w, slots, linears);
  if (!config.tie_word_embeddings && !config.base_model) slots.push_back({&w.lm_head, "lm_head.weight", {config.vocab_size, config.hidden_size}});
  // Linear layers draw from streams after the vector parameters', one per layer in order.
  uint64_t stream = 0;
  for (const Slot& slot : slots) {
    int64_t n = 1;
    for (int64_t d : slot.shape) n *= d;
    w.owned_.emplace_back(static_cast<size_t>(n) * dtype_size(dtype));
    void* dst = w.owned_.back().data();
    // Scale so activations stay O(1): a linear layer keeps the variance of its input; norm
    // weights sit near 1, biases near 0.
    const bool norm = is_norm(slot.name);
    const float scale = slot.shape.size() == 2 ? 1.0f / std::sqrt(static_cast<float>(slot.shape[1])) : 0.02f;
    fill_uniform(dtype, dst, n, seed, ++stream, norm ? 1.0f : 0.0f, norm ? 0.1f : scale);
    TensorView& v = *slot.view;
    v.name = slot.name;
    v.dtype = dtype;
    v.shape = slot.shape;
    v.data = dst;
  }
  for (const LinearSlot& l : linears)
    *l.method = dummy_linear(config.quantization, dtype, seed * 0x9e3779b97f4a7c15ull + ++stream, l.prefix, l.out, l.in);
  if (config.tie_word_embeddings && !config.base_model) {
    w.lm_head = w.embed_tokens;
    w.lm_head_tied = true;
  }
  return w;
}

} // namespace pagoda
