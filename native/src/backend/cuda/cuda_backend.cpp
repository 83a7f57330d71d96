// CudaBackend::forward on one stream: embedding, then per layer RMSNorm → fused qkv GEMM
// (+bias, q/k norm, RoPE) → KV-cache write → paged attention (prefill tiles and split-K
// decode) → o_proj → fused residual add + RMSNorm → fused gate_up GEMM → SiLU·mul → down;
// the final norm on every token, lm_head (f32 out) on the rows that need logits. Decode-only
// steps can be replayed from CUDA graphs captured per padded batch size. Activations, weights
// and KV cache are bf16, or with dtype "float32" all float32 (the same steps through the
// kernels' float overloads, float32 GEMMs and attention_f32.cu), selected by the element type
// the layer code is instantiated for.
#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/device_weights.h"
#include "backend/cuda/kernels.h"
#include "model/rope_frequencies.h"
#include "backend/cuda/step_inputs.h"
#include "backend/cuda/op_timer.h"
#include "backend/cuda/step_timer.h"
#include "backend/cuda/stream.h"
#include "engine/engine_config.h"
#include "error.h"
#include "model/model_loader.h"

namespace pagoda {

namespace cuda {

namespace {

// Batch sizes decode graphs are captured for: powers of two to 8, then multiples of 8.
int graph_batch_size(int num_seqs) {
  if (num_seqs <= 8) {
    int b = 1;
    while (b < num_seqs) b *= 2;
    return b;
  }
  return (num_seqs + 7) / 8 * 8;
}

class CudaBackend : public Backend {
public:
  CudaBackend(ModelConfig config, const ModelWeights& weights, const EngineConfig& e)
      : config_(std::move(config)), rope_(rope_spec(config_)),
        profile_block_size_(e.block_size > 0 ? e.block_size : 16),
        max_model_len_(e.max_model_len > 0 ? e.max_model_len : config_.max_position_embeddings),
        f32_(e.dtype == "float32" || e.dtype == "float") {
    check_supported(e);
    // Decode graphs unless enforce_eager; PAGODA_CUDA_GRAPHS=0 also turns them off (timing
    // the launches they save).
    const char* graphs = std::getenv("PAGODA_CUDA_GRAPHS");
    graphs_enabled_ = !e.enforce_eager && !(graphs != nullptr && std::string(graphs) == "0");
    // Sampling on the GPU; PAGODA_CUDA_SAMPLING=0 sends float32 logits to the host sampler.
    const char* sampling = std::getenv("PAGODA_CUDA_SAMPLING");
    sampling_enabled_ = !(sampling != nullptr && std::string(sampling) == "0");
    const char* async = std::getenv("PAGODA_CUDA_ASYNC");
    async_enabled_ = !(async != nullptr && std::string(async) == "0");
    // PAGODA_CUDA_GEMM_TUNE=0: the untuned choice (cuBLASLt's first heuristic, skinny_gemm timed
    // against it on the first call), for timing what tuning saves.
    const char* tune = std::getenv("PAGODA_CUDA_GEMM_TUNE");
    gemm_tune_enabled_ = !(tune != nullptr && std::string(tune) == "0");
    graph_max_seqs_ = std::min(e.max_num_seqs > 0 ? e.max_num_seqs : 256, 256);
    PAGODA_CUDA_CHECK(cudaGetDevice(&device_));
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms_, cudaDevAttrMultiProcessorCount, device_));
    weights_ = upload_weights(config_, weights, stream_.get(), f32_);
    const std::vector<float> inv = rope_inv_freq(rope_, 0);
    inv_freq_ = DeviceBuffer(inv.size() * sizeof(float));
    PAGODA_CUDA_CHECK(cudaMemcpy(inv_freq_.data(), inv.data(), inv_freq_.bytes(), cudaMemcpyHostToDevice));
  }

  std::string name() const override { return "cuda"; }
  std::string compute_dtype() const override { return f32_ ? "float32" : "bfloat16"; }
  const ModelConfig& model_config() const override { return config_; }

  MemoryProfile profile(int32_t max_num_batched_tokens, int32_t max_num_seqs) override;
  void allocate_kv_cache(int32_t num_blocks, int32_t block_size) override;
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;
  bool samples_on_device() const override { return sampling_enabled_; }
  bool forward_sampled(const ForwardBatch& batch, const StepSampling& sampling, SampledRows& out) override;
  // Off for PAGODA_CUDA_ASYNC=0 (timing what it saves) and with per-op timing, which reads
  // one step's events at a time.
  bool supports_async_sampling() const override { return sampling_enabled_ && async_enabled_ && !ops_.enabled(); }
  void launch_sampled(const ForwardBatch& batch, const StepSampling& sampling) override;
  void collect_sampled(SampledRows& out) override;

  size_t graphs_captured() const { return graphs_.size(); }
  size_t graph_replays() const { return graph_replays_; }
  double last_step_device_ms() override { return timer_.last_ms(); }
  DeviceMemoryUse device_memory_use() override {
    note_memory();
    return DeviceMemoryUse{total_bytes_, peak_used_bytes_};
  }

private:
  struct DecodeGraph {
    GraphExec exec;
    uint64_t generation = 0; // buffers_generation_ at capture
  };

