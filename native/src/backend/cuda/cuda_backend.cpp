// CudaBackend: load (the model file's parameters uploaded and each linear layer's kernel
// prepared), the switches read from the environment, memory profiling, the KV cache, batch
// checks, and forward(): a decode graph replay or an eager step, then lm_head and the logits
// copied back. The step's kernels come from the model file through CudaOps
// (cuda_model_ops.cpp); graphs, device sampling and GEMM tuning live in their own files.
#include "backend/cuda/cuda_backend.h"

#include <cstring>

#include "backend/cuda/cascade_plan.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_pooling.h"
#include "backend/cuda/head_dims.h"
#include "engine/engine_config.h"
#include "error.h"
#include "model/model_loader.h"

namespace pagoda {

namespace cuda {

CudaBackend::CudaBackend(std::unique_ptr<CausalLM> model, const EngineConfig& e, bool pooling)
    : model_(std::move(model)), config_(model_->config()), rope_(rope_spec(config_)),
      profile_block_size_(e.block_size > 0 ? e.block_size : 16),
      max_model_len_(e.max_model_len > 0 ? e.max_model_len : config_.max_position_embeddings), pooling_(pooling),
      f32_(e.dtype == "float32" || e.dtype == "float"),
      kv_fp8_(e.kv_cache_dtype == "fp8" || e.kv_cache_dtype == "fp8_e4m3") {
  check_supported(e);
  // Decode graphs unless enforce_eager; PAGODA_CUDA_GRAPHS=0 also turns them off (timing
  // the launches they save).
  const char* graphs = std::getenv("PAGODA_CUDA_GRAPHS");
  graphs_enabled_ = !pooling_ && !e.enforce_eager && !(graphs != nullptr && std::string(graphs) == "0");
  // Sampling on the GPU; PAGODA_CUDA_SAMPLING=0 sends float32 logits to the host sampler.
  const char* sampling = std::getenv("PAGODA_CUDA_SAMPLING");
  sampling_enabled_ = !pooling_ && !(sampling != nullptr && std::string(sampling) == "0");
  const char* async = std::getenv("PAGODA_CUDA_ASYNC");
  async_enabled_ = !(async != nullptr && std::string(async) == "0");
  // PAGODA_CUDA_GEMM_TUNE=0: the untuned choice (cuBLASLt's first heuristic, skinny_gemm timed
  // against it on the first call), for timing what tuning saves.
  const char* tune = std::getenv("PAGODA_CUDA_GEMM_TUNE");
  gemm_tune_enabled_ = !(tune != nullptr && std::string(tune) == "0");
  graph_max_seqs_ = std::min(e.max_num_seqs > 0 ? e.max_num_seqs : 256, 256);
  cascade_enabled_ = cascade_attention_switch() && !pooling_ && !f32_ && !kv_fp8_ &&
                     cascade_head_dim_supported(config_.head_dim);
  PAGODA_CUDA_CHECK(cudaGetDevice(&device_));
  PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms_, cudaDevAttrMultiProcessorCount, device_));
  decode_options_ = decode_plan_switches(num_sms_);
  inputs_.set_decode_longest_first(decode_options_.heads_fastest);
  note_stage("context"); // the CUDA context, the stream, cuBLASLt's handle and workspace
  prepare_model();
  // Everything is on the device now: no host copy of an 8B model's weights stays for the run.
  model_->release_host_weights();
  const std::vector<float> inv = rope_inv_freq(rope_, 0);
  inv_freq_ = DeviceBuffer(inv.size() * sizeof(float));
  PAGODA_CUDA_CHECK(cudaMemcpy(inv_freq_.data(), inv.data(), inv_freq_.bytes(), cudaMemcpyHostToDevice));
  note_stage("weights");
}

int64_t CudaBackend::used_bytes() const {
  size_t free_bytes = 0, total_bytes = 0;
  PAGODA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return static_cast<int64_t>(total_bytes - free_bytes);
}

void CudaBackend::note_stage(const char* name) {
  note_memory();
  MemoryStage s;
  s.name = name;
  s.used_bytes = used_bytes();
  s.buffer_bytes = DeviceBuffer::live_bytes();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began_).count();
  stages_.push_back(std::move(s));
}

