// ModelWeights: Hugging Face tensor names → views, shape-checked against the ModelConfig;
// or seeded random weights for load_format "dummy".
#include "model/weights.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <sstream>

#include "error.h"
#include "model/safetensors.h"

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
  for_each([&](const TensorView& t) { total += t.nbytes(); });
  return total;
}

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

// One entry of the model's parameter list: where it goes, its name and expected shape.
struct Slot {
  TensorView* view;
  std::string name;
  std::vector<int64_t> shape;
};

// Every parameter the config implies, in checkpoint naming, lm_head excluded (tying decides).
std::vector<Slot> parameter_slots(const ModelConfig& c, ModelWeights& w) {
  const int64_t hidden = c.hidden_size, inter = c.intermediate_size, q = c.q_size(), kv = c.kv_size();
  std::vector<Slot> slots;
  slots.push_back({&w.embed_tokens, "model.embed_tokens.weight", {c.vocab_size, hidden}});
  w.layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    slots.push_back({&l.input_layernorm, p + "input_layernorm.weight", {hidden}});
    slots.push_back({&l.q_proj, p + "self_attn.q_proj.weight", {q, hidden}});
    slots.push_back({&l.k_proj, p + "self_attn.k_proj.weight", {kv, hidden}});
    slots.push_back({&l.v_proj, p + "self_attn.v_proj.weight", {kv, hidden}});
    slots.push_back({&l.o_proj, p + "self_attn.o_proj.weight", {hidden, q}});
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
    slots.push_back({&l.gate_proj, p + "mlp.gate_proj.weight", {inter, hidden}});
    slots.push_back({&l.up_proj, p + "mlp.up_proj.weight", {inter, hidden}});
    slots.push_back({&l.down_proj, p + "mlp.down_proj.weight", {hidden, inter}});
  }
  slots.push_back({&w.norm, "model.norm.weight", {hidden}});
  return slots;
}

DType view_dtype(const SafetensorsTensor& t, const std::string& file) {
  if (t.dtype == "F32") return DType::F32;
  if (t.dtype == "F16") return DType::F16;
  if (t.dtype == "BF16") return DType::BF16;
  throw Error(file + ": tensor \"" + t.name + "\" has dtype " + t.dtype +
              "; supported: F32, F16, BF16 (quantized checkpoints are not supported)");
}

void bind(const SafetensorsCheckpoint& ckpt, const Slot& slot) {
  std::string file;
  const SafetensorsTensor* t = ckpt.find(slot.name, &file);
  if (!t) {
    throw Error(ckpt.description() + ": missing tensor \"" + slot.name + "\" (expected shape " +
                shape_str(slot.shape) + ")");
  }
  if (t->shape != slot.shape) {
    throw Error(file + ": tensor \"" + slot.name + "\" has shape " + shape_str(t->shape) +
                ", expected " + shape_str(slot.shape) + " from the model config");
  }
  TensorView& v = *slot.view;
  v.name = slot.name;
  v.dtype = view_dtype(*t, file);
  v.shape = t->shape;
  v.data = t->data;
}

// splitmix64: a small, good, seedable generator; one stream per tensor so a tensor's
// values do not depend on the others.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; } // [-1, 1)
};

void store(DType dtype, void* dst, size_t i, float v) {
  switch (dtype) {
  case DType::F32: static_cast<float*>(dst)[i] = v; break;
  case DType::F16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(v); break;
  case DType::BF16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v); break;
  }
}

bool is_norm(const std::string& name) { return name.find("norm.weight") != std::string::npos; }

// Fills n values center + scale·U[-1, 1) in chunks, each from its own stream, on all cores:
// the values depend on (seed, stream, chunk) only, never on the thread count.
void fill_uniform(DType dtype, void* dst, int64_t n, uint64_t seed, uint64_t stream, float center, float scale) {
  constexpr int64_t kChunk = int64_t(1) << 20;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t c = next++; c < chunks; c = next++) {
      SplitMix64 rng{seed * 0x100000001b3ull + stream * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(c) * 0xd1b54a32d192ed03ull};
      const int64_t end = std::min(n, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < end; ++i) store(dtype, dst, static_cast<size_t>(i), center + scale * rng.uniform());
    }
  };
  const int64_t threads = std::min<int64_t>(chunks, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

} // namespace

ModelWeights ModelWeights::load(const ModelConfig& config, const std::string& dir) {
  ModelWeights w;
  w.checkpoint_ = std::make_unique<SafetensorsCheckpoint>(dir);
  for (const Slot& slot : parameter_slots(config, w)) bind(*w.checkpoint_, slot);
  if (config.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;
    w.lm_head_tied = true;
  } else {
    bind(*w.checkpoint_, Slot{&w.lm_head, "lm_head.weight", {config.vocab_size, config.hidden_size}});
  }
  return w;
}

ModelWeights ModelWeights::dummy(const ModelConfig& config, DType dtype, uint64_t seed) {
  ModelWeights w;
  std::vector<Slot> slots = parameter_slots(config, w);
  if (!config.tie_word_embeddings) {
    slots.push_back({&w.lm_head, "lm_head.weight", {config.vocab_size, config.hidden_size}});
  }
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
  if (config.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;
    w.lm_head_tied = true;
  }
  return w;
}

} // namespace pagoda