  void check_supported(const EngineConfig& e) const;
  // Bytes of one activation, weight or KV element: bf16, or float32 on the float32 path.
  size_t elem_bytes() const { return f32_ ? sizeof(float) : sizeof(bf16); }
  size_t kv_bytes_per_block(int32_t block_size) const {
    return size_t(2) * config_.num_hidden_layers * config_.kv_size() * block_size * elem_bytes();
  }
  void grow(DeviceBuffer& buf, size_t bytes);
  void ensure_activations(int64_t tokens, int64_t logit_rows);
  size_t decode_workspace_bound(int32_t max_num_seqs) const;
  DecodePlan decode_plan(int num_seqs, int max_context) const {
    return plan_paged_attention_decode(num_seqs, config_.num_key_value_heads, config_.num_attention_heads, max_context,
                                       num_sms_);
  }
  void ensure_decode_workspace(const StepInputs& in);
  // placeholder_rows: how many rows the previously launched step samples (placeholder ids
  // -1 - r need r below it; 0: none allowed).
  void validate(const ForwardBatch& b, int placeholder_rows = 0) const;
  bool graph_eligible(const ForwardBatch& b) const;
  template <typename T> void apply_rope(T* qkv, int64_t stride, const StepInputs& in);
  template <typename T> void run_layer(int li, const StepInputs& in);
  template <typename T> void run_model_as(const StepInputs& in);
  void run_model(const StepInputs& in) { f32_ ? run_model_as<float>(in) : run_model_as<bf16>(in); }
  // y = x · w^T with x, w, y of the path's element type.
  void project(const bf16* x, const bf16* w, bf16* y, int m, int n, int k) {
    gemm_.linear(x, w, y, GemmOutput::kBf16, m, n, k, stream_.get());
  }
  void project(const float* x, const float* w, float* y, int m, int n, int k) {
    gemm_.linear(x, w, y, m, n, k, stream_.get());
  }
  void lm_head_rows(const void* rows, int m);
  void forward_eager(const ForwardBatch& b, std::vector<float>& logits);
  void eager_step(const ForwardBatch& b, StepInputs& in);
  void graph_step(const ForwardBatch& b, int padded = 0);
  // Captures the decode graph of every padded batch size at load, so no step of a run pays
  // for a capture (tens of milliseconds each for an 8B model).
  void capture_decode_graphs();
  // Times the GEMM candidates of the model's five shapes at every decode graph size, over the
  // layers' own weights, so decode steps run the fastest kernel for their m.
  void tune_gemms();
  // The batch's placeholder ids, filled on the device from placeholder_source_ (the ids the
  // previously launched step samples), in the inputs just uploaded.
  void resolve_placeholders(const ForwardBatch& b, const StepInputs& in);
  void allocate_cache_buffers(int32_t num_blocks, int32_t block_size);
  void capture(const StepInputs& in, DecodeGraph& graph);
  // Samples cudaMemGetInfo into the peak; called where device memory can grow.
  void note_memory();

  ModelConfig config_;
  RopeSpec rope_;
  int32_t profile_block_size_;
  int32_t max_model_len_;
  bool f32_; // dtype "float32": every tensor float32
  bool graphs_enabled_ = false;
  bool gemm_tune_enabled_ = true;
  size_t graph_replays_ = 0;
  bool sampling_enabled_ = false;
  int graph_max_seqs_ = 0;
  int device_ = 0;
  int num_sms_ = 0;
  Stream stream_;
  CublasLt gemm_;
  DeviceWeights weights_;
  DeviceBuffer inv_freq_;

  // Activations, grown to the largest step seen (profile() sizes them up front). x_ is the
  // residual stream, kept in float32 so rounding does not accumulate over the layers.
  DeviceBuffer x_, h_, o_, qkv_, attn_, gate_up_, act_, rows_, logits_;
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
    Event done; // recorded after the results' copy to host
    int n = 0, top_n = 0;
    size_t out_offset = 0;
    bool any_logprob = false, in_flight = false, launched = false;
    const int32_t* device_ids = nullptr; // where the sampled ids stay on the device
  };
  SamplingSlot slots_[2];
  int next_slot_ = 0;
  std::deque<int> in_flight_; // slots launched and not collected, oldest first
  const int32_t* placeholder_source_ = nullptr; // while a launch uploads its inputs
  bool async_enabled_ = true;

  DeviceBuffer k_cache_, v_cache_; // per layer [num_blocks, kv_heads, block_size, head_dim]
  int32_t num_blocks_ = 0;
  int32_t block_size_ = 0;

  StepTimer timer_; // device time of each forward / forward_sampled
  OpTimer ops_;     // per-op time of eager steps, when PAGODA_CUDA_OP_TIMING=1
  int64_t total_bytes_ = -1, peak_used_bytes_ = -1;
};

void CudaBackend::note_memory() {
  size_t free_bytes = 0, total_bytes = 0;
  PAGODA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  total_bytes_ = static_cast<int64_t>(total_bytes);
  peak_used_bytes_ = std::max(peak_used_bytes_, static_cast<int64_t>(total_bytes - free_bytes));
}

