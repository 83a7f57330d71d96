// The CPU backend: weights kept in their checkpoint dtype and converted inside the matmul,
// float32 activations, a float32 paged KV cache, matmul rows and attention heads split over
// a thread pool.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/host_buffer.h"
#include "backend/cpu/thread_pool.h"
#include "model/model_config.h"
#include "model/weights.h"

namespace pagoda {

struct EngineConfig;

namespace cpu {

struct CpuOptions {
  int num_threads = 0;              // <= 0: hardware concurrency
  int64_t kv_cache_space_bytes = 0; // <= 0: 4 GiB; reported by profile() as the host budget
  int32_t block_size = 16;          // the engine's block size, for profile().kv_bytes_per_block
};

class CpuBackend : public Backend {
public:
  CpuBackend(ModelConfig config, ModelWeights weights, const CpuOptions& options);

  std::string name() const override { return "cpu"; }
  MemoryProfile profile(int32_t max_num_batched_tokens, int32_t max_num_seqs) override;
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;
  const ModelConfig& model_config() const override { return config_; }

  const ModelWeights& weights() const { return weights_; }

private:
  // Small per-layer vectors (norm weights, biases) converted to float32 once at load.
  struct LayerVectors {
    std::vector<float> input_norm, post_norm, q_norm, k_norm, q_bias, k_bias, v_bias, o_bias;
  };
  // Activation buffers, grown to the largest batch seen (profile() sizes them up front).
  struct Workspace {
    std::vector<float> x, h, q, k, v, attn, gate, up, rope_cos, rope_sin, rows;
    size_t bytes() const;
  };

  void ensure_workspace(int64_t tokens, int64_t logit_rows);
  void validate(const ForwardBatch& batch) const;
  void compute_rope(const ForwardBatch& batch);
  void run_layer(int layer, const ForwardBatch& batch);

  ModelConfig config_;
  ModelWeights weights_;
  std::vector<LayerVectors> vectors_;
  std::vector<float> final_norm_;
  std::vector<float> inv_freq_; // for every scaling but "dynamic", which depends on length
  ThreadPool pool_;
  int64_t kv_cache_space_bytes_;
  int32_t profile_block_size_;
  Workspace ws_;
  // KV cache: per layer [num_blocks · block_size, kv_heads, head_dim] for K, then V.
  HostBuffer kv_;
  int32_t num_blocks_ = 0;
  int32_t block_size_ = 0;
};

std::unique_ptr<Backend> create_cpu_backend(const EngineConfig& engine_config);

} // namespace cpu
} // namespace pagoda
