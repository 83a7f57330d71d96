// The CUDA backend's class, shared by the files that implement its jobs: cuda_backend.cpp
// (load, memory, the KV cache, forward), cuda_model_ops.cpp (the ModelOps a model file's
// forward runs on: kernels.h and the linear kernels on one stream), decode_graphs.cpp (CUDA
// graphs of decode steps), async_sampling.cpp (sampling on the device, steps launched ahead),
// gemm_tuning.cpp (decode GEMM choices timed at load). Activations, weights and KV cache are
// bf16, or with dtype "float32" all float32, selected by the element type CudaOps runs with.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cublaslt.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/op_skip.h"
#include "backend/cuda/op_timer.h"
#include "backend/cuda/step_inputs.h"
#include "backend/cuda/step_timer.h"
#include "backend/cuda/stream.h"
#include "model/rope_frequencies.h"
#include "models/causal_lm.h"

namespace pagoda {

struct EngineConfig;

namespace cuda {

// Batch sizes decode graphs are captured for: powers of two to 8, then multiples of 8.
inline int graph_batch_size(int num_seqs) {
  if (num_seqs <= 8) {
    int b = 1;
    while (b < num_seqs) b *= 2;
    return b;
  }
  return (num_seqs + 7) / 8 * 8;
}

template <typename T> class CudaOps;

// Unless PAGODA_KEEP_LOGIT_ROWS=0 (cuda_model_ops.cpp): steps run the last layer's o_proj and MLP on the logit rows only.
bool keep_logit_rows_enabled();

class CudaBackend : public Backend {
public:
  // pooling: a decoder used as an embedder (forward_hidden only): no KV cache, no graphs, no
  // sampling; attention runs causally over each packed sequence (varlen_attention), which
  // also takes head_dim 32.
  CudaBackend(std::unique_ptr<CausalLM> model, const EngineConfig& e, bool pooling = false);

  std::string name() const override { return "cuda"; }
  std::string compute_dtype() const override { return f32_ ? "float32" : "bfloat16"; }
  const ModelConfig& model_config() const override { return config_; }
  bool keeps_logit_rows() const override { return !pooling_ && keep_logit_rows_enabled(); }

  MemoryProfile profile(int32_t max_num_batched_tokens, int32_t max_num_seqs) override;
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;
  void forward_hidden(const ForwardBatch& batch, std::vector<float>& hidden) override;
  bool samples_on_device() const override { return sampling_enabled_; }
  bool forward_sampled(const ForwardBatch& batch, const StepSampling& sampling, SampledRows& out) override;
  // Off for PAGODA_CUDA_ASYNC=0 (timing what it saves) and with per-op timing, which reads
  // one step's events at a time.
  bool supports_async_sampling() const override { return sampling_enabled_ && async_enabled_ && !ops_.enabled(); }
  void launch_sampled(const ForwardBatch& batch, const StepSampling& sampling) override;
  void collect_sampled(SampledRows& out) override;

  size_t graphs_captured() const { return graphs_.size(); }
  size_t graph_replays() const { return graph_replays_; }
  CudaGemmPlans gemm_plans() const { return {gemm_.plans_made(), gemm_.plan_host_seconds()}; }
  size_t cascade_steps() const { return cascade_steps_; }
  StepDeviceTime last_step_device_time() override {
    const StepDeviceTime t = timer_.time_of(finished_timer_token_);
    finished_timer_token_ = -1;
    return t;
  }
  DeviceMemoryUse device_memory_use() override {
    note_memory();
    return DeviceMemoryUse{total_bytes_, peak_used_bytes_};
  }
  DeviceMemoryReport device_memory_report() override;

private:
  struct DecodeGraph {
    GraphExec exec;
    uint64_t generation = 0; // buffers_generation_ at capture
  };