void CudaBackend::check_supported(const EngineConfig& e) const {
  const ModelConfig& c = config_;
  const int hd = c.head_dim;
  // The float32 attention takes any head_dim to 256; the KV write moves 8 elements at a time.
  if (f32_ && (hd % 8 != 0 || hd > 256))
    throw Error("the CUDA backend's float32 path runs head_dim 8 to 256 in steps of 8; " + c.source +
                " has head_dim " + std::to_string(hd) + ": use device \"cpu\"");
  if (!f32_ && hd != 64 && hd != 128 && hd != 256)
    throw Error("the CUDA backend runs head_dim 64, 128 or 256 in bfloat16 (8 to 256 with dtype \"float32\"); " +
                c.source + " has head_dim " + std::to_string(hd) + ": use device \"cpu\" or dtype \"float32\"");
  if (c.hidden_size % 8)
    throw Error("the CUDA backend needs hidden_size divisible by 8 (" + c.source + " has " +
                std::to_string(c.hidden_size) + "): use device \"cpu\"");
  if (e.dtype != "auto" && e.dtype != "bfloat16" && !f32_)
    throw Error("the CUDA backend computes in bfloat16 or float32; dtype \"" + e.dtype +
                "\" is not supported: use dtype \"auto\", \"bfloat16\" or \"float32\", or device \"cpu\"");
  if (e.kv_cache_dtype != "auto" && e.kv_cache_dtype != "bfloat16")
    throw Error("kv_cache_dtype \"" + e.kv_cache_dtype + "\" is not supported by the CUDA backend; use \"auto\"");
  if (c.sliding_window > 0 && c.sliding_window < max_model_len_)
    throw Error("sliding-window attention (window " + std::to_string(c.sliding_window) +
                ") is not in the CUDA backend yet; set max_model_len to at most " + std::to_string(c.sliding_window) +
                " or use device \"cpu\"");
  if (e.tensor_parallel_size != 1 || e.pipeline_parallel_size != 1)
    throw Error("the CUDA backend runs on one GPU; set tensor_parallel_size and pipeline_parallel_size to 1");
}

void CudaBackend::grow(DeviceBuffer& buf, size_t bytes) {
  if (buf.bytes() >= bytes) return;
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream_.get())); // the old buffer may still be in use
  buf = DeviceBuffer();
  buf = DeviceBuffer(bytes);
  ++buffers_generation_;
  note_memory();
}

void CudaBackend::ensure_activations(int64_t tokens, int64_t logit_rows) {
  const ModelConfig& c = config_;
  if (tokens > act_tokens_) {
    const size_t t = static_cast<size_t>(tokens), e = elem_bytes();
    grow(x_, t * c.hidden_size * sizeof(float)); // float32 residual stream
    grow(h_, t * c.hidden_size * e);
    grow(o_, t * c.hidden_size * e);
    grow(qkv_, t * (c.q_size() + 2 * c.kv_size()) * e);
    grow(attn_, t * c.q_size() * e);
    grow(gate_up_, t * 2 * c.intermediate_size * e);
    grow(act_, t * c.intermediate_size * e);
    act_tokens_ = tokens;
  }
  if (logit_rows > act_rows_) {
    grow(rows_, static_cast<size_t>(logit_rows) * c.hidden_size * elem_bytes());
    grow(logits_, static_cast<size_t>(logit_rows) * c.vocab_size * sizeof(float));
    act_rows_ = logit_rows;
  }
}

// The largest decode workspace any batch of up to max_num_seqs sequences of up to
// max_model_len tokens can ask for (the plan's partition shrinks for small batches).
size_t CudaBackend::decode_workspace_bound(int32_t max_num_seqs) const {
  size_t most = 0;
  for (int32_t n = 1;; n = std::min(n * 2, max_num_seqs)) {
    const DecodePlan plan = decode_plan(n, max_model_len_);
    most = std::max(most, paged_attention_decode_workspace_bytes(plan, n, config_.num_attention_heads, config_.head_dim));
    if (n == max_num_seqs) break;
  }
  return most;
}

void CudaBackend::ensure_decode_workspace(const StepInputs& in) {
  if (in.num_decode == 0 || f32_) return; // attention_f32 needs no workspace
  grow(decode_ws_, paged_attention_decode_workspace_bytes(in.decode_plan, in.num_decode, config_.num_attention_heads,
                                                          config_.head_dim));
}

MemoryProfile CudaBackend::profile(int32_t max_num_batched_tokens, int32_t max_num_seqs) {
  if (max_num_batched_tokens <= 0 || max_num_seqs <= 0)
    throw Error("profile: max_num_batched_tokens and max_num_seqs must be positive");
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
  ensure_activations(std::max(max_num_batched_tokens, graph_batch_size(graph_max_seqs_)), max_num_seqs);
  if (!f32_) grow(decode_ws_, decode_workspace_bound(std::max(max_num_seqs, graph_batch_size(graph_max_seqs_))));

  // A real forward of one max_num_batched_tokens prefill, through a temporary KV cache just
  // large enough for it, so cuBLASLt and the kernels allocate what they will need.
  const bool had_cache = num_blocks_ > 0;
  const int32_t bs = had_cache ? block_size_ : profile_block_size_;
  const int32_t blocks = (max_num_batched_tokens + bs - 1) / bs;
  size_t temp_kv = 0;
  if (!had_cache) {
    allocate_cache_buffers(blocks, bs);
    temp_kv = k_cache_.bytes() + v_cache_.bytes();
  }
  if (num_blocks_ >= blocks) {
    ForwardBatch b;
    for (int32_t t = 0; t < max_num_batched_tokens; ++t) {
      b.token_ids.push_back(t % config_.vocab_size);
      b.positions.push_back(t);
      b.slot_mapping.push_back(t);
    }
    b.query_start = {0, max_num_batched_tokens};
    b.context_lens = {max_num_batched_tokens};
    b.max_blocks_per_seq = blocks;
    for (int32_t i = 0; i < blocks; ++i) b.block_tables.push_back(i);
    std::vector<float> logits;
    forward_eager(b, logits);
  }
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
  size_t free_bytes = 0, total_bytes = 0;
  PAGODA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  total_bytes_ = static_cast<int64_t>(total_bytes);
  peak_used_bytes_ = std::max(peak_used_bytes_, static_cast<int64_t>(total_bytes - free_bytes));
  if (!had_cache) {
    k_cache_ = DeviceBuffer();
    v_cache_ = DeviceBuffer();
    num_blocks_ = 0;
    block_size_ = 0;
    ++buffers_generation_;
  }
  MemoryProfile p;
  p.total_bytes = total_bytes;
  p.weights_bytes = weights_.bytes;
  // Everything else in use at the peak: the CUDA context, cuBLASLt, activations, workspaces
  // (and whatever other processes hold on this GPU), without the temporary cache.
  const size_t used = total_bytes - free_bytes;
  const size_t others = weights_.bytes + temp_kv;
  p.peak_activation_bytes = used > others ? used - others : 0;
  p.kv_bytes_per_block = kv_bytes_per_block(profile_block_size_);
  return p;
}

