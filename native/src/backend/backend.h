// The seam between the engine runtime (scheduler, block manager, sampler) and a compute
// backend (cpu/, cuda/). A backend owns the weights and the paged KV cache and runs one
// forward pass over a batch of sequences the scheduler has chosen.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "backend/logit_adjustment.h"

namespace pagoda {

struct ModelConfig;  // model/model_config.h
struct EngineConfig; // engine/engine_config.h

// One engine step's worth of tokens. Sequences are concatenated; each contributes
// `query_len` new tokens (a prefill chunk, or 1 for decode) whose K/V are written to the
// cache at `slot_mapping` before attention reads the whole context through its block table.
struct ForwardBatch {
  // [num_tokens]; for Backend::launch_sampled, a negative id -1 - r is a placeholder for the
  // id sampled for row r of the step launched just before (see launch_sampled).
  std::vector<int32_t> token_ids;
  std::vector<int32_t> positions;    // [num_tokens] absolute position in its sequence
  std::vector<int32_t> slot_mapping; // [num_tokens] block_id * block_size + offset
  std::vector<int32_t> query_start;  // [num_seqs + 1] offsets into token_ids
  std::vector<int32_t> context_lens; // [num_seqs] tokens in KV after this step (incl. new)
  std::vector<int32_t> block_tables; // [num_seqs * max_blocks_per_seq], unused entries -1
  int32_t max_blocks_per_seq = 0;
  // false: logits for the last token of each sequence only (what sampling needs);
  // true: logits for every token (golden checks, prompt logprobs).
  bool all_logits = false;