  void check_supported(const EngineConfig& e) const;
  // Bytes of one activation, weight or KV element: bf16, or float32 on the float32 path.
  size_t elem_bytes() const { return f32_ ? sizeof(float) : sizeof(bf16); }
  // Bytes of one KV cache element: one e4m3 code with kv_cache_dtype fp8, else elem_bytes().
  size_t kv_elem_bytes() const { return kv_fp8_ ? 1 : elem_bytes(); }
  size_t kv_bytes_per_block(int32_t block_size) const {
    return size_t(2) * config_.num_hidden_layers * config_.kv_size() * block_size * kv_elem_bytes();
  }
  void grow(DeviceBuffer& buf, size_t bytes);
  void ensure_activations(int64_t tokens, int64_t logit_rows);
  size_t decode_workspace_bound(int32_t max_num_seqs) const;
  DecodePlan decode_plan(int num_seqs, int max_context) const {
    return plan_paged_attention_decode(num_seqs, config_.num_key_value_heads, config_.num_attention_heads, max_context,
                                       num_sms_, decode_options_);
  }
  // The decode graphs' plan for `padded` rows: decode_plan at max_model_len (partitions past a context exit at once),
  // its partitions capped at 256 tokens up to 32 rows (PAGODA_GRAPH_DECODE_PARTITION sets another cap for all).
  DecodePlan graph_decode_plan(int padded) const;
  void ensure_decode_workspace(const StepInputs& in);
  // placeholder_rows: how many rows the previously launched step samples (placeholder ids
  // -1 - r need r below it; 0: none allowed).
  void validate(const ForwardBatch& b, int placeholder_rows = 0) const;
  bool graph_eligible(const ForwardBatch& b) const;
  // The model file's forward on this step's inputs (cuda_model_ops.cpp): h_ holds the
  // final-normed hidden state of every token and, unless all_logits, rows_ the rows that
  // need logits.
  template <typename T> void run_model_as(const StepInputs& in);
  void run_model(const StepInputs& in) { f32_ ? run_model_as<float>(in) : run_model_as<bf16>(in); }
  void lm_head_rows(const void* rows, int m);
  // Uploads norms, biases and embeddings, and prepares each linear layer's kernel.
  void prepare_model();
  // cascade: the step's cascade group (cascade_group; null or prefix_blocks 0: plain decode attention).
  void forward_eager(const ForwardBatch& b, std::vector<float>& logits, const CascadeGroup* cascade = nullptr);
  void eager_step(const ForwardBatch& b, StepInputs& in, const CascadeGroup* cascade = nullptr);
  // Cascade attention's decision for a step (cascade_plan.h's plan_cascade_group) when the switch is
  // on: prefix_blocks > 0 when the step qualifies (>= 8 decodes in the group, >= 256 tokens). A step
  // that uses it runs eagerly: the decode graphs are captured without it.
  CascadeGroup cascade_group(const ForwardBatch& b) const;
  void graph_step(const ForwardBatch& b, int padded = 0);
  // Captures the decode graph of every padded batch size at load, so no step of a run pays
  // for a capture (tens of milliseconds each for an 8B model).
  void capture_decode_graphs();
  // Times the GEMM candidates of the model's five shapes at every decode graph size, over the
  // layers' own weights, so decode steps run the fastest kernel for their m.
  void tune_gemms();
  void tune_fp8_gemms(const std::vector<int>& sizes); // tune_gemms' W8A8 part
  // A layer's float GEMM shape with the activation buffers a step runs it on (x in, y out) and every layer's weight
  // of it (none where the layers are quantized: their kernels tune themselves). qkv, o_proj, gate_up, down.
  struct FloatGemm {
    const bf16* x;
    void* y;
    int n, k;
    std::vector<const bf16*> weights;
  };
  std::vector<FloatGemm> float_gemms() const;
  // Makes the float layers' cuBLASLt plans for every m a step with prompt tokens can bring, past the decode sizes
  // up to the token budget (at most 2,048), at load, each new configuration run once (CublasLt::prepare), so no
  // step waits on a heuristic search or a kernel's first load (PAGODA_PLAN_PROMPT_GEMMS=0: as each m comes).
  void plan_prompt_gemms();
  // Where the batch's placeholder ids (-1 - r) come from: placeholder_source_ (the ids the step launched before
  // samples, on the device) when the batch holds any, else null. The input upload fills them in as it copies.
  const int32_t* placeholder_ids_for(const ForwardBatch& b) const;
  // sample_rows_greedy's scratch, allocated with its counters zeroed at the first step that needs it.
  void* greedy_scratch();
  void allocate_cache_buffers(int32_t num_blocks, int32_t block_size);
  void capture(const StepInputs& in, DecodeGraph& graph);
  // Samples cudaMemGetInfo into the peak; called where device memory can grow.
  void note_memory();
  // Device memory in use now (total - free, device-wide).
  int64_t used_bytes() const;
  // Records the memory after a stage of the load (device_memory_report prints them).
  void note_stage(const char* name);