void CudaBackend::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  allocate_cache_buffers(num_blocks, block_size);
  tune_gemms();
  capture_decode_graphs();
}

void CudaBackend::tune_gemms() {
  if (f32_ || !gemm_tune_enabled_) return;
  const ModelConfig& c = config_;
  // Decode sizes only: from m 384 up cuBLASLt's first choice was within 5% of the best in
  // the kernel bench (`cuda_kernel_bench tune`), and timing those shapes would add seconds to the load.
  std::vector<int> sizes;
  for (int m = 1; m <= graph_batch_size(graph_max_seqs_); m = graph_batch_size(m + 1)) sizes.push_back(m);
  std::vector<const bf16*> qkv, o, gate_up, down;
  for (const DeviceLayer& w : weights_.layers) {
    qkv.push_back(w.qkv.as<bf16>());
    o.push_back(w.o.as<bf16>());
    gate_up.push_back(w.gate_up.as<bf16>());
    down.push_back(w.down.as<bf16>());
  }
  const int qkv_width = c.q_size() + 2 * c.kv_size();
  cudaStream_t st = stream_.get();
  for (int m : sizes) {
    if (m > act_tokens_) break; // activations not sized for it (no profile() before the cache)
    gemm_.tune(h_.as<bf16>(), qkv, qkv_.data(), GemmOutput::kBf16, m, qkv_width, c.hidden_size, st);
    gemm_.tune(attn_.as<bf16>(), o, o_.data(), GemmOutput::kBf16, m, c.hidden_size, c.q_size(), st);
    gemm_.tune(h_.as<bf16>(), gate_up, gate_up_.data(), GemmOutput::kBf16, m, 2 * c.intermediate_size,
               c.hidden_size, st);
    gemm_.tune(act_.as<bf16>(), down, o_.data(), GemmOutput::kBf16, m, c.hidden_size, c.intermediate_size, st);
    if (m <= act_rows_)
      gemm_.tune(rows_.as<bf16>(), {weights_.lm_head_ptr()}, logits_.data(), GemmOutput::kF32, m, c.vocab_size,
                 c.hidden_size, st);
  }
}

void CudaBackend::capture_decode_graphs() {
  if (!graphs_enabled_ || rope_.type == "dynamic") return;
  // One real sequence (token 0 at position 0, written to slot 0: block 0 is rewritten by
  // whichever sequence is given it before anything reads it), padded to each size.
  ForwardBatch b;
  b.token_ids = {0};
  b.positions = {0};
  b.slot_mapping = {0};
  b.query_start = {0, 1};
  b.context_lens = {1};
  b.max_blocks_per_seq = 1;
  b.block_tables = {0};
  const int largest = graph_batch_size(graph_max_seqs_);
  for (int size = 1; size <= largest; size = graph_batch_size(size + 1)) graph_step(b, size);
  stream_.synchronize();
}

void CudaBackend::resolve_placeholders(const ForwardBatch& b, const StepInputs& in) {
  if (placeholder_source_ == nullptr ||
      std::none_of(b.token_ids.begin(), b.token_ids.end(), [](int32_t id) { return id < 0; }))
    return;
  // The inputs live in this backend's own device buffers (StepInputs hands them out const).
  resolve_placeholder_ids(const_cast<int32_t*>(in.token_ids), in.num_tokens, placeholder_source_, stream_.get());
}

void CudaBackend::allocate_cache_buffers(int32_t num_blocks, int32_t block_size) {
  if (num_blocks <= 0 || block_size <= 0)
    throw Error("allocate_kv_cache: num_blocks (" + std::to_string(num_blocks) + ") and block_size (" +
                std::to_string(block_size) + ") must be positive");
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  k_cache_ = DeviceBuffer();
  v_cache_ = DeviceBuffer();
  ++buffers_generation_;
  const size_t half = kv_bytes_per_block(block_size) / 2 * static_cast<size_t>(num_blocks);
  try {
    k_cache_ = DeviceBuffer(half);
    v_cache_ = DeviceBuffer(half);
  } catch (const Error& e) {
    k_cache_ = DeviceBuffer();
    throw Error("allocating the KV cache (" + std::to_string(num_blocks) + " blocks, " + std::to_string(2 * half) +
                " bytes) failed: " + e.what() + "; lower gpu_memory_utilization or num_gpu_blocks_override");
  }
  // Zeroed so that padding sequences of a graph batch, which read block 0, read numbers.
  PAGODA_CUDA_CHECK(cudaMemsetAsync(k_cache_.data(), 0, half, stream_.get()));
  PAGODA_CUDA_CHECK(cudaMemsetAsync(v_cache_.data(), 0, half, stream_.get()));
  num_blocks_ = num_blocks;
  block_size_ = block_size;
  if (graphs_enabled_) inputs_.reserve_fixed(graph_batch_size(graph_max_seqs_), (max_model_len_ + block_size - 1) / block_size);
  note_memory();
}

