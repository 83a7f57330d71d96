// Engine options, named as vLLM names them. Filled by the addon from JavaScript or by the
// C++ tools from their flags; validated against the model by the engine at load.
#pragma once

#include <cstdint>
#include <string>

namespace pagoda {

struct EngineConfig {
  std::string model;                 // checkpoint folder, or a config.json when load_format == "dummy"
  std::string load_format = "auto";  // "auto" (safetensors) | "dummy" (random weights from config)
  std::string dtype = "auto";        // "auto" | "float32" | "bfloat16" | "float16": compute dtype
  std::string device = "auto";       // "auto" | "cpu" | "cuda"
  std::string kv_cache_dtype = "auto";
  int32_t max_model_len = 0;         // 0: the model's max_position_embeddings
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 0; // 0: max(2048, max_model_len) capped sensibly by the engine
  int32_t block_size = 16;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  double gpu_memory_utilization = 0.9;
  int64_t kv_cache_space_bytes = 0;  // CPU backend: host bytes for the KV cache (0: 4 GiB)
  int32_t num_gpu_blocks_override = 0; // >0: exactly this many KV blocks (tests, tuning)
  bool enforce_eager = false;
  uint64_t seed = 0;
  int32_t num_threads = 0;           // CPU backend: 0 = hardware concurrency
  int32_t tensor_parallel_size = 1;
  int32_t pipeline_parallel_size = 1;
  std::string quantization;          // "" = the checkpoint's quantization_config; "fp8": quantize at load
  // FP8 checkpoints with dynamic activation scales: "auto" quantizes linear inputs as the
  // checkpoint says (W8A8); "none" keeps them float (weight-only: the dequantized reference).
  std::string activation_quantization = "auto";
};

} // namespace pagoda
