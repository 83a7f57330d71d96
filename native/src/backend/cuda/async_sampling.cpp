// Sampling on the device and steps launched ahead: launch_sampled enqueues a step's forward,
// lm_head and sample_rows and returns; collect_sampled waits for the oldest step's ids. Token
// ids of a launched step may be placeholders for ids the step before samples, filled in on
// the device.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_backend_impl.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

// PAGODA_SPLIT_GREEDY=0: every step samples on sample_rows' one block a row (timing what the split saves).
bool split_greedy_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_SPLIT_GREEDY");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return on;
}

// The split greedy kernel for steps of at most kGreedySplitMaxRows rows, all plain greedy. One block a row is
// latency-bound on one SM (~13.5 us at batch 1 for a 128k vocabulary on the H200); split, 16 such rows are 512 CTAs
// of 256 threads, still one resident wave on 132 SMs. Past that the one-block kernel already has as many SMs busy as
// rows and the step's own kernels grow with the batch: what a split saves is a small share, not worth more scratch.
// Both paths give the same bits, so the rule decides time only.
bool use_greedy_split(const DeviceRowSampling* params, int n) {
  if (!split_greedy_enabled() || n > kGreedySplitMaxRows) return false;
  return std::all_of(params, params + n, plain_greedy);
}

} // namespace

void* CudaBackend::greedy_scratch() {
  if (greedy_scratch_.data() == nullptr) {
    DeviceBuffer scratch(greedy_split_scratch_bytes(config_.vocab_size));
    PAGODA_CUDA_CHECK(cudaMemsetAsync(scratch.data(), 0, scratch.bytes(), stream_.get())); // before the kernel
    greedy_scratch_ = std::move(scratch);
    note_memory();
  }
  return greedy_scratch_.data();
}

const int32_t* CudaBackend::placeholder_ids_for(const ForwardBatch& b) const {
  if (placeholder_source_ == nullptr || std::none_of(b.token_ids.begin(), b.token_ids.end(), [](int32_t id) { return id < 0; }))
    return nullptr;
  return placeholder_source_;
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
// top logprobs any row asked for. Placeholder ids (-1 - r), in the tokens and in a row's last
// adjustment, are filled on the device from the ids of the step launched before.
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
  const int previous_rows = previous.launched ? previous.n : 0;
  for (const RowSampling& row : rows) {
    if (row.adjust_begin < 0 || row.adjust_end < row.adjust_begin || static_cast<size_t>(row.adjust_end) > num_adjust)
      throw Error("launch_sampled: a row's adjustments lie outside the step's list");
    // Only a row's last entry may stand for its newest token, and only for a row the step before samples.
    for (int32_t a = row.adjust_begin; a < row.adjust_end; ++a) {
      const int32_t token = sampling.adjustments[a].token;
      if (token >= config_.vocab_size || (token < 0 && (a != row.adjust_end - 1 || -1 - token >= previous_rows)))
        throw Error("launch_sampled: adjustment token " + std::to_string(token) + " is not a token or the newest's");
    }
  }
  cudaStream_t st = stream_.get();
  // The settings go up before the forward (by a kernel, as the step's inputs: host_copy.cu), so the sampling kernel
  // follows the lm_head directly, and its results go straight to page-locked host memory: no copy engine between
  // one step's kernels and the next's.
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
  // The split greedy sampler reads no settings, adjustments or masks: such a step uploads none (one kernel fewer
  // between steps).
  const bool greedy = use_greedy_split(params, n);
  slot.timer_token = timer_.begin(st);
  if (!greedy) copy_from_host(dev, slot.host.device_data(), param_bytes, st);
  placeholder_source_ = previous.launched ? previous.device_ids : nullptr;
  const CascadeGroup cascade = cascade_group(b);
  if (cascade.prefix_blocks == 0 && graph_eligible(b)) {
    graph_step(b);
  } else {
    StepInputs in;
    eager_step(b, in, &cascade);
    lm_head_rows(rows_.data(), in.num_logit_rows);
    ops_.mark(st, "lm_head");
  }
  placeholder_source_ = nullptr;
  auto* dev_adjust = reinterpret_cast<const LogitAdjustment*>(dev + size_t(n) * sizeof(DeviceRowSampling));
  // The results: written by the kernel into the slot's host buffer after the settings (its device address), the
  // ids mirrored at the same offset of the device buffer for the next step's placeholders (the host rewrites its
  // buffer at the next launch of this slot, unordered with the device). Writing them to the device and copying
  // them up on a second stream changed nothing on the H200 (session 14): the host writes do not hold the stream.
  char* host_out = static_cast<char*>(slot.host.device_data()) + param_bytes;
  auto* out_ids = reinterpret_cast<int32_t*>(host_out);
  auto* out_logprobs = reinterpret_cast<float*>(out_ids + n);
  auto* out_top_ids = reinterpret_cast<int32_t*>(out_logprobs + n);
  auto* out_top_logprobs = reinterpret_cast<float*>(out_top_ids + size_t(n) * top_n);
  auto* dev_ids = reinterpret_cast<int32_t*>(dev + param_bytes);
  auto* dev_raw = reinterpret_cast<float*>(dev + bytes);
  const auto* dev_masks = num_mask_words ? reinterpret_cast<const uint32_t*>(dev + mask_offset) : nullptr;
  SampleOutputs outputs{out_ids, out_logprobs, out_top_ids, out_top_logprobs, top_n};
  outputs.ids_mirror = dev_ids;
  if (greedy) {
    void* scratch = greedy_scratch();
    sample_rows_greedy(logits_.as<float>(), outputs, n, config_.vocab_size, scratch, greedy_scratch_.bytes(), st);
  } else {
    sample_rows(logits_.as<float>(), reinterpret_cast<const DeviceRowSampling*>(dev), dev_adjust, dev_raw,
                previous.launched ? previous.device_ids : nullptr, dev_masks, static_cast<int>(mask_words), outputs, n,
                config_.vocab_size, st);
  }
  ops_.mark(st, "sampling");
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
  finished_timer_token_ = slot.timer_token;
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

} // namespace pagoda::cuda