void CudaBackend::validate(const ForwardBatch& b, int placeholder_rows) const {
  if (num_blocks_ == 0) throw Error("forward called before allocate_kv_cache");
  const int32_t n = b.num_tokens(), s = b.num_seqs();
  if (n == 0 || s == 0) throw Error("forward: empty batch");
  if (b.positions.size() != size_t(n) || b.slot_mapping.size() != size_t(n) || b.query_start.size() != size_t(s) + 1 ||
      b.query_start.front() != 0 || b.query_start.back() != n ||
      b.block_tables.size() != size_t(s) * size_t(b.max_blocks_per_seq))
    throw Error("forward: inconsistent ForwardBatch sizes (positions, slot_mapping, query_start, block_tables)");
  const int64_t slots = int64_t(num_blocks_) * block_size_;
  for (int32_t seq = 0; seq < s; ++seq) {
    const int32_t q_len = b.query_start[seq + 1] - b.query_start[seq];
    const int32_t ctx = b.context_lens[seq];
    if (q_len <= 0 || ctx < q_len)
      throw Error("forward: sequence " + std::to_string(seq) + " has " + std::to_string(q_len) +
                  " new tokens and context_len " + std::to_string(ctx) + " (need 1 <= new tokens <= context_len)");
    if (ctx > int64_t(b.max_blocks_per_seq) * block_size_)
      throw Error("forward: context_len " + std::to_string(ctx) + " exceeds the sequence's block table");
    for (int32_t blk = 0; blk < (ctx + block_size_ - 1) / block_size_; ++blk) {
      const int32_t id = b.block_tables[size_t(seq) * b.max_blocks_per_seq + blk];
      if (id < 0 || id >= num_blocks_) throw Error("forward: block table entry " + std::to_string(id) + " out of range");
    }
  }
  for (int32_t t = 0; t < n; ++t) {
    const int32_t id = b.token_ids[t];
    if (id < 0 && -1 - id < placeholder_rows) continue; // filled from the previous step's ids
    if (id < 0 || id >= config_.vocab_size)
      throw Error("forward: token id " + std::to_string(id) + " outside the vocabulary of " +
                  std::to_string(config_.vocab_size));
    if (b.slot_mapping[t] >= slots) throw Error("forward: slot " + std::to_string(b.slot_mapping[t]) + " out of range");
  }
}

template <typename T> void CudaBackend::apply_rope(T* qkv, int64_t stride, const StepInputs& in) {
  const ModelConfig& c = config_;
  T* k = qkv + c.q_size();
  const bool per_seq = std::any_of(in.seq_inv_freq.begin(), in.seq_inv_freq.end(), [](const float* f) { return f; });
  if (!per_seq) {
    rope_neox(qkv, k, stride, in.positions, inv_freq_.as<float>(), in.num_tokens, c.num_attention_heads,
              c.num_key_value_heads, c.head_dim, rope_.rotary_dim, stream_.get());
    return;
  }
  for (int32_t seq = 0; seq < in.num_seqs; ++seq) {
    const int32_t t0 = in.host_query_start[seq], len = in.host_query_start[seq + 1] - t0;
    const float* freq = in.seq_inv_freq[seq] ? in.seq_inv_freq[seq] : inv_freq_.as<float>();
    rope_neox(qkv + int64_t(t0) * stride, k + int64_t(t0) * stride, stride, in.positions + t0, freq, len,
              c.num_attention_heads, c.num_key_value_heads, c.head_dim, rope_.rotary_dim, stream_.get());
  }
}

template <typename T> void CudaBackend::run_layer(int li, const StepInputs& in) {
  const ModelConfig& c = config_;
  const DeviceLayer& w = weights_.layers[li];
  const int n = in.num_tokens;
  const int hidden = c.hidden_size, hd = c.head_dim;
  const int qkv_width = c.q_size() + 2 * c.kv_size();
  const float eps = static_cast<float>(c.rms_norm_eps);
  cudaStream_t st = stream_.get();
  T* qkv = qkv_.as<T>();

  project(h_.as<T>(), w.qkv.as<T>(), qkv, n, qkv_width, hidden);
  ops_.mark(st, "qkv_proj");
  if (w.qkv_bias.bytes()) bias_add(qkv, w.qkv_bias.as<T>(), n, qkv_width, st);
  if (c.qk_norm) {
    rms_norm_heads(qkv, w.q_norm.as<T>(), n, c.num_attention_heads, hd, qkv_width, eps, st);
    rms_norm_heads(qkv + c.q_size(), w.k_norm.as<T>(), n, c.num_key_value_heads, hd, qkv_width, eps, st);
  }
  apply_rope(qkv, qkv_width, in);
  ops_.mark(st, "bias+qk_norm+rope");

  const size_t layer_elems = k_cache_.bytes() / sizeof(T) / c.num_hidden_layers;
  T* k_cache = k_cache_.as<T>() + li * layer_elems;
  T* v_cache = v_cache_.as<T>() + li * layer_elems;
  kv_cache_write(qkv + c.q_size(), qkv + c.q_size() + c.kv_size(), qkv_width, in.slots, k_cache, v_cache, n,
                 c.num_key_value_heads, hd, block_size_, st);
  ops_.mark(st, "kv_cache_write");

  PagedAttentionArgsOf<T> a;
  a.q = qkv;
  a.q_token_stride = qkv_width;
  a.k_cache = k_cache;
  a.v_cache = v_cache;
  a.out = attn_.as<T>();
  a.query_start = in.query_start;
  a.context_lens = in.context_lens;
  a.block_tables = in.block_tables;
  a.max_blocks_per_seq = in.max_blocks_per_seq;
  a.num_q_heads = c.num_attention_heads;
  a.num_kv_heads = c.num_key_value_heads;
  a.head_dim = hd;
  a.block_size = block_size_;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  if constexpr (std::is_same_v<T, float>) {
    // One kernel for every token (prefill rows and decode rows alike); no tiles, no plan.
    paged_attention_f32(a, n, in.num_seqs, st);
  } else {
    if (in.num_tiles) paged_attention_prefill(a, in.tiles, in.num_tiles, st);
    ops_.mark(st, "attention_prefill");
    if (in.num_decode)
      paged_attention_decode(a, in.decode_ids, in.num_decode, in.decode_plan, decode_ws_.data(), decode_ws_.bytes(),
                             st);
  }

  ops_.mark(st, "attention_decode");
  project(attn_.as<T>(), w.o.as<T>(), o_.as<T>(), n, hidden, c.q_size());
  ops_.mark(st, "o_proj");
  if (w.o_bias.bytes()) bias_add(o_.as<T>(), w.o_bias.as<T>(), n, hidden, st);
  add_rms_norm(x_.as<float>(), o_.as<T>(), w.post_norm.as<T>(), h_.as<T>(), n, hidden, eps, st);
  ops_.mark(st, "add_rms_norm");

  project(h_.as<T>(), w.gate_up.as<T>(), gate_up_.as<T>(), n, 2 * c.intermediate_size, hidden);
  ops_.mark(st, "gate_up_proj");
  silu_mul(gate_up_.as<T>(), act_.as<T>(), n, c.intermediate_size, st);
  ops_.mark(st, "silu_mul");
  project(act_.as<T>(), w.down.as<T>(), o_.as<T>(), n, hidden, c.intermediate_size);
  ops_.mark(st, "down_proj");
  // The residual add of this layer's MLP is fused with the next norm (the next layer's
  // input norm, or the final norm).
  const T* next_norm = li + 1 < c.num_hidden_layers ? weights_.layers[li + 1].input_norm.as<T>()
                                                     : weights_.norm.as<T>();
  add_rms_norm(x_.as<float>(), o_.as<T>(), next_norm, h_.as<T>(), n, hidden, eps, st);
  ops_.mark(st, "add_rms_norm");
}

