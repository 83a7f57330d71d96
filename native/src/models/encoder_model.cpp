// EncoderModel: config.json of the BERT family, the checkpoint's tensors (or seeded random
// ones) as Params and fused LinearLayers, the post-LN forward and the classification head.
//   h = LN(word + position + token_type)
//   per layer: h = LN(h + o_proj(attn(qkv_proj(h) + b)) + b);  h = LN(h + down(gelu(up(h) + b)) + b)
#include "models/encoder_model.h"

#include <cmath>
#include <sys/stat.h>

#include "error.h"
#include "json.h"
#include "model/safetensors.h"
#include "model/tensor_reader.h"

namespace pagoda {

namespace {

const std::vector<std::string>& encoder_architectures() {
  static const std::vector<std::string> names = {"BertModel", "XLMRobertaModel", "BertForSequenceClassification",
                                                 "XLMRobertaForSequenceClassification"};
  return names;
}

int32_t int_field(const json::Value& obj, const std::string& source, const char* field, int32_t fallback,
                  bool required = false) {
  const json::Value* v = obj.find(field);
  if (!v || v->is_null()) {
    if (required) throw Error(source + ": field \"" + field + "\" is missing (required)");
    return fallback;
  }
  if (!v->is_number() || v->as_number() != std::floor(v->as_number()))
    throw Error(source + ": field \"" + field + "\" must be an integer, found " + json::dump(*v));
  return static_cast<int32_t>(v->as_number());
}

} // namespace

bool is_encoder_architecture(const std::string& architecture) {
  for (const std::string& a : encoder_architectures())
    if (a == architecture) return true;
  return false;
}

EncoderConfig load_encoder_config(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": no such file or folder");
  const std::string file = S_ISDIR(st.st_mode) ? path + "/config.json" : path;
  const json::Value root = json::parse_file(file);
  if (!root.is_object()) throw Error(file + ": expected a JSON object at the top level");
  EncoderConfig c;
  c.source = file;
  const json::Value* archs = root.find("architectures");
  if (!archs || !archs->is_array() || archs->size() == 0 || !(*archs)[0].is_string())
    throw Error(file + ": field \"architectures\" must be a non-empty list of strings");
  c.architecture = (*archs)[0].as_string();
  if (!is_encoder_architecture(c.architecture))
    throw Error(file + ": \"" + c.architecture + "\" is not an encoder architecture this engine runs");
  for (auto [field, dst] : {std::pair{"hidden_size", &c.hidden_size}, {"intermediate_size", &c.intermediate_size},
                            {"num_hidden_layers", &c.num_hidden_layers}, {"num_attention_heads", &c.num_attention_heads},
                            {"vocab_size", &c.vocab_size}, {"max_position_embeddings", &c.max_position_embeddings}}) {
    *dst = int_field(root, file, field, 0, true);
    if (*dst <= 0) throw Error(file + ": field \"" + field + "\" must be positive");
  }
  if (c.hidden_size % c.num_attention_heads != 0)
    throw Error(file + ": hidden_size must be a multiple of num_attention_heads");
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.type_vocab_size = int_field(root, file, "type_vocab_size", 2);
  if (c.type_vocab_size <= 0) throw Error(file + ": field \"type_vocab_size\" must be positive");
  if (const json::Value* eps = root.find("layer_norm_eps"); eps && eps->is_number()) c.layer_norm_eps = eps->as_number();
  const json::Value* act = root.find("hidden_act");
  const std::string act_name = act && act->is_string() ? act->as_string() : "gelu";
  if (act_name != "gelu")
    throw Error(file + ": field \"hidden_act\" is \"" + act_name + "\"; only \"gelu\" (the erf form) is supported");
  const json::Value* pet = root.find("position_embedding_type");
  if (pet && pet->is_string() && pet->as_string() != "absolute")
    throw Error(file + ": field \"position_embedding_type\" is \"" + pet->as_string() + "\"; only \"absolute\" is supported");
  const bool xlmr = c.architecture.rfind("XLMRoberta", 0) == 0;
  c.pad_token_id = int_field(root, file, "pad_token_id", xlmr ? 1 : 0);
  c.position_offset = xlmr ? c.pad_token_id + 1 : 0;
  if (c.max_tokens() <= 0) throw Error(file + ": max_position_embeddings leaves no position after padding_idx");
  if (c.architecture.find("ForSequenceClassification") != std::string::npos) {
    const json::Value* labels = root.find("id2label");
    c.num_labels = labels && labels->is_object() ? static_cast<int32_t>(labels->size()) : int_field(root, file, "num_labels", 2);
    if (c.num_labels <= 0) throw Error(file + ": the classification head needs at least one label");
  }
  const json::Value* dt = root.find("dtype") ? root.find("dtype") : root.find("torch_dtype");
  if (dt && dt->is_string()) {
    try {
      c.dtype = parse_dtype(dt->as_string());
    } catch (const Error&) {
      throw Error(file + ": dtype \"" + dt->as_string() + "\" is not supported; supported: float32, float16, bfloat16");
    }
  }
  return c;
}

