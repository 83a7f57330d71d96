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

class Backend;
class EncoderDevice;
struct PoolingBatch;

struct PoolingInput {
  std::vector<int32_t> token_ids;
  std::vector<int32_t> token_type_ids; // empty: all 0
};

enum class PoolingTask { kEmbed, kScore };

class PoolingEngine {
public:
  // Loads the checkpoint engine_config.model on device "cpu", "cuda", or "auto" (the GPU
  // when one is visible and the build has the CUDA backend). Throws pagoda::Error naming the
  // file or option at fault.
  explicit PoolingEngine(const EngineConfig& engine_config);
  ~PoolingEngine();

  PoolingTask task() const { return task_; }
  const std::string& architecture() const { return architecture_; }
  const PoolingConfig& pooling() const { return pooling_; }
  int32_t hidden_size() const { return hidden_size_; }
  // The longest input accepted, special tokens included: max_seq_length where the checkpoint
  // states one, never past the position table.
  int32_t max_input_tokens() const { return max_input_tokens_; }
  // "cpu" or "cuda": where the forward runs.
  const std::string& device() const { return device_; }
  // The most tokens one packed forward holds (max_num_batched_tokens, or the device's default).
  int32_t max_batch_tokens() const { return max_batch_tokens_; }
  // How many packed forwards this engine has run (the batching a call got).
  int64_t forwards() const { return forwards_; }

  // One pooled (and normalized, when the checkpoint says so) vector per input.
  std::vector<std::vector<float>> embed(const std::vector<PoolingInput>& inputs);
  // The classification head's logit per input (a cross-encoder with one label).
  std::vector<float> score(const std::vector<PoolingInput>& inputs);

private:
  void check(const std::vector<PoolingInput>& inputs, PoolingTask task) const;
  // Inputs [begin, end) packed back to back, positions from the model's offset.
  PoolingBatch pack(const std::vector<PoolingInput>& inputs, size_t begin, size_t end) const;
  // Runs inputs [begin, end) through the decoder in one packed forward: hidden[tokens, hidden_size].
  void run_decoder(const std::vector<PoolingInput>& inputs, size_t begin, size_t end, std::vector<float>& hidden);
  // Calls fn(begin, end) for each packed forward's range of inputs.
  template <class Fn> void for_each_chunk(const std::vector<PoolingInput>& inputs, Fn&& fn);

  PoolingTask task_ = PoolingTask::kEmbed;
  std::string architecture_;
  PoolingConfig pooling_;
  int32_t hidden_size_ = 0;
  int32_t max_input_tokens_ = 0;
  int32_t position_offset_ = 0;
  int32_t max_batch_tokens_ = 0;
  int32_t kv_blocks_ = 0;
  int64_t forwards_ = 0;
  std::string device_ = "cpu";
  std::unique_ptr<EncoderDevice> encoder_; // an encoder, on the CPU or the GPU
  std::unique_ptr<Backend> decoder_;       // or a decoder used as an embedder (CPU or GPU)
  std::mutex mutex_; // one call at a time: the workspaces are shared
};

} // namespace pagoda
