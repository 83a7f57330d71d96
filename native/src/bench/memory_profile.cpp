// memory_profile_json: the engine's MemoryProfile (what its KV sizing used) split into the parts the
// planner predicts, from the backend's stage log (device-wide used bytes and its own buffers' bytes
// after each stage of the load).
#include "bench/memory_profile.h"

#include <string>

#include "error.h"

namespace pagoda {

namespace {

json::Value num(double v) { return json::Value::number(v); }

const MemoryStage* find_stage(const DeviceMemoryReport& r, const std::string& name) {
  for (const MemoryStage& s : r.stages)
    if (s.name == name) return &s;
  return nullptr;
}

} // namespace

json::Value memory_settings_json(const EngineConfig& c) {
  json::Value j = json::Value::object();
  j.set("gpu_memory_utilization", num(c.gpu_memory_utilization));
  j.set("max_model_len", num(c.max_model_len));
  j.set("max_num_seqs", num(c.max_num_seqs));
  j.set("max_num_batched_tokens", num(c.max_num_batched_tokens));
  j.set("block_size", num(c.block_size));
  j.set("dtype", json::Value::string(c.dtype));
  j.set("kv_cache_dtype", json::Value::string(c.kv_cache_dtype));
  j.set("enforce_eager", json::Value::boolean(c.enforce_eager));
  return j;
}

json::Value memory_profile_json(LLMEngine& e, double load_s) {
  const MemoryProfile& p = e.memory_profile();
  const EngineConfig& c = e.config();
  const DeviceMemoryReport r = e.backend().device_memory_report();
  const MemoryStage* weights = find_stage(r, "weights");
  const MemoryStage* forward = find_stage(r, "profile_forward");
  const MemoryStage* kv = find_stage(r, "kv_cache");
  const MemoryStage* tuned = find_stage(r, "gemm_tuning");
  const MemoryStage* graphs = find_stage(r, "cuda_graphs");
  const MemoryStage* context = find_stage(r, "context");
  if (!weights || !forward || !kv || !tuned || !graphs || !context)
    throw Error("the " + e.backend().name() + " backend keeps no stage log of its load; --profile-only needs device cuda");
  int64_t cublas_workspace = 0;
  for (const auto& [name, bytes] : r.buffers)
    if (name == "cublaslt_workspace") cublas_workspace = bytes;

  const int64_t blocks = e.stats().kv_blocks_total;
  const int64_t per_block = static_cast<int64_t>(p.kv_bytes_per_block);
  // The profiling forward's temporary cache: just enough blocks for one max_num_batched_tokens prompt.
  const int64_t temp_kv = (c.max_num_batched_tokens + c.block_size - 1) / c.block_size * per_block;
  // The backend's buffers the profiling forward added (activations, logit rows, decode workspace,
  // step inputs), and cuBLASLt's workspace from before it; the rest of the peak is overhead: the
  // CUDA context, kernel code, cuBLASLt's own state, allocation rounding.
  const int64_t activations = forward->buffer_bytes - weights->buffer_bytes - temp_kv + cublas_workspace;
  const int64_t overhead = static_cast<int64_t>(p.peak_activation_bytes) - activations;
  const double total = static_cast<double>(p.total_bytes);
  const double allowed = c.gpu_memory_utilization * total;

  json::Value m = json::Value::object();
  m.set("total_bytes", num(total));
  m.set("budget_bytes", num(allowed));
  m.set("weights_bytes", num(static_cast<double>(p.weights_bytes)));
  m.set("peak_activation_bytes", num(static_cast<double>(p.peak_activation_bytes)));
  m.set("activation_buffer_bytes", num(static_cast<double>(activations)));
  m.set("overhead_bytes", num(static_cast<double>(overhead)));
  m.set("context_bytes", num(static_cast<double>(context->used_bytes - context->buffer_bytes)));
  m.set("cuda_graph_bytes", num(static_cast<double>(p.cuda_graph_bytes)));
  m.set("cuda_graph_measured_bytes", num(static_cast<double>(p.cuda_graph_measured_bytes)));
  m.set("cuda_graph_bytes_at_capture", num(static_cast<double>(graphs->used_bytes - tuned->used_bytes)));
  m.set("gemm_tuning_bytes", num(static_cast<double>(tuned->used_bytes - kv->used_bytes)));
  m.set("kv_bytes_per_block", num(static_cast<double>(per_block)));
  m.set("kv_blocks", num(static_cast<double>(blocks)));
  m.set("kv_cache_bytes", num(static_cast<double>(blocks * per_block)));
  m.set("kv_cache_tokens", num(static_cast<double>(blocks * c.block_size)));
  m.set("used_after_load_bytes", num(static_cast<double>(graphs->used_bytes)));
  m.set("used_after_load_over_budget", num(graphs->used_bytes / allowed));
  m.set("load_s", num(load_s));
  json::Value stages = json::Value::array();
  for (const MemoryStage& s : r.stages) {
    json::Value j = json::Value::object();
    j.set("stage", json::Value::string(s.name));
    j.set("used_bytes", num(static_cast<double>(s.used_bytes)));
    j.set("buffer_bytes", num(static_cast<double>(s.buffer_bytes)));
    j.set("seconds", num(s.seconds));
    stages.push_back(std::move(j));
  }
  m.set("stages", stages);
  json::Value buffers = json::Value::object();
  for (const auto& [name, bytes] : r.buffers) buffers.set(name, num(static_cast<double>(bytes)));
  m.set("buffers", buffers);
  return m;
}

} // namespace pagoda