EncoderModel::EncoderModel(EncoderConfig config, const Naming& naming, const std::string& dir, bool dummy,
                           DType dummy_dtype, uint64_t seed)
    : config_(std::move(config)), dummy_(dummy), dummy_dtype_(dummy_dtype), seed_(seed) {
  if (!dummy_) checkpoint_ = std::make_unique<SafetensorsCheckpoint>(dir);
  const EncoderConfig& c = config_;
  const int64_t hidden = c.hidden_size, inter = c.intermediate_size;
  const std::string e = naming.base + "embeddings.";
  word_ = param(e + "word_embeddings.weight", {c.vocab_size, hidden});
  position_ = param(e + "position_embeddings.weight", {c.max_position_embeddings, hidden});
  token_type_ = param(e + "token_type_embeddings.weight", {c.type_vocab_size, hidden});
  embed_norm_weight_ = param(e + "LayerNorm.weight", {hidden});
  embed_norm_bias_ = param(e + "LayerNorm.bias", {hidden});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = naming.base + "encoder.layer." + std::to_string(i) + ".";
    Layer l;
    const std::string s = p + "attention.self.";
    l.qkv_proj = linear("qkv_proj", {s + "query", s + "key", s + "value"}, hidden, hidden);
    l.qkv_bias = param(s + "query.bias", {hidden});
    for (const char* part : {"key.bias", "value.bias"}) l.qkv_bias.parts.push_back(param(s + part, {hidden}).parts.front());
    l.o_proj = linear("o_proj", {p + "attention.output.dense"}, hidden, hidden);
    l.o_bias = param(p + "attention.output.dense.bias", {hidden});
    l.attn_norm_weight = param(p + "attention.output.LayerNorm.weight", {hidden});
    l.attn_norm_bias = param(p + "attention.output.LayerNorm.bias", {hidden});
    l.up_proj = linear("up_proj", {p + "intermediate.dense"}, inter, hidden);
    l.up_bias = param(p + "intermediate.dense.bias", {inter});
    l.down_proj = linear("down_proj", {p + "output.dense"}, hidden, inter);
    l.down_bias = param(p + "output.dense.bias", {hidden});
    l.out_norm_weight = param(p + "output.LayerNorm.weight", {hidden});
    l.out_norm_bias = param(p + "output.LayerNorm.bias", {hidden});
    layers_.push_back(std::move(l));
  }
  if (c.num_labels > 0) {
    head_.dense = linear("head_dense", {naming.head_dense}, hidden, hidden);
    head_.dense_bias = param(naming.head_dense + ".bias", {hidden});
    head_.out = linear("head_out", {naming.head_out}, c.num_labels, hidden);
    head_.out_bias = param(naming.head_out + ".bias", {c.num_labels});
  }
}

EncoderModel::~EncoderModel() = default;

Param EncoderModel::param(const std::string& name, std::vector<int64_t> shape) {
  if (!dummy_) {
    views_.push_back(read_tensor(*checkpoint_, name, shape));
  } else {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    owned_.emplace_back(static_cast<size_t>(n) * dtype_size(dummy_dtype_));
    const bool norm_weight = name.find("LayerNorm.weight") != std::string::npos;
    fill_uniform(dummy_dtype_, owned_.back().data(), n, seed_, ++stream_, norm_weight ? 1.0f : 0.0f,
                 norm_weight ? 0.1f : (shape.size() == 2 ? 0.5f : 0.02f));
    TensorView v;
    v.name = name;
    v.dtype = dummy_dtype_;
    v.shape = std::move(shape);
    v.data = owned_.back().data();
    views_.push_back(std::move(v));
  }
  Param p;
  p.parts.push_back(&views_.back());
  return p;
}

LinearLayer EncoderModel::linear(const std::string& layer_name, std::vector<std::string> prefixes, int64_t out,
                                 int64_t in) {
  std::vector<const LinearMethod*> parts;
  const QuantizationConfig none;
  for (const std::string& prefix : prefixes) {
    methods_.push_back(dummy_ ? dummy_linear(none, dummy_dtype_, seed_ * 0x9e3779b97f4a7c15ull + ++stream_, prefix, out, in)
                              : load_linear(none, *checkpoint_, prefix, out, in));
    parts.push_back(methods_.back().get());
  }
  return fuse_linears(layer_name, std::move(parts));
}

size_t EncoderModel::weight_bytes() const {
  size_t n = 0;
  for (const TensorView& v : views_) n += v.nbytes();
  for (const auto& m : methods_) n += m->weight_bytes();
  return n;
}

