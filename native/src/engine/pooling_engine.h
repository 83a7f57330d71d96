// The pooling run: embedding and cross-encoder (rerank) models. No KV cache to plan and no
// scheduler: a call's inputs are packed back to back (no padding) into forwards of at most
// max_num_batched_tokens tokens, then each sequence's hidden states are pooled (CLS, mean, max,
// last token) and normalized as the checkpoint says, or the first token goes through the
// classification head. Encoders (bert, xlm_roberta) run bidirectionally; decoders used as
// embedders (Qwen3Model) run their causal forward without lm_head.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine_config.h"
#include "engine/pooling_config.h"

namespace pagoda {

namespace cpu {
class CpuEncoder;
class CpuBackend;
} // namespace cpu

struct PoolingInput {
  std::vector<int32_t> token_ids;
  std::vector<int32_t> token_type_ids; // empty: all 0
};

enum class PoolingTask { kEmbed, kScore };

class PoolingEngine {
public:
  // Loads the checkpoint engine_config.model (device "cpu" or "auto"). Throws pagoda::Error
  // naming the file or option at fault.
  explicit PoolingEngine(const EngineConfig& engine_config);
  ~PoolingEngine();

  PoolingTask task() const { return task_; }
  const std::string& architecture() const { return architecture_; }
  const PoolingConfig& pooling() const { return pooling_; }
  int32_t hidden_size() const { return hidden_size_; }
  // The longest input accepted, special tokens included: max_seq_length where the checkpoint
  // states one, never past the position table.
  int32_t max_input_tokens() const { return max_input_tokens_; }

  // One pooled (and normalized, when the checkpoint says so) vector per input.
  std::vector<std::vector<float>> embed(const std::vector<PoolingInput>& inputs);
  // The classification head's logit per input (a cross-encoder with one label).
  std::vector<float> score(const std::vector<PoolingInput>& inputs);

private:
  void check(const std::vector<PoolingInput>& inputs, PoolingTask task) const;
  // Runs inputs [begin, end) in one packed forward: hidden[tokens, hidden_size].
  void run(const std::vector<PoolingInput>& inputs, size_t begin, size_t end, std::vector<float>& hidden);
  // Calls fn(begin, end, hidden) for each packed forward over all inputs.
  template <class Fn> void for_each_chunk(const std::vector<PoolingInput>& inputs, Fn&& fn);

  PoolingTask task_ = PoolingTask::kEmbed;
  std::string architecture_;
  PoolingConfig pooling_;
  int32_t hidden_size_ = 0;
  int32_t max_input_tokens_ = 0;
  int32_t position_offset_ = 0;
  int32_t max_batch_tokens_ = 0;
  int32_t kv_blocks_ = 0;
  std::unique_ptr<cpu::CpuEncoder> encoder_;
  std::unique_ptr<cpu::CpuBackend> decoder_;
  std::mutex mutex_; // one call at a time: the workspaces are shared
};

} // namespace pagoda