  template <typename T> friend class CudaOps;

  std::unique_ptr<CausalLM> model_;
  const ModelConfig& config_;
  RopeSpec rope_;
  int32_t profile_block_size_;
  int32_t max_model_len_;
  bool pooling_; // an embedder: forward_hidden only (see the constructor)
  int pooling_max_len_ = 0; // the longest sequence of the step forward_hidden runs
  bool f32_; // dtype "float32": every tensor float32
  bool kv_fp8_; // kv_cache_dtype "fp8" / "fp8_e4m3": the KV cache holds e4m3 codes (scale 1, as the CPU's)
  // W8A8 checkpoints whose every linear quantizes its input one way: the norms (but the final one)
  // and SiLU·mul write their bf16 outputs already fake-quantized from float32 (prepare_model;
  // by default; with PAGODA_W8A8_FUSED=0 the linears quantize).
  Fp8Fuse w8a8_fuse_ = Fp8Fuse::kNone;
  int w8a8_fuse_max_rows_ = 0; // steps of more tokens leave the quantizing to the linears
  bool graphs_enabled_ = false;
  // Cascade on (PAGODA_CASCADE_ATTENTION unset or 1) and a model it applies to: bf16 compute and KV cache, head_dim 64 / 128.
  bool cascade_enabled_ = false;
  DecodePlanOptions decode_options_; // decode_plan_switches(): the decode attention's plan switches
  size_t cascade_steps_ = 0;
  bool gemm_tune_enabled_ = true;
  size_t graph_replays_ = 0;
  bool sampling_enabled_ = false;
  int graph_max_seqs_ = 0;
  int device_ = 0;
  int num_sms_ = 0;
  Stream stream_;
  CublasLt gemm_;
  size_t weights_bytes_ = 0; // as uploaded
  DeviceBuffer inv_freq_;

  // Activations, grown to the largest step seen (profile() sizes them up front). x_ is the
  // residual stream, kept in float32 so rounding does not accumulate over the layers.
  DeviceBuffer x_, h_, o_, qkv_, attn_, gate_up_, act_, rows_, logits_;
  DeviceBuffer norm_sums_; // a split norm's tile sums (SplitNorm): kSplitNormMaxRows x hidden / 16 floats
  int64_t act_tokens_ = 0, act_rows_ = 0;
  DeviceBuffer decode_ws_;
  StepInputUploader inputs_;
  // Bumped whenever a buffer a graph may have captured is reallocated.
  uint64_t buffers_generation_ = 0;
  std::map<int, DecodeGraph> graphs_; // by padded batch size
  // A launched step's per-row settings in and ids / logprobs out (never captured by graphs):
  // two, so step N + 1 can be launched while step N's results are still on their way.
  struct SamplingSlot {
    PinnedBuffer host;
    DeviceBuffer device;
    Event done{false}; // recorded after the sampling kernel, which writes the results into `host`
    int n = 0, top_n = 0;
    size_t out_offset = 0;
    bool any_logprob = false, in_flight = false, launched = false;
    const int32_t* device_ids = nullptr; // where the sampled ids stay on the device
    int timer_token = -1;                // StepTimer's token for this step (-1: not timed)
  };
  SamplingSlot slots_[2];
  int next_slot_ = 0;
  std::deque<int> in_flight_; // slots launched and not collected, oldest first
  const int32_t* placeholder_source_ = nullptr; // while a launch uploads its inputs
  DeviceBuffer greedy_scratch_; // sample_rows_greedy's counters and partials (one stream uses them)
  bool async_enabled_ = true;

  DeviceBuffer k_cache_, v_cache_; // per layer [num_blocks, kv_heads, block_size, head_dim]
  int32_t num_blocks_ = 0;
  int32_t block_size_ = 0;

  StepTimer timer_; // device time of each forward / forward_sampled
  int finished_timer_token_ = -1; // the timer token of the step the engine takes results of next
  OpTimer ops_;     // per-op time of eager steps, when PAGODA_CUDA_OP_TIMING=1
  OpSkip skip_;     // ops left out, when PAGODA_CUDA_SKIP_OPS names them (a diagnostic)
  int64_t total_bytes_ = -1, peak_used_bytes_ = -1;
  std::chrono::steady_clock::time_point began_ = std::chrono::steady_clock::now();
  std::vector<MemoryStage> stages_;
};

} // namespace cuda
} // namespace pagoda
