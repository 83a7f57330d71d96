// config.json → ModelConfig, accepting both the transformers 4.x and 5.x spellings.
#include "model/model_config.h"

#include <sys/stat.h>

#include "error.h"
#include "json.h"

namespace pagoda {

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> names = {"LlamaForCausalLM", "MistralForCausalLM",
                                                 "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                                                 "Qwen3Model"};
  return names;
}

namespace {

// Field readers: every error names the config file and the field.
class Fields {
public:
  Fields(const json::Value& obj, const std::string& source, std::string prefix = "")
      : obj_(obj), source_(source), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(source_ + ": field \"" + prefix_ + field + "\" " + what);
  }

  const json::Value* get(const std::string& field) const {
    const json::Value* v = obj_.find(field);
    return (v && !v->is_null()) ? v : nullptr;
  }

  int32_t integer(const std::string& field, const json::Value& v) const {
    if (!v.is_number()) fail(field, std::string("must be an integer, found a ") + json::type_name(v.type()));
    double d = v.as_number();
    if (d != static_cast<double>(static_cast<int64_t>(d)) || d < -2147483648.0 || d > 2147483647.0) {
      fail(field, "must be a 32-bit integer, found " + json::dump(v));
    }
    return static_cast<int32_t>(d);
  }

  int32_t required_positive(const std::string& field) const {
    const json::Value* v = get(field);
    if (!v) fail(field, "is missing (required)");
    int32_t n = integer(field, *v);
    if (n <= 0) fail(field, "must be positive, found " + std::to_string(n));
    return n;
  }

  int32_t optional_int(const std::string& field, int32_t fallback) const {
    const json::Value* v = get(field);
    return v ? integer(field, *v) : fallback;
  }

  double number(const std::string& field, double fallback) const {
    const json::Value* v = get(field);
    if (!v) return fallback;
    if (!v->is_number()) fail(field, std::string("must be a number, found a ") + json::type_name(v->type()));
    return v->as_number();
  }

  bool boolean(const std::string& field, bool fallback) const {
    const json::Value* v = get(field);
    if (!v) return fallback;
    if (!v->is_bool()) fail(field, std::string("must be true or false, found a ") + json::type_name(v->type()));
    return v->as_bool();
  }

  std::string string(const std::string& field, const std::string& fallback) const {
    const json::Value* v = get(field);
    if (!v) return fallback;
    if (!v->is_string()) fail(field, std::string("must be a string, found a ") + json::type_name(v->type()));
    return v->as_string();
  }

private:
  const json::Value& obj_;
  const std::string& source_;
  std::string prefix_;
};

std::string read_architecture(const Fields& f) {
  const json::Value* archs = f.get("architectures");
  if (!archs) f.fail("architectures", "is missing (required; e.g. [\"LlamaForCausalLM\"])");
  if (!archs->is_array() || archs->size() == 0 || !(*archs)[0].is_string()) {
    f.fail("architectures", "must be a non-empty list of strings, found " + json::dump(*archs));
  }
  std::string arch = (*archs)[0].as_string();
  for (const auto& name : supported_architectures()) {
    if (arch == name) return arch;
  }
  std::string list;
  for (const auto& name : supported_architectures()) list += (list.empty() ? "" : ", ") + name;
  f.fail("architectures", "names unsupported architecture \"" + arch + "\"; supported: " + list);
}

// rope_scaling (4.x) or rope_parameters (5.x): both are objects with rope_type (or the older
// "type") and the factors; 5.x also moves rope_theta inside.
void read_rope(const Fields& f, const std::string& source, ModelConfig& c) {
  c.rope_theta = f.number("rope_theta", 10000.0);
  const char* key = "rope_scaling";
  const json::Value* rope = f.get("rope_scaling");
  if (const json::Value* params = f.get("rope_parameters")) {
    rope = params;
    key = "rope_parameters";
  }
  if (!rope) return;
  if (!rope->is_object()) f.fail(key, std::string("must be an object, found a ") + json::type_name(rope->type()));
  Fields r(*rope, source, std::string(key) + ".");
  if (r.get("rope_theta")) c.rope_theta = r.number("rope_theta", c.rope_theta);
  std::string type = r.string("rope_type", r.string("type", "default"));
  RopeScaling& s = c.rope_scaling;
  s.type = type;
  if (type == "default") return;
  if (type != "linear" && type != "dynamic" && type != "llama3") {
    r.fail("rope_type", "is \"" + type + "\", which is not supported; supported: default, linear, dynamic, llama3");
  }
  if (!r.get("factor")) r.fail("factor", "is missing (required for rope_type " + type + ")");
  s.factor = r.number("factor", 1.0);
  if (!(s.factor >= 1.0)) r.fail("factor", "must be >= 1, found " + json::dump(*r.get("factor")));
  if (type == "llama3") {
    for (const char* k : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
      if (!r.get(k)) r.fail(k, "is missing (required for rope_type llama3)");
    }
    s.low_freq_factor = r.number("low_freq_factor", 1.0);
    s.high_freq_factor = r.number("high_freq_factor", 4.0);
    if (s.high_freq_factor <= s.low_freq_factor) {
      r.fail("high_freq_factor", "must be greater than low_freq_factor");
    }
    s.original_max_position_embeddings = r.optional_int("original_max_position_embeddings", 0);
    if (s.original_max_position_embeddings <= 0) r.fail("original_max_position_embeddings", "must be positive");
  } else if (type == "dynamic") {
    s.original_max_position_embeddings =
        r.optional_int("original_max_position_embeddings", c.max_position_embeddings);
  }
}

void read_special_tokens(const Fields& f, ModelConfig& c) {
  c.bos_token_id = f.optional_int("bos_token_id", -1);
  const json::Value* eos = f.get("eos_token_id");
  if (!eos) return;
  if (eos->is_array()) {
    for (size_t i = 0; i < eos->size(); ++i) c.eos_token_ids.push_back(f.integer("eos_token_id", (*eos)[i]));
  } else {
    c.eos_token_ids.push_back(f.integer("eos_token_id", *eos));
  }
}

} // namespace