// Embedding through every layer: h_ holds the final-normed hidden state of every token, and
// unless all_logits, rows_ the rows that need logits.
template <typename T> void CudaBackend::run_model_as(const StepInputs& in) {
  const ModelConfig& c = config_;
  cudaStream_t st = stream_.get();
  embedding_gather(in.token_ids, weights_.embed.as<T>(), x_.as<float>(), in.num_tokens, c.hidden_size, c.vocab_size,
                   st);
  rms_norm(x_.as<float>(), weights_.layers[0].input_norm.as<T>(), h_.as<T>(), in.num_tokens, c.hidden_size,
           static_cast<float>(c.rms_norm_eps), st);
  ops_.mark(st, "embedding+norm");
  for (int li = 0; li < c.num_hidden_layers; ++li) run_layer<T>(li, in);
  if (!in.all_logits)
    embedding_gather(in.logit_rows, h_.as<T>(), rows_.as<T>(), in.num_logit_rows, c.hidden_size, in.num_tokens, st);
  ops_.mark(st, "gather_logit_rows");
}

// logits_[0..m) = rows[0..m) · lm_head^T in float32 (rows of the path's element type).
void CudaBackend::lm_head_rows(const void* rows, int m) {
  if (f32_)
    gemm_.linear(static_cast<const float*>(rows), weights_.lm_head_as<float>(), logits_.as<float>(), m,
                 config_.vocab_size, config_.hidden_size, stream_.get());
  else
    gemm_.linear(static_cast<const bf16*>(rows), weights_.lm_head_ptr(), logits_.data(), GemmOutput::kF32, m,
                 config_.vocab_size, config_.hidden_size, stream_.get());
}

bool CudaBackend::graph_eligible(const ForwardBatch& b) const {
  return graphs_enabled_ && !b.all_logits && rope_.type != "dynamic" && b.num_tokens() == b.num_seqs() &&
         b.num_seqs() <= graph_max_seqs_ && b.max_blocks_per_seq <= inputs_.fixed_max_blocks();
}

void CudaBackend::forward(const ForwardBatch& b, std::vector<float>& logits) {
  validate(b);
  timer_.begin(stream_.get());
  if (!graph_eligible(b)) {
    forward_eager(b, logits);
    return;
  }
  graph_step(b);
  logits.resize(static_cast<size_t>(b.num_seqs()) * config_.vocab_size);
  PAGODA_CUDA_CHECK(cudaMemcpyAsync(logits.data(), logits_.data(), logits.size() * sizeof(float),
                                    cudaMemcpyDeviceToHost, stream_.get()));
  timer_.end(stream_.get());
  stream_.synchronize();
}

// Uploads the inputs and runs the model: h_ (all_logits) or rows_ hold the rows to project.
void CudaBackend::eager_step(const ForwardBatch& b, StepInputs& in) {
  ensure_activations(b.num_tokens(), b.all_logits ? std::max<int64_t>(act_rows_, 1) : b.num_seqs());
  ops_.begin(stream_.get(), b.num_tokens() > b.num_seqs() ? "prefill-step" : "decode-step");
  in = inputs_.upload(b, rope_, stream_.get());
  resolve_placeholders(b, in);
  ops_.mark(stream_.get(), "inputs_upload");
  if (in.num_decode) in.decode_plan = decode_plan(in.num_decode, in.decode_max_context);
  ensure_decode_workspace(in);
  run_model(in);
}