void EncoderModel::forward(EncoderOps& ops) const {
  ops.embed(word_, position_, token_type_, embed_norm_weight_, embed_norm_bias_);
  for (const Layer& l : layers_) {
    ops.linear(l.qkv_proj, EncAct::kHidden, EncAct::kQkv);
    ops.bias_add(EncAct::kQkv, l.qkv_bias);
    ops.attention(EncAct::kQkv, EncAct::kAttn);
    ops.linear(l.o_proj, EncAct::kAttn, EncAct::kOut);
    ops.add_layer_norm(EncAct::kOut, l.o_bias, l.attn_norm_weight, l.attn_norm_bias);
    ops.linear(l.up_proj, EncAct::kHidden, EncAct::kInter);
    ops.gelu(EncAct::kInter, l.up_bias);
    ops.linear(l.down_proj, EncAct::kInter, EncAct::kOut);
    ops.add_layer_norm(EncAct::kOut, l.down_bias, l.out_norm_weight, l.out_norm_bias);
  }
}

namespace {

float element(const TensorView& t, int64_t i) {
  switch (t.dtype) {
  case DType::F32: return static_cast<const float*>(t.data)[i];
  case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
  case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
  default: throw Error(t.name + ": expected a float tensor");
  }
}

// y = W·x + b for one vector, in double: the head runs once per sequence.
std::vector<float> apply_dense(const LinearLayer& layer, const Param& bias, const float* x) {
  std::vector<float> y(static_cast<size_t>(layer.out_features));
  std::vector<float> row(static_cast<size_t>(layer.in_features));
  int64_t o = 0;
  const TensorView& b = *bias.parts.front();
  for (const LinearMethod* part : layer.parts) {
    for (int64_t r = 0; r < part->out_features(); ++r, ++o) {
      part->dequantize_rows(r, r + 1, row.data());
      double acc = 0.0;
      for (int64_t i = 0; i < layer.in_features; ++i) acc += double(row[i]) * x[i];
      y[o] = static_cast<float>(acc + element(b, o));
    }
  }
  return y;
}

} // namespace

std::vector<float> EncoderModel::classify(const float* first_token_hidden) const {
  if (!has_head()) throw Error(config_.architecture + " has no classification head");
  std::vector<float> pooled = apply_dense(head_.dense, head_.dense_bias, first_token_hidden);
  for (float& v : pooled) v = std::tanh(v);
  return apply_dense(head_.out, head_.out_bias, pooled.data());
}

int64_t encoder_act_width(const EncoderConfig& c, EncAct a) {
  switch (a) {
  case EncAct::kQkv: return 3 * int64_t(c.hidden_size);
  case EncAct::kInter: return c.intermediate_size;
  case EncAct::kHidden:
  case EncAct::kAttn:
  case EncAct::kOut: return c.hidden_size;
  }
  return c.hidden_size;
}

void validate_pooling_batch(const EncoderConfig& c, const PoolingBatch& b) {
  const int32_t n = b.num_tokens();
  if (n == 0 || b.num_seqs() <= 0) throw Error("encoder forward: empty batch");
  if (b.token_type_ids.size() != size_t(n) || b.positions.size() != size_t(n) || b.seq_start.front() != 0 ||
      b.seq_start.back() != n)
    throw Error("encoder forward: inconsistent PoolingBatch sizes");
  for (int32_t s = 0; s < b.num_seqs(); ++s)
    if (b.seq_start[s + 1] <= b.seq_start[s]) throw Error("encoder forward: every sequence needs a token");
  for (int32_t t = 0; t < n; ++t) {
    if (b.token_ids[t] < 0 || b.token_ids[t] >= c.vocab_size)
      throw Error("token id " + std::to_string(b.token_ids[t]) + " is outside the vocabulary of " +
                  std::to_string(c.vocab_size));
    if (b.token_type_ids[t] < 0 || b.token_type_ids[t] >= c.type_vocab_size)
      throw Error("token type id " + std::to_string(b.token_type_ids[t]) + " is outside the model's " +
                  std::to_string(c.type_vocab_size) + " types");
    if (b.positions[t] < 0 || b.positions[t] >= c.max_position_embeddings)
      throw Error("position " + std::to_string(b.positions[t]) + " is past max_position_embeddings " +
                  std::to_string(c.max_position_embeddings));
  }
}

std::unique_ptr<EncoderModel> create_encoder_model(const EncoderConfig& config, const std::string& dir, bool dummy,
                                                   DType dummy_dtype, uint64_t seed) {
  if (config.architecture.rfind("XLMRoberta", 0) == 0) return make_xlm_roberta(config, dir, dummy, dummy_dtype, seed);
  if (config.architecture.rfind("Bert", 0) == 0) return make_bert(config, dir, dummy, dummy_dtype, seed);
  throw Error("architecture \"" + config.architecture + "\" has no encoder model file in this engine");
}

} // namespace pagoda