ModelConfig parse_model_config(const json::Value& config, const std::string& source) {
  if (!config.is_object()) throw Error(source + ": expected a JSON object at the top level");
  Fields f(config, source);
  ModelConfig c;
  c.source = source;
  c.architecture = read_architecture(f);
  c.model_type = f.string("model_type", "");
  c.base_model = c.architecture == "Qwen3Model";

  c.hidden_size = f.required_positive("hidden_size");
  c.intermediate_size = f.required_positive("intermediate_size");
  c.num_hidden_layers = f.required_positive("num_hidden_layers");
  c.num_attention_heads = f.required_positive("num_attention_heads");
  c.num_key_value_heads = f.get("num_key_value_heads") ? f.required_positive("num_key_value_heads")
                                                       : c.num_attention_heads;
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    f.fail("num_key_value_heads", "(" + std::to_string(c.num_key_value_heads) +
                                      ") must divide num_attention_heads (" +
                                      std::to_string(c.num_attention_heads) + ")");
  }
  if (f.get("head_dim")) {
    c.head_dim = f.required_positive("head_dim");
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      f.fail("head_dim", "is missing and hidden_size is not a multiple of num_attention_heads; set head_dim");
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) f.fail("head_dim", "must be even for rotary embeddings, found " + std::to_string(c.head_dim));
  c.vocab_size = f.required_positive("vocab_size");
  c.max_position_embeddings = f.required_positive("max_position_embeddings");
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  if (!(c.rms_norm_eps > 0)) f.fail("rms_norm_eps", "must be positive");

  std::string act = f.string("hidden_act", "silu");
  if (act != "silu") f.fail("hidden_act", "is \"" + act + "\"; only \"silu\" is supported");
  if (f.boolean("mlp_bias", false)) f.fail("mlp_bias", "is true; MLP biases are not supported");

  read_rope(f, source, c);

  const bool attention_bias = f.boolean("attention_bias", false);
  if (c.architecture == "Qwen2ForCausalLM") {
    c.qkv_bias = true; // Qwen2 always has q/k/v biases and none on o_proj
  } else if (c.architecture == "Qwen3ForCausalLM" || c.architecture == "Qwen3Model") {
    c.qkv_bias = attention_bias;
    c.o_bias = attention_bias;
    c.qk_norm = true;
  } else {
    c.qkv_bias = attention_bias;
    c.o_bias = attention_bias;
  }

  // Sliding-window attention: Mistral uses sliding_window when set; Qwen2/3 only with
  // use_sliding_window true.
  const json::Value* window = f.get("sliding_window");
  if (window) {
    bool applies = c.architecture == "MistralForCausalLM" ||
                   (c.architecture != "LlamaForCausalLM" && f.boolean("use_sliding_window", false));
    if (applies) {
      c.sliding_window = f.integer("sliding_window", *window);
      if (c.sliding_window < 0) f.fail("sliding_window", "must not be negative");
    }
  }

  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  read_special_tokens(f, c);

  std::string dtype_field = f.get("dtype") ? "dtype" : "torch_dtype";
  std::string dtype = f.string(dtype_field, "bfloat16");
  try {
    c.dtype = parse_dtype(dtype);
  } catch (const Error&) {
    f.fail(dtype_field, "is \"" + dtype + "\"; supported: float32, float16, bfloat16");
  }
  if (const json::Value* qc = f.get("quantization_config")) c.quantization = parse_quantization_config(*qc, source);
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(path + ": no such file or folder; give a checkpoint folder (holding config.json) or a config.json");
  }
  const std::string file = S_ISDIR(st.st_mode) ? path + "/config.json" : path;
  return parse_model_config(json::parse_file(file), file);
}

} // namespace pagoda