void CudaBackend::forward_eager(const ForwardBatch& b, std::vector<float>& logits) {
  const ModelConfig& c = config_;
  cudaStream_t st = stream_.get();
  StepInputs in;
  eager_step(b, in);
  // lm_head in chunks of the logits buffer's rows.
  const int64_t rows = b.all_logits ? b.num_tokens() : in.num_logit_rows;
  const char* src = b.all_logits ? h_.as<char>() : rows_.as<char>();
  logits.resize(static_cast<size_t>(rows) * c.vocab_size);
  for (int64_t r0 = 0; r0 < rows; r0 += act_rows_) {
    const int m = static_cast<int>(std::min<int64_t>(act_rows_, rows - r0));
    lm_head_rows(src + r0 * c.hidden_size * elem_bytes(), m);
    ops_.mark(st, "lm_head");
    PAGODA_CUDA_CHECK(cudaMemcpyAsync(logits.data() + r0 * c.vocab_size, logits_.data(),
                                      size_t(m) * c.vocab_size * sizeof(float), cudaMemcpyDeviceToHost, st));
    ops_.mark(st, "logits_to_host");
  }
  timer_.end(st);
  stream_.synchronize();
  ops_.end();
}

// A decode-only step: inputs into the fixed buffers, padded to a captured batch size (by
// default the smallest that holds the batch), then one graph launch for the whole model and
// lm_head (logits_ rows 0..num_seqs are the batch's).
void CudaBackend::graph_step(const ForwardBatch& b, int padded) {
  cudaStream_t st = stream_.get();
  if (padded <= 0) padded = graph_batch_size(b.num_seqs());
  ensure_activations(padded, padded);
  StepInputs in = inputs_.upload_padded_decode(b, padded, st);
  resolve_placeholders(b, in);
  in.decode_plan = decode_plan(padded, max_model_len_); // fixed: partitions past a context exit at once
  ensure_decode_workspace(in);
  DecodeGraph& graph = graphs_[padded];
  if (!graph.exec || graph.generation != buffers_generation_) capture(in, graph);
  graph.exec.launch(st);
  ++graph_replays_;
}

bool CudaBackend::forward_sampled(const ForwardBatch& b, const StepSampling& sampling, SampledRows& out) {
  if (!sampling_enabled_ || b.all_logits) return false;
  launch_sampled(b, sampling);
  collect_sampled(out);
  return true;
}

// The step as forward() runs it, then sample_rows on the logits rows, all enqueued: only the
// settings and the penalty adjustments go up and the ids (and logprobs) come back, into the
// step's slot. A slot is one buffer each side: [params n][adjustments a][token masks m][ids n][logprobs n]
// [top ids n x t][top logprobs n x t] (the device's also [raw logits a] after), t the most
// top logprobs any row asked for. Placeholder ids (-1 - r) are filled on the device from the
// ids of the step launched before.
void CudaBackend::launch_sampled(const ForwardBatch& b, const StepSampling& sampling) {
  if (!sampling_enabled_ || b.all_logits) throw Error("launch_sampled: sampling on the device is off for this batch");
  SamplingSlot& slot = slots_[next_slot_];
  if (slot.in_flight) throw Error("launch_sampled: two steps are already in flight; collect one first");
  const SamplingSlot& previous = slots_[next_slot_ ^ 1];
  validate(b, previous.launched ? previous.n : 0);
  const std::vector<RowSampling>& rows = sampling.rows;
  const int n = b.num_seqs();
  if (rows.size() != static_cast<size_t>(n))
    throw Error("launch_sampled: " + std::to_string(rows.size()) + " sampling rows for " + std::to_string(n) +
                " sequences");
  const size_t num_adjust = sampling.adjustments.size();
  for (const RowSampling& row : rows)
    if (row.adjust_begin < 0 || row.adjust_end < row.adjust_begin || static_cast<size_t>(row.adjust_end) > num_adjust)
      throw Error("launch_sampled: a row's adjustments lie outside the step's list");
  cudaStream_t st = stream_.get();
  timer_.begin(st);
  placeholder_source_ = previous.launched ? previous.device_ids : nullptr;
  if (graph_eligible(b)) {
    graph_step(b);
  } else {
    StepInputs in;
    eager_step(b, in);
    lm_head_rows(rows_.data(), in.num_logit_rows);
    ops_.mark(st, "lm_head");
  }
  placeholder_source_ = nullptr;
  int top_n = 0;
  for (const RowSampling& row : rows) top_n = std::max(top_n, row.want_logprob ? row.top_logprobs : 0);
  const size_t mask_words = static_cast<size_t>(sampling.mask_words);
  const size_t num_mask_words = sampling.token_masks.size();
  for (const RowSampling& row : rows)
    if (row.mask_row >= 0 && (mask_words == 0 || (size_t(row.mask_row) + 1) * mask_words > num_mask_words))
      throw Error("launch_sampled: a row's token mask lies outside the step's masks");
  // Masks go up only when a row has one: unconstrained steps upload what they did before.
  const size_t param_bytes = size_t(n) * sizeof(DeviceRowSampling) + num_adjust * sizeof(LogitAdjustment) +
                             num_mask_words * sizeof(uint32_t);
  const size_t bytes = param_bytes + size_t(n) * (1 + top_n) * (sizeof(int32_t) + sizeof(float));
  const size_t device_bytes = bytes + num_adjust * sizeof(float);
  if (slot.host.bytes() < bytes || slot.device.bytes() < device_bytes) {
    const size_t grown = std::max(device_bytes, size_t(256) * (sizeof(DeviceRowSampling) + 8));
    slot.host = PinnedBuffer(grown);
    slot.device = DeviceBuffer(grown);
    note_memory();
  }
  auto* params = static_cast<DeviceRowSampling*>(slot.host.data());
  slot.any_logprob = false;
  for (int r = 0; r < n; ++r) {
    const RowSampling& row = rows[r];
    params[r] = DeviceRowSampling{row.temperature,     row.top_k,          row.top_p,
                                  row.min_p,           static_cast<float>(row.uniform),
                                  row.want_logprob ? 1 : 0, row.want_logprob ? row.top_logprobs : 0,
                                  row.adjust_begin,    row.adjust_end,
                                  row.mask_row};
    slot.any_logprob = slot.any_logprob || row.want_logprob;
  }
  if (num_adjust)
    std::memcpy(params + n, sampling.adjustments.data(), num_adjust * sizeof(LogitAdjustment));
  const size_t mask_offset = size_t(n) * sizeof(DeviceRowSampling) + num_adjust * sizeof(LogitAdjustment);
  if (num_mask_words)
    std::memcpy(static_cast<char*>(slot.host.data()) + mask_offset, sampling.token_masks.data(),
                num_mask_words * sizeof(uint32_t));
  char* dev = slot.device.as<char>();
  PAGODA_CUDA_CHECK(cudaMemcpyAsync(dev, params, param_bytes, cudaMemcpyHostToDevice, st));
  auto* dev_adjust = reinterpret_cast<const LogitAdjustment*>(dev + size_t(n) * sizeof(DeviceRowSampling));
  auto* dev_ids = reinterpret_cast<int32_t*>(dev + param_bytes);
  auto* dev_logprobs = reinterpret_cast<float*>(dev_ids + n);
  auto* dev_top_ids = reinterpret_cast<int32_t*>(dev_logprobs + n);
  auto* dev_top_logprobs = reinterpret_cast<float*>(dev_top_ids + size_t(n) * top_n);
  auto* dev_raw = reinterpret_cast<float*>(dev + bytes);
  const auto* dev_masks = num_mask_words ? reinterpret_cast<const uint32_t*>(dev + mask_offset) : nullptr;
  sample_rows(logits_.as<float>(), reinterpret_cast<const DeviceRowSampling*>(dev), dev_adjust, dev_raw, dev_masks,
              static_cast<int>(mask_words), SampleOutputs{dev_ids, dev_logprobs, dev_top_ids, dev_top_logprobs, top_n}, n, config_.vocab_size, st);
  ops_.mark(st, "sampling");
  PAGODA_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(slot.host.data()) + param_bytes, dev + param_bytes,
                                    bytes - param_bytes, cudaMemcpyDeviceToHost, st));
  PAGODA_CUDA_CHECK(cudaEventRecord(slot.done.get(), st));
  timer_.end(st);
  slot.n = n;
  slot.top_n = top_n;
  slot.out_offset = param_bytes;
  slot.device_ids = dev_ids;
  slot.in_flight = slot.launched = true;
  in_flight_.push_back(next_slot_);
  next_slot_ ^= 1;
}