  int32_t num_seqs() const { return static_cast<int32_t>(context_lens.size()); }
  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
};

// Memory a backend reports so the engine can size the KV cache the way vLLM does.
struct MemoryProfile {
  size_t total_bytes = 0;        // device (or host budget) total
  size_t weights_bytes = 0;      // parameters as stored for compute
  size_t peak_activation_bytes = 0; // measured by a profiling forward
  size_t kv_bytes_per_block = 0; // K and V, all layers, one block
  // The room the KV cache leaves for the decode graphs within gpu_memory_utilization: the
  // larger of cuda_graph_reserve_bytes() and what a capture during profiling measured.
  size_t cuda_graph_bytes = 0;
  size_t cuda_graph_measured_bytes = 0; // graph memory and the decode kernels' code
};

// Device memory set aside per captured decode graph per layer: above the most the H200 measured
// (44,003 bytes, Qwen2.5-32B; 41,194 Llama-3-8B, 42,799 Qwen2.5-7B), rounded up to 44 KiB. The
// planner (packages/server/src/planner/memory.ts CUDA_GRAPH_BYTES_PER_LAYER) counts the same, so
// the KV capacity it shows is the engine's to the block; a capture that took more is charged that.
constexpr size_t kCudaGraphBytesPerLayer = 45056;

inline size_t cuda_graph_reserve_bytes(size_t measured, size_t graphs, size_t layers) {
  return graphs == 0 ? measured : std::max(measured, graphs * layers * kCudaGraphBytesPerLayer);
}

// Device memory after one stage of a load: used = total - free (device-wide), buffers = bytes
// the backend's own allocations held then, seconds since the backend began loading.
struct MemoryStage {
  std::string name;
  int64_t used_bytes = 0;
  int64_t buffer_bytes = 0;
  double seconds = 0.0;
};

// The load's memory, stage by stage, and the backend's buffers by kind now (the memory
// profile tool prints them; empty for a host backend).
struct DeviceMemoryReport {
  int64_t total_bytes = -1;
  std::vector<MemoryStage> stages;
  std::vector<std::pair<std::string, int64_t>> buffers;
};

// How Backend::forward_sampled picks one sequence's next token: vLLM's temperature, min_p,
// top_k and top_p on the logits after the row's adjustments (penalties, min_tokens), drawn
// with `uniform`, a number in [0, 1) the engine takes from the sequence's own generator, so
// a seeded request gets the same tokens whatever else shares its batch.
struct RowSampling {
  float temperature = 0.0f; // < 1e-5: greedy (lowest index among equal logits)
  int32_t top_k = -1;       // <= 0: every token
  float top_p = 1.0f;
  float min_p = 0.0f;
  double uniform = 0.0;
  bool want_logprob = false; // return log-softmax of the raw logits at the chosen token
  int32_t top_logprobs = 0;  // and of the top n raw logits (n <= 20; needs want_logprob)
  // This row's entries of StepSampling::adjustments, applied before anything else.
  int32_t adjust_begin = 0;
  int32_t adjust_end = 0;
  // Structured output: this row's allowed-token bitmask is StepSampling::token_masks[mask_row]
  // (applied after the adjustments; logprobs stay the raw logits'); -1: unconstrained, free.
  int32_t mask_row = -1;
};

// One step's sampling: a row per sequence of the batch, and the adjustments they index.
struct StepSampling {
  std::vector<RowSampling> rows;
  std::vector<LogitAdjustment> adjustments;
  // [masked rows x mask_words] bitmasks, bit t of word t / 32 set: token t allowed.
  std::vector<uint32_t> token_masks;
  int32_t mask_words = 0; // (vocab_size + 31) / 32
};

// What the device's clock says of one engine step: its span on the stream (first record to last, counting any wait
// for the host's launches inside it) and, when the step just before was timed too, the device's idle time between
// the two (zero when this step was queued before that one ended). Negative: not known.
struct StepDeviceTime {
  double span_ms = -1.0;
  double gap_before_ms = -1.0;
};

struct SampledRows {
  std::vector<int32_t> token_ids; // [num_seqs]
  std::vector<float> logprobs;    // [num_seqs] when any row asked, else empty
  // [num_seqs x top_n], best first (ties: lower id), where top_n is the most any row asked
  // for (0: empty); a row's entries past its own top_logprobs are id 0, logprob 0.
  int32_t top_n = 0;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};

// Device memory as the backend saw it: the peak of (total - free) sampled where it
// allocates (profile, KV cache, activations, graphs) and on every call. -1: not known
// (a host backend, whose memory the engine sizes from kv_cache_space_bytes instead).
struct DeviceMemoryUse {
  int64_t total_bytes = -1;
  int64_t peak_used_bytes = -1;
};

class Backend {
public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0; // "cpu", "cuda"
  // Runs a forward at max_num_batched_tokens with no KV cache allocated yet and reports
  // what it used, so the engine can choose the number of KV blocks.
  virtual MemoryProfile profile(int32_t max_num_batched_tokens, int32_t max_num_seqs) = 0;
  virtual void allocate_kv_cache(int32_t num_blocks, int32_t block_size) = 0;
  // logits: float32 row-major, [num_seqs or num_tokens (all_logits)] x vocab_size.
  virtual void forward(const ForwardBatch& batch, std::vector<float>& logits) = 0;
  // The final-normed hidden state of every token, float32 [num_tokens, hidden_size], for
  // decoders used as embedders; throws where the backend does not serve them.
  virtual void forward_hidden(const ForwardBatch& batch, std::vector<float>& hidden);
  virtual const ModelConfig& model_config() const = 0;
  // The precision the forward computes in ("float32", "bfloat16"): checks against reference
  // logits choose their tolerance by it, not by the checkpoint's dtype alone.
  virtual std::string compute_dtype() const { return "float32"; }
  // Whether forward() runs the last layer's o_proj and MLP on the rows that give logits only
  // (ModelOps::keep_logit_rows): what a step's GEMM work is, for the benchmark's roofline.
  virtual bool keeps_logit_rows() const { return false; }
  // Whether forward_sampled runs here (asked once, before any sampling draw is taken).
  virtual bool samples_on_device() const { return false; }
  // Whether the KV cache's memory is committed page by page as blocks are first written (the
  // CPU's lazily committed mapping) rather than all at allocation (device memory).
  virtual bool kv_cache_committed_on_touch() const { return false; }
  // Blocks [first, first + count) hold nothing any more: where memory is committed on touch,
  // their pages can go back to the system (the next write commits them again).
  virtual void release_kv_blocks(int32_t /*first*/, int32_t /*count*/) {}
  // forward() followed by sampling where the logits are, one row per sequence, so only the
  // chosen ids (and logprobs) reach the host. Returns false, having run nothing, when this
  // backend samples on the host only (the engine then calls forward() and its Sampler).
  // Never called with all_logits.
  virtual bool forward_sampled(const ForwardBatch& /*batch*/, const StepSampling& /*sampling*/,
                               SampledRows& /*out*/) {
    return false;
  }
  // Asynchronous device sampling, so the host can build and launch step N+1 while the device
  // runs step N: launch_sampled enqueues forward_sampled's work and returns at once;
  // collect_sampled waits for the oldest launched step and fills out (the same as
  // forward_sampled would). At most two steps are in flight. In a launched batch a token id
  // -1 - r stands for the id sampled for row r of the step launched just before it, filled
  // in on the device; so does an adjustment's token -1 - r (a row's last entry, the penalties'
  // share of its newest token: merged with with_newest into the row's entry for that id, if any).
  // Backends without it return false and never see these calls.
  virtual bool supports_async_sampling() const { return false; }
  virtual void launch_sampled(const ForwardBatch& /*batch*/, const StepSampling& /*sampling*/) {
    throw std::logic_error("launch_sampled: this backend samples synchronously");
  }
  virtual void collect_sampled(SampledRows& /*out*/) {
    throw std::logic_error("collect_sampled: this backend samples synchronously");
  }
  // Device time of the step whose results the engine has just taken (from events around the step on
  // its stream): unknown when that step was not timed (the CUDA backend times a sample of the steps)
  // or the backend cannot time. The step has finished, so this waits at most for the event recorded
  // right behind it. The engine asks once per step, after the forward.
  virtual StepDeviceTime last_step_device_time() { return {}; }
  // Peak device memory use so far (samples cudaMemGetInfo once more when asked).
  virtual DeviceMemoryUse device_memory_use() { return {}; }
  // Stage by stage memory of the load so far and the buffers held now (samples once more).
  virtual DeviceMemoryReport device_memory_report() { return {}; }
};

// Builds the backend named by engine_config.device ("cpu", "cuda", "auto"), loading the
// checkpoint (or dummy weights). Throws pagoda::Error with a message naming the cause.
std::unique_ptr<Backend> create_backend(const EngineConfig& engine_config);

// PAGODA_KEEP_LOGIT_ROWS=0|1, whether a backend runs the last layer's o_proj and MLP on the logit rows only
// (ModelOps::keep_logit_rows); `otherwise` when unset. Any other value throws.
bool keep_logit_rows_from_env(bool otherwise);

} // namespace pagoda