DeviceMemoryReport CudaBackend::device_memory_report() {
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  note_stage("now");
  DeviceMemoryReport r;
  r.total_bytes = total_bytes_;
  r.stages = stages_;
  stages_.pop_back();
  auto add = [&](const char* name, size_t bytes) { r.buffers.emplace_back(name, static_cast<int64_t>(bytes)); };
  add("weights", weights_bytes_ + inv_freq_.bytes());
  // Per token of the largest step: the residual stream, normed and attention-output copies,
  // q/k/v, attention, gate/up and their product; per sampled row: hidden state and logits.
  add("activations", x_.bytes() + h_.bytes() + o_.bytes() + qkv_.bytes() + attn_.bytes() + gate_up_.bytes() +
                         act_.bytes());
  add("logit_rows", rows_.bytes() + logits_.bytes());
  add("decode_workspace", decode_ws_.bytes());
  add("cublaslt_workspace", gemm_.workspace_bytes());
  add("step_inputs", inputs_.device_bytes());
  size_t sampling = greedy_scratch_.bytes();
  for (const SamplingSlot& slot : slots_) sampling += slot.device.bytes();
  add("sampling", sampling);
  add("kv_cache", k_cache_.bytes() + v_cache_.bytes());
  add("all_buffers", static_cast<size_t>(DeviceBuffer::live_bytes()));
  return r;
}

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
  if (pooling_ && f32_)
    throw Error("embedding decoders run in bfloat16 on the CUDA backend; use dtype \"auto\" or \"bfloat16\", or "
                "device \"cpu\"");
  if (pooling_ && hd != 16 && hd != 32 && hd != 64 && hd != 128)
    throw Error("the CUDA backend runs embedding decoders with head_dim 16, 32, 64 or 128; " + c.source + " has head_dim " +
                std::to_string(hd) + ": use device \"cpu\"");
  if (!pooling_ && !f32_ && !head_dim_supported(hd))
    throw Error("the CUDA backend runs head_dim 32 to 256 in steps of 16 in bfloat16 (8 to 256 in steps of 8 with "
                "dtype \"float32\"); " + c.source + " has head_dim " + std::to_string(hd) +
                ": use device \"cpu\" or dtype \"float32\"");
  if (c.hidden_size % 8)
    throw Error("the CUDA backend needs hidden_size divisible by 8 (" + c.source + " has " +
                std::to_string(c.hidden_size) + "): use device \"cpu\"");
  if (e.dtype != "auto" && e.dtype != "bfloat16" && !f32_)
    throw Error("the CUDA backend computes in bfloat16 or float32; dtype \"" + e.dtype +
                "\" is not supported: use dtype \"auto\", \"bfloat16\" or \"float32\", or device \"cpu\"");
  if (e.kv_cache_dtype != "auto" && e.kv_cache_dtype != "bfloat16" && !kv_fp8_)
    throw Error("kv_cache_dtype \"" + e.kv_cache_dtype +
                "\" is not supported by the CUDA backend; use \"auto\" (bfloat16) or \"fp8\" (e4m3)");
  if (kv_fp8_ && f32_)
    throw Error("kv_cache_dtype \"" + e.kv_cache_dtype +
                "\" needs the bfloat16 compute path on the CUDA backend; use dtype \"auto\" or \"bfloat16\", or "
                "kv_cache_dtype \"auto\" with dtype \"float32\"");
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
    grow(norm_sums_, size_t(kSplitNormMaxRows) * (c.hidden_size / 16 + 1) * sizeof(float));
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
  size_t most = 0, plain_most = 0;
  for (int32_t n = 1;; n = std::min(n * 2, max_num_seqs)) {
    // The graphs' plan: decode_plan at max_model_len, with the small batches' partitions capped.
    const DecodePlan plan = graph_decode_plan(n);
    most = std::max(most, paged_attention_decode_workspace_bytes(plan, n, config_.num_attention_heads, config_.head_dim));
    plain_most = std::max(plain_most, most);
    // A cascade step of n sequences: the prefix's partitions (most for the longest prefix) beside the
    // suffix's, then room for the other decode sequences' partials (at most what a plain step needs).
    if (cascade_enabled_ && n >= kCascadeMinDecodes) {
      const CascadePrefixPlan prefix = plan_cascade_prefix(n, config_.num_key_value_heads,
                                                           config_.num_attention_heads / config_.num_key_value_heads,
                                                           max_model_len_, num_sms_);
      const size_t group = cascade_workspace_bytes(prefix.partitions, plan.max_partitions, n,
                                                   config_.num_attention_heads, config_.head_dim);
      most = std::max(most, (group + 255) / 256 * 256 + plain_most);
    }
    if (n == max_num_seqs) break;
  }
  return most;
}

void CudaBackend::ensure_decode_workspace(const StepInputs& in) {
  if (in.num_decode == 0 || f32_) return; // attention_f32 needs no workspace
  if (in.cascade.prefix_blocks == 0) {
    grow(decode_ws_, paged_attention_decode_workspace_bytes(in.decode_plan, in.num_decode, config_.num_attention_heads,
                                                            config_.head_dim));
    return;
  }
  // The group's partials, then (256-byte aligned) the other decode sequences' own.
  const size_t group = cascade_attention_workspace_bytes(in.cascade, in.num_cascade, config_.num_attention_heads,
                                                         config_.head_dim);
  grow(decode_ws_, (group + 255) / 256 * 256 +
                       paged_attention_decode_workspace_bytes(in.plain_plan, in.num_plain, config_.num_attention_heads,
                                                              config_.head_dim));
}

