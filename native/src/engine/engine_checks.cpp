// LLMEngine's checks, as vLLM makes them: the settings against the model (validate_config),
// the number of KV blocks the memory allows (choose_num_blocks), and each request before it is
// queued (validate_request); every error says what to change.
#include <algorithm>
#include <climits>
#include <sstream>

#include "engine/llm_engine.h"
#include "error.h"

namespace pagoda {

namespace {
constexpr int64_t kDefaultCpuKvBytes = int64_t{4} << 30;
} // namespace

void LLMEngine::validate_config() {
  EngineConfig& c = config_;
  const int32_t max_pos = model_.max_position_embeddings;
  if (c.tensor_parallel_size != 1 || c.pipeline_parallel_size != 1) {
    throw Error("tensor_parallel_size and pipeline_parallel_size must be 1 for the builtin "
                "engine for now; set both to 1");
  }
  if (c.max_model_len < 0) throw Error("max_model_len must be positive (or 0 for the model's)");
  if (c.max_model_len == 0) c.max_model_len = max_pos;
  if (max_pos > 0 && c.max_model_len > max_pos) {
    std::ostringstream os;
    os << "max_model_len (" << c.max_model_len
       << ") is greater than the model's max_position_embeddings (" << max_pos
       << ") in config.json; lower max_model_len to <= " << max_pos;
    throw Error(os.str());
  }
  if (c.block_size < 1 || c.block_size > 256) {
    throw Error("block_size must be between 1 and 256 (16 is usual), got " +
                std::to_string(c.block_size));
  }
  if (c.max_num_seqs < 1) {
    throw Error("max_num_seqs must be at least 1, got " + std::to_string(c.max_num_seqs));
  }
  if (c.max_num_batched_tokens < 0) throw Error("max_num_batched_tokens must be positive");
  if (c.max_num_batched_tokens == 0) {
    c.max_num_batched_tokens = c.enable_chunked_prefill ? std::max(2048, c.max_num_seqs)
                                                         : std::max(2048, c.max_model_len);
  }
  if (!c.enable_chunked_prefill && c.max_num_batched_tokens < c.max_model_len) {
    std::ostringstream os;
    os << "max_num_batched_tokens (" << c.max_num_batched_tokens << ") is smaller than max_model_len ("
       << c.max_model_len << "): without chunked prefill a whole prompt must fit in one step. "
       << "Raise max_num_batched_tokens to >= " << c.max_model_len
       << ", lower max_model_len, or enable chunked prefill";
    throw Error(os.str());
  }
  if (c.max_num_batched_tokens < c.max_num_seqs) {
    std::ostringstream os;
    os << "max_num_batched_tokens (" << c.max_num_batched_tokens
       << ") must be greater than or equal to max_num_seqs (" << c.max_num_seqs
       << "); raise max_num_batched_tokens or lower max_num_seqs";
    throw Error(os.str());
  }
  if (!(c.gpu_memory_utilization > 0.0 && c.gpu_memory_utilization <= 1.0)) {
    throw Error("gpu_memory_utilization must be in (0, 1], got " +
                std::to_string(c.gpu_memory_utilization));
  }
  if (c.num_gpu_blocks_override < 0) throw Error("num_gpu_blocks_override must be positive");
  if (c.kv_cache_space_bytes < 0) throw Error("kv_cache_space_bytes must be positive");
}

int32_t LLMEngine::choose_num_blocks() const {
  const EngineConfig& c = config_;
  const int64_t per_block = static_cast<int64_t>(profile_.kv_bytes_per_block);
  if (per_block <= 0) throw Error("backend reported a KV block size of 0 bytes");
  int64_t blocks = 0;
  std::string raise;
  if (c.num_gpu_blocks_override > 0) {
    blocks = c.num_gpu_blocks_override;
    raise = "raise num_gpu_blocks_override";
  } else if (backend_->name() == "cpu") {
    int64_t space = c.kv_cache_space_bytes > 0 ? c.kv_cache_space_bytes : kDefaultCpuKvBytes;
    blocks = space / per_block;
    raise = "raise kv_cache_space_bytes";
  } else {
    // What the profile measured besides the KV cache (weights, the activation peak with the
    // CUDA context, the decode graphs) comes out of gpu_memory_utilization x total; the
    // platform's planner (packages/server/src/planner/memory.ts) divides memory the same way.
    double budget = static_cast<double>(profile_.total_bytes) * c.gpu_memory_utilization -
                    static_cast<double>(profile_.weights_bytes) -
                    static_cast<double>(profile_.peak_activation_bytes) -
                    static_cast<double>(profile_.cuda_graph_bytes);
    blocks = budget > 0 ? static_cast<int64_t>(budget / static_cast<double>(per_block)) : 0;
    raise = "raise gpu_memory_utilization";
    if (blocks <= 0) {
      std::ostringstream os;
      os << "No memory is left for the KV cache: the model's weights (" << profile_.weights_bytes
         << " bytes), activations (" << profile_.peak_activation_bytes << " bytes) and CUDA graphs ("
         << profile_.cuda_graph_bytes << " bytes) use more than gpu_memory_utilization ("
         << c.gpu_memory_utilization << ") of " << profile_.total_bytes
         << " bytes; raise gpu_memory_utilization or lower max_num_batched_tokens";
      throw Error(os.str());
    }
  }
  blocks = std::min<int64_t>(blocks, INT32_MAX / std::max(1, c.block_size));
  const int64_t tokens = blocks * c.block_size;
  if (tokens < c.max_model_len) {
    std::ostringstream os;
    os << "The KV cache (" << blocks << " blocks of " << c.block_size
       << " tokens) is too small for one sequence of max_model_len (" << c.max_model_len
       << "): it can hold " << tokens << " tokens; lower max_model_len to <= " << tokens
       << " or " << raise;
    throw Error(os.str());
  }
  return static_cast<int32_t>(blocks);
}

void LLMEngine::validate_request(const std::string& request_id, const std::vector<int32_t>& prompt,
                                 const SamplingParams& params) const {
  if (request_id.empty()) throw Error("request id must not be empty");
  if (requests_.count(request_id)) {
    throw Error("request id '" + request_id + "' is already in use by an unfinished request");
  }
  if (prompt.empty()) throw Error("prompt must contain at least one token");
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= model_.vocab_size) {
      std::ostringstream os;
      os << "prompt token id " << prompt[i] << " at position " << i
         << " is outside the vocabulary [0, " << model_.vocab_size << ")";
      throw Error(os.str());
    }
  }
  validate_sampling_params(params, model_.vocab_size);
  const int64_t len = static_cast<int64_t>(prompt.size());
  const int64_t max_len = config_.max_model_len;
  if (len >= max_len || (params.max_tokens > 0 && len + params.max_tokens > max_len)) {
    std::ostringstream os;
    os << "This model's maximum context length is " << max_len << " tokens. However, you requested "
       << len + std::max(0, params.max_tokens) << " tokens (" << len << " in the prompt, "
       << std::max(0, params.max_tokens) << " in the completion). "
       << "Shorten the prompt or lower max_tokens so that prompt + max_tokens <= " << max_len;
    if (len >= max_len) os << " (the prompt alone must be shorter than " << max_len << ")";
    throw Error(os.str());
  }
}

} // namespace pagoda
