// The CPU backend: runs a model file's forward (models/) through its ModelOps, on float32
// activations and a paged KV cache of float32, bf16 or fp8 e4m3, with weights kept in their checkpoint format
// (float ones converted inside the matmul, quantized ones dequantized a tile at a time);
// matmul rows and attention heads split over a thread pool.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/host_buffer.h"
#include "backend/cpu/thread_pool.h"
#include "model/model_config.h"
#include "models/causal_lm.h"

namespace pagoda {

struct EngineConfig;

namespace cpu {

struct CpuOptions {
  int num_threads = 0;              // <= 0: hardware concurrency
  int64_t kv_cache_space_bytes = 0; // <= 0: 4 GiB; reported by profile() as the host budget
  int32_t block_size = 16;          // the engine's block size, for profile().kv_bytes_per_block
  KvDtype kv_dtype = KvDtype::kF32; // kv_cache_dtype: "auto" (float32), "bfloat16", "fp8"
};

// kv_cache_dtype as the CPU backend takes it: "auto" / "float32", "bfloat16", "fp8" /
// "fp8_e4m3". Throws pagoda::Error naming what is accepted.
KvDtype parse_kv_cache_dtype(const std::string& name);

class CpuBackend : public Backend, private ModelOps {
public:
  CpuBackend(std::unique_ptr<CausalLM> model, const CpuOptions& options);

  std::string name() const override { return "cpu"; }
  // HostBuffer maps the KV cache with MAP_NORESERVE: pages are committed when first written.
  bool kv_cache_committed_on_touch() const override { return true; }
  void release_kv_blocks(int32_t first, int32_t count) override;
  MemoryProfile profile(int32_t max_num_batched_tokens, int32_t max_num_seqs) override;
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;
  const ModelConfig& model_config() const override { return model_->config(); }
  bool keeps_logit_rows() const override { return keep_logit_rows_; }
  // The pooling run of a decoder used as an embedder: forward() without lm_head, the final-
  // normed hidden state of every token into `hidden` ([num_tokens, hidden_size]).
  void forward_hidden(const ForwardBatch& batch, std::vector<float>& hidden) override;

  const CausalLM& model() const { return *model_; }

private:
  // Activation buffers, grown to the largest batch seen (profile() sizes them up front).
  struct Workspace {
    std::vector<float> x, h, qkv, attn, out, gate_up, mlp, q, k, v, rope_cos, rope_sin, rows, scratch;
    size_t bytes() const;
  };

  // ModelOps (cpu_model_ops.cpp), over the batch being run.
  void embed(const Param& table) override;
  void rms_norm(const Param& weight, Act out) override;
  void add_rms_norm(Act delta, const Param& weight, Act out) override;
  void linear(const LinearLayer& layer, Act in, Act out) override;
  void bias_add(Act x, const Param& bias) override;
  void qk_norm(Act qkv, const Param& q_norm, const Param& k_norm) override;
  void rope(Act qkv) override;
  void attention(int layer, Act qkv, Act out) override;
  void silu_mul(Act gate_up, Act out) override;
  void keep_logit_rows(Act a) override;
  float* act(Act a);
  int64_t width(Act a) const;

  void ensure_workspace(int64_t tokens, int64_t logit_rows);
  void validate(const ForwardBatch& batch) const;
  void compute_rope(const ForwardBatch& batch);

  std::unique_ptr<CausalLM> model_;
  const ModelConfig& config_;
  // The forward being run: the rows its ops run on (the batch's tokens, then with keep_logit_rows its
  // sequences' last tokens) and whether its rows may be cut to those (forward() without all_logits).
  int64_t rows_ = 0;
  bool may_keep_logit_rows_ = false;
  bool keep_logit_rows_ = true; // keep_logit_rows_from_env(true): PAGODA_KEEP_LOGIT_ROWS=0 turns it off
  std::vector<float> inv_freq_; // for every scaling but "dynamic", which depends on length
  ThreadPool pool_;
  int64_t kv_cache_space_bytes_;
  int32_t profile_block_size_;
  Workspace ws_;
  const ForwardBatch* batch_ = nullptr; // during forward()
  // KV cache: per layer [num_blocks · block_size, kv_heads, head_dim] for K, then V, of kv_dtype_.
  KvDtype kv_dtype_;
  HostBuffer kv_;
  size_t kv_layer_bytes_ = 0; // one of K or V of one layer
  int32_t num_blocks_ = 0;
  int32_t block_size_ = 0;
};

std::unique_ptr<Backend> create_cpu_backend(const EngineConfig& engine_config);
// Converts the model's norms and biases to float32 (the CPU's ParamData), once at load.
void prepare_cpu_params(CausalLM& model);

} // namespace cpu
} // namespace pagoda