CascadeGroup CudaBackend::cascade_group(const ForwardBatch& b) const {
  if (!cascade_enabled_) return CascadeGroup{};
  std::vector<int32_t> decodes;
  for (int32_t seq = 0; seq < b.num_seqs(); ++seq)
    if (b.query_start[seq + 1] - b.query_start[seq] == 1) decodes.push_back(seq);
  return plan_cascade_group(b.block_tables.data(), b.max_blocks_per_seq, b.context_lens.data(), decodes.data(),
                            static_cast<int>(decodes.size()), block_size_);
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
  note_stage("profile_forward");
  // The decode graphs hold device memory of their own once captured (and the capture loads the
  // decode kernels' code): captured once here against the temporary cache and measured, so the
  // KV cache leaves room for the real capture after it instead of running past
  // gpu_memory_utilization by that much.
  size_t graph_bytes = 0, graphs = 0;
  if (!had_cache && num_blocks_ > 0 && graphs_enabled_ && rope_.type != "dynamic") {
    const int64_t before = used_bytes();
    capture_decode_graphs();
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    const int64_t after = used_bytes();
    note_stage("profile_graphs");
    graphs = graphs_.size();
    graphs_.clear();
    graph_bytes = after > before ? static_cast<size_t>(after - before) : 0;
  }
  if (!had_cache) {
    k_cache_ = DeviceBuffer();
    v_cache_ = DeviceBuffer();
    num_blocks_ = 0;
    block_size_ = 0;
    ++buffers_generation_;
  }
  note_stage("profile_done");
  MemoryProfile p;
  p.total_bytes = total_bytes;
  p.weights_bytes = weights_bytes_;
  // Everything else in use at the peak: the CUDA context, cuBLASLt, activations, workspaces
  // (and whatever other processes hold on this GPU), without the temporary cache.
  const size_t used = total_bytes - free_bytes;
  const size_t others = weights_bytes_ + temp_kv;
  p.peak_activation_bytes = used > others ? used - others : 0;
  p.kv_bytes_per_block = kv_bytes_per_block(profile_block_size_);
  p.cuda_graph_measured_bytes = graph_bytes;
  p.cuda_graph_bytes = cuda_graph_reserve_bytes(graph_bytes, graphs, static_cast<size_t>(config_.num_hidden_layers));
  return p;
}

void CudaBackend::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  allocate_cache_buffers(num_blocks, block_size);
  note_stage("kv_cache");
  tune_gemms();
  note_stage("gemm_tuning");
  plan_prompt_gemms();
  note_stage("gemm_plans");
  capture_decode_graphs();
  note_stage("cuda_graphs");
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


void CudaBackend::forward(const ForwardBatch& b, std::vector<float>& logits) {
  validate(b);
  const int token = timer_.begin(stream_.get());
  const CascadeGroup cascade = cascade_group(b);
  if (cascade.prefix_blocks > 0 || !graph_eligible(b)) {
    forward_eager(b, logits, &cascade);
    finished_timer_token_ = token;
    return;
  }
  graph_step(b);
  logits.resize(static_cast<size_t>(b.num_seqs()) * config_.vocab_size);
  PAGODA_CUDA_CHECK(cudaMemcpyAsync(logits.data(), logits_.data(), logits.size() * sizeof(float),
                                    cudaMemcpyDeviceToHost, stream_.get()));
  timer_.end(stream_.get());
  stream_.synchronize();
  finished_timer_token_ = token;
}

