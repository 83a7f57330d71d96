// One engine step's per-token and per-sequence arrays on the device. Eager steps pack them
// in a layout that follows the batch; decode steps replayed through a CUDA graph use a fixed
// layout (fixed addresses), padded to the graph's batch size.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cascade_plan.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/kernels.h"
#include "model/rope_frequencies.h"
#include "backend/cuda/step_timer.h"
#include "backend/cuda/stream.h"

namespace pagoda::cuda {

struct StepInputs {
  int num_tokens = 0;
  int num_seqs = 0;
  int max_blocks_per_seq = 0;
  bool all_logits = false;
  const int32_t* token_ids = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* slots = nullptr;
  const int32_t* query_start = nullptr;
  const int32_t* context_lens = nullptr;
  const int32_t* block_tables = nullptr;
  const PrefillTile* tiles = nullptr; // query tiles of the sequences with more than one new token
  int num_tiles = 0;
  const int32_t* decode_ids = nullptr; // sequences with exactly one new token
  int num_decode = 0;
  int decode_max_context = 0;
  DecodePlan decode_plan;             // set by the backend when num_decode > 0
  // Cascade attention (default on, PAGODA_CASCADE_ATTENTION=0 off; eager steps only): cascade.prefix_blocks > 0 when
  // the step's cascade group (cascade_plan.h) shares that many whole blocks. Its sequences
  // (cascade_ids) run cascade attention, the other decode sequences (plain_ids) the decode kernel
  // with plain_plan in the workspace from plain_ws_offset. The uploader fills the ids, the prefix
  // table and the suffix context lengths, the backend the plans. prefix_blocks 0: decode_ids as usual.
  CascadeStep cascade;
  const int32_t* cascade_ids = nullptr;
  int num_cascade = 0;
  int cascade_max_context = 0;
  const int32_t* plain_ids = nullptr;
  int num_plain = 0;
  int plain_max_context = 0;
  DecodePlan plain_plan;
  size_t plain_ws_offset = 0;
  const int32_t* logit_rows = nullptr; // last token of each sequence (unless all_logits)
  int num_logit_rows = 0;
  // "dynamic" RoPE past the original length: per-sequence frequencies (nullptr: the static
  // ones), with the host copy of query_start to launch per sequence. Empty otherwise.
  std::vector<const float*> seq_inv_freq;
  std::vector<int32_t> host_query_start;
};

class StepInputUploader {
public:
  // Any batch, one copy from a pinned buffer; valid until the next upload. A cascade group with
  // prefix_blocks > 0 (the backend's decision; blocks of block_size tokens): the inputs also carry its
  // ids, the other decode ids, the suffix context lengths and the prefix's block ids. previous_ids (not null when
  // the batch holds placeholder ids, -1 - r): the ids the step before sampled, on the device; the copy fills them in.
  StepInputs upload(const ForwardBatch& b, const RopeSpec& rope, cudaStream_t stream,
                    const CascadeGroup* cascade = nullptr, int block_size = 0, const int32_t* previous_ids = nullptr);

  // Fixed addresses for decode batches of up to max_seqs sequences whose block tables have
  // at most max_blocks entries (reallocates: graphs captured before must be dropped).
  void reserve_fixed(int max_seqs, int max_blocks);
  int fixed_max_seqs() const { return fixed_max_seqs_; }
  int fixed_max_blocks() const { return fixed_max_blocks_; }
  size_t device_bytes() const { return device_.bytes() + fixed_device_.bytes(); }
  // A decode-only batch padded to `padded_seqs` (<= fixed_max_seqs): padding sequences have
  // one token at position 0, context 1, no KV write (slot -1) and block 0 in their table.
  StepInputs upload_padded_decode(const ForwardBatch& b, int padded_seqs, cudaStream_t stream,
                                  const int32_t* previous_ids = nullptr);
  // The fixed-layout pointers for a padded batch of `padded_seqs` (what a graph captures).
  StepInputs fixed_inputs(int padded_seqs) const;
  // Decode ids (both uploads) longest context first (decode_plan.h) instead of the batch's order.
  void set_decode_longest_first(bool on) { decode_longest_first_ = on; }

private:
  // A pinned staging buffer and the event after its last copy to the device: with a step
  // launched ahead, the host must not refill it before the device has read it.
  struct Staging {
    PinnedBuffer buffer;
    Event copied{false};
    bool pending = false;
    void wait_free() {
      if (pending) PAGODA_CUDA_CHECK(cudaEventSynchronize(copied.get()));
      pending = false;
    }
    void copy_to(void* device, size_t bytes, cudaStream_t stream, const PlaceholderFill& fill) {
      copy_from_host(device, buffer.device_data(), bytes, stream, fill);
      PAGODA_CUDA_CHECK(cudaEventRecord(copied.get(), stream));
      pending = true;
    }
  };
  Staging staging_;
  DeviceBuffer device_;
  Staging fixed_staging_;
  DeviceBuffer fixed_device_;
  bool decode_longest_first_ = false;
  int fixed_max_seqs_ = 0;
  int fixed_max_blocks_ = 0;
};

} // namespace pagoda::cuda