void CudaBackend::collect_sampled(SampledRows& out) {
  if (in_flight_.empty()) throw Error("collect_sampled: no step is in flight");
  SamplingSlot& slot = slots_[in_flight_.front()];
  in_flight_.pop_front();
  slot.in_flight = false;
  PAGODA_CUDA_CHECK(cudaEventSynchronize(slot.done.get()));
  ops_.end();
  const int n = slot.n, top_n = slot.top_n;
  const auto* ids = reinterpret_cast<const int32_t*>(static_cast<const char*>(slot.host.data()) + slot.out_offset);
  const auto* logprobs = reinterpret_cast<const float*>(ids + n);
  const auto* top_ids = reinterpret_cast<const int32_t*>(logprobs + n);
  const auto* top_logprobs = reinterpret_cast<const float*>(top_ids + size_t(n) * top_n);
  out.token_ids.assign(ids, ids + n);
  if (slot.any_logprob) out.logprobs.assign(logprobs, logprobs + n);
  else out.logprobs.clear();
  out.top_n = top_n;
  out.top_ids.assign(top_ids, top_ids + size_t(n) * top_n);
  out.top_logprobs.assign(top_logprobs, top_logprobs + size_t(n) * top_n);
}

// Runs the step once eagerly (GEMM kernel choices and kernel attributes are settled outside
// the capture; the KV writes are the same values the graph then writes again), then captures.
void CudaBackend::capture(const StepInputs& in, DecodeGraph& graph) {
  cudaStream_t st = stream_.get();
  ops_.pause();
  run_model(in);
  lm_head_rows(rows_.data(), in.num_logit_rows);
  stream_.synchronize();
  cudaGraph_t captured = nullptr;
  PAGODA_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  try {
    run_model(in);
    lm_head_rows(rows_.data(), in.num_logit_rows);
  } catch (...) {
    cudaStreamEndCapture(st, &captured);
    if (captured) cudaGraphDestroy(captured);
    throw;
  }
  PAGODA_CUDA_CHECK(cudaStreamEndCapture(st, &captured));
  GraphExec exec(captured);
  cudaGraphDestroy(captured);
  graph.exec = std::move(exec);
  graph.generation = buffers_generation_;
  note_memory();
}

} // namespace

} // namespace cuda

std::unique_ptr<Backend> create_cuda_backend(const EngineConfig& engine_config) {
  LoadedModel m = load_model(engine_config);
  return std::make_unique<cuda::CudaBackend>(std::move(m.config), m.weights, engine_config);
}

size_t cuda_graphs_captured(const Backend& backend) {
  const auto* cuda_backend = dynamic_cast<const cuda::CudaBackend*>(&backend);
  return cuda_backend ? cuda_backend->graphs_captured() : 0;
}

size_t cuda_graph_replays(const Backend& backend) {
  const auto* cuda_backend = dynamic_cast<const cuda::CudaBackend*>(&backend);
  return cuda_backend ? cuda_backend->graph_replays() : 0;
}

} // namespace pagoda