void CudaBackend::forward_hidden(const ForwardBatch& b, std::vector<float>& hidden) {
  if (!pooling_) throw Error("forward_hidden: this CUDA backend was loaded to generate, not to embed");
  const int32_t n = b.num_tokens(), s = b.num_seqs();
  if (n == 0 || s == 0) throw Error("forward_hidden: empty batch");
  if (b.positions.size() != size_t(n) || b.query_start.size() != size_t(s) + 1 || b.query_start.front() != 0 ||
      b.query_start.back() != n)
    throw Error("forward_hidden: inconsistent ForwardBatch sizes (positions, query_start)");
  pooling_max_len_ = 0;
  for (int32_t seq = 0; seq < s; ++seq) {
    const int32_t len = b.query_start[seq + 1] - b.query_start[seq];
    if (len <= 0) throw Error("forward_hidden: every sequence needs a token");
    pooling_max_len_ = std::max(pooling_max_len_, len);
  }
  for (int32_t t = 0; t < n; ++t)
    if (b.token_ids[t] < 0 || b.token_ids[t] >= config_.vocab_size)
      throw Error("token id " + std::to_string(b.token_ids[t]) + " is outside the vocabulary of " +
                  std::to_string(config_.vocab_size));
  const int token = timer_.begin(stream_.get());
  StepInputs in;
  eager_step(b, in);
  const size_t count = size_t(n) * config_.hidden_size;
  std::vector<bf16> rows(count);
  PAGODA_CUDA_CHECK(
      cudaMemcpyAsync(rows.data(), h_.data(), count * sizeof(bf16), cudaMemcpyDeviceToHost, stream_.get()));
  timer_.end(stream_.get());
  stream_.synchronize();
  finished_timer_token_ = token;
  ops_.end();
  hidden.resize(count);
  for (size_t i = 0; i < count; ++i) hidden[i] = __bfloat162float(rows[i]);
}

// The op timer's step kind: decode steps by rows, at the sizes where the linears change kernel.
static const char* op_timing_kind(const ForwardBatch& b) {
  if (b.num_tokens() > b.num_seqs()) return "prefill-step";
  if (b.num_tokens() <= 8) return "decode-step m<=8";
  return b.num_tokens() <= 32 ? "decode-step m<=32" : "decode-step m>32";
}

// Uploads the inputs and runs the model: h_ (all_logits) or rows_ hold the rows to project.
void CudaBackend::eager_step(const ForwardBatch& b, StepInputs& in, const CascadeGroup* cascade) {
  ensure_activations(b.num_tokens(), b.all_logits ? std::max<int64_t>(act_rows_, 1) : b.num_seqs());
  ops_.begin(stream_.get(), op_timing_kind(b));
  in = inputs_.upload(b, rope_, stream_.get(), cascade, block_size_, placeholder_ids_for(b));
  ops_.mark(stream_.get(), "inputs_upload");
  if (in.num_decode) in.decode_plan = decode_plan(in.num_decode, in.decode_max_context);
  if (in.cascade.prefix_blocks > 0) {
    ++cascade_steps_;
    plan_cascade_step(in.cascade, in.num_cascade, config_.num_key_value_heads, config_.num_attention_heads, block_size_,
                      in.cascade_max_context, num_sms_);
    in.plain_plan = decode_plan(std::max(in.num_plain, 1), std::max(in.plain_max_context, 1));
    in.plain_ws_offset = (cascade_attention_workspace_bytes(in.cascade, in.num_cascade, config_.num_attention_heads,
                                                            config_.head_dim) + 255) / 256 * 256;
  }
  ensure_decode_workspace(in);
  run_model(in);
}

void CudaBackend::forward_eager(const ForwardBatch& b, std::vector<float>& logits, const CascadeGroup* cascade) {
  const ModelConfig& c = config_;
  cudaStream_t st = stream_.get();
  StepInputs in;
  eager_step(b, in, cascade);
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

} // namespace cuda

std::unique_ptr<Backend> create_cuda_backend(const EngineConfig& engine_config) {
  LoadedModel m = load_model(engine_config);
  if (m.config.base_model)
    throw Error(m.config.source + ": " + m.config.architecture +
                " has no lm_head and cannot generate text; serve it as an embedding model");
  return std::make_unique<cuda::CudaBackend>(create_causal_lm(std::move(m.config), std::move(m.weights)), engine_config);
}

std::unique_ptr<Backend> create_cuda_embedding_decoder(const EngineConfig& engine_config) {
  LoadedModel m = load_model(engine_config);
  return std::make_unique<cuda::CudaBackend>(create_causal_lm(std::move(m.config), std::move(m.weights)), engine_config,
                                             true);
}

size_t cuda_graphs_captured(const Backend& backend) {
  const auto* cuda_backend = dynamic_cast<const cuda::CudaBackend*>(&backend);
  return cuda_backend ? cuda_backend->graphs_captured() : 0;
}

size_t cuda_graph_replays(const Backend& backend) {
  const auto* cuda_backend = dynamic_cast<const cuda::CudaBackend*>(&backend);
  return cuda_backend ? cuda_backend->graph_replays() : 0;
}

size_t cuda_cascade_steps(const Backend& backend) {
  const auto* cuda_backend = dynamic_cast<const cuda::CudaBackend*>(&backend);
  return cuda_backend ? cuda_backend->cascade_steps() : 0;
}

CudaGemmPlans cuda_gemm_plans(const Backend& backend) {
  const auto* cuda_backend = dynamic_cast<const cuda::CudaBackend*>(&backend);
  return cuda_backend ? cuda_backend->gemm_plans() : CudaGemmPlans{};
}

} // namespace pagoda