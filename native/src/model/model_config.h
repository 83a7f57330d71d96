// The model's architecture numbers, read from a Hugging Face config.json in either spelling
// (transformers 4.x: rope_theta / rope_scaling / torch_dtype; 5.x: rope_parameters / dtype).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/dtype.h"
#include "model/quantization_config.h"

namespace pagoda {

namespace json {
class Value;
}

// Rotary embedding scaling, as Hugging Face names it.
struct RopeScaling {
  std::string type = "default";          // "default" | "linear" | "dynamic" | "llama3"
  double factor = 1.0;                   // linear, dynamic, llama3
  double low_freq_factor = 1.0;          // llama3
  double high_freq_factor = 4.0;         // llama3
  // llama3: from the config (required). dynamic: the config's value when given, else
  // max_position_embeddings — the length past which the base starts to grow.
  int32_t original_max_position_embeddings = 0;
};

struct ModelConfig {
  std::string source;       // the config.json path (or "<memory>"), for messages
  std::string architecture; // LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM | Qwen3ForCausalLM
  std::string model_type;   // "llama", "mistral", "qwen2", "qwen3" (informational)

  int32_t hidden_size = 0;
  int32_t intermediate_size = 0;
  int32_t num_hidden_layers = 0;
  int32_t num_attention_heads = 0;
  int32_t num_key_value_heads = 0; // defaults to num_attention_heads
  int32_t head_dim = 0;            // config.head_dim when present, else hidden_size / heads
  int32_t vocab_size = 0;
  int32_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;

  double rope_theta = 10000.0;
  RopeScaling rope_scaling;

  bool qkv_bias = false;   // q/k/v projections have a bias (Qwen2 always; others: attention_bias)
  bool o_bias = false;     // o_proj has a bias (Llama/Mistral attention_bias)
  bool qk_norm = false;    // per-head RMSNorm on q and k before RoPE (Qwen3)
  int32_t sliding_window = 0; // attention window in tokens; 0 = full attention
  bool tie_word_embeddings = false;
  // A base model class (Qwen3Model, as embedding checkpoints store it): tensor names without
  // the "model." prefix and no lm_head; it yields hidden states, never logits.
  bool base_model = false;

  int32_t bos_token_id = -1;           // -1: none
  std::vector<int32_t> eos_token_ids;  // eos_token_id may be a number or a list in config.json
  DType dtype = DType::BF16;           // torch_dtype / dtype: the checkpoint's storage type
  // The linear layers' format: quantization_config, then the engine's `quantization` option
  // (load_model resolves the two).
  QuantizationConfig quantization;

  int32_t q_size() const { return num_attention_heads * head_dim; }
  int32_t kv_size() const { return num_key_value_heads * head_dim; }
};

// The architectures the engine runs, for messages.
const std::vector<std::string>& supported_architectures();

// Parses an already-read config.json; `source` names it in errors. Throws pagoda::Error
// naming the source and the field for a missing, mistyped or unsupported value.
ModelConfig parse_model_config(const json::Value& config, const std::string& source);
// Reads `<dir>/config.json` (or the file itself when `path` is a .json file).
ModelConfig load_model_config(const std::string& path);

} // namespace pagoda
