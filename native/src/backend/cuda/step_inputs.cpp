// Packing of a step's arrays into pinned memory and their upload (one copy per step).
#include "backend/cuda/step_inputs.h"

#include <algorithm>
#include <cstring>

#include "backend/cuda/decode_plan.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

// Appends `count` int32-sized values, each piece starting 16-byte aligned; returns its offset.
size_t append(std::vector<int32_t>& pack, const void* data, size_t count) {
  const size_t offset = pack.size();
  pack.resize(offset + ((count + 3) / 4) * 4);
  if (count) std::memcpy(pack.data() + offset, data, count * sizeof(int32_t));
  return offset;
}

// Offsets (in int32) of the fixed decode layout for up to s sequences (s a multiple of 4).
struct FixedLayout {
  size_t ids, positions, slots, query_start, context_lens, decode_ids, rows, block_tables, end;
  FixedLayout(int s, int max_blocks) {
    ids = 0;
    positions = ids + s;
    slots = positions + s;
    query_start = slots + s;
    context_lens = query_start + s + 4;
    decode_ids = context_lens + s;
    rows = decode_ids + s;
    block_tables = rows + s;
    end = block_tables + size_t(s) * max_blocks;
  }
};

} // namespace

StepInputs StepInputUploader::upload(const ForwardBatch& b, const RopeSpec& rope, cudaStream_t stream,
                                     const CascadeGroup* group, int block_size, const int32_t* previous_ids) {
  const int32_t s = b.num_seqs();
  std::vector<PrefillTile> tiles;
  std::vector<int32_t> decode_ids, rows;
  int decode_max_context = 0;
  for (int32_t seq = 0; seq < s; ++seq) {
    const int32_t q_len = b.query_start[seq + 1] - b.query_start[seq];
    if (q_len == 1) {
      decode_ids.push_back(seq);
      decode_max_context = std::max(decode_max_context, b.context_lens[seq]);
    } else {
      for (int32_t r = 0; r < q_len; r += kPrefillTileRows) tiles.push_back({seq, r});
    }
    if (!b.all_logits) rows.push_back(b.query_start[seq + 1] - 1);
  }
  if (decode_longest_first_) order_longest_first(decode_ids, b.context_lens.data());
  std::vector<int32_t> pack;
  // Dynamic NTK: a sequence past the original length gets its own frequencies.
  std::vector<size_t> freq_offsets;
  if (rope.type == "dynamic") {
    freq_offsets.assign(s, SIZE_MAX);
    for (int32_t seq = 0; seq < s; ++seq) {
      if (b.context_lens[seq] <= rope.original_max_position) continue;
      const std::vector<float> f = rope_inv_freq(rope, b.context_lens[seq]);
      freq_offsets[seq] = append(pack, f.data(), f.size());
    }
  }
  const size_t o_ids = append(pack, b.token_ids.data(), b.token_ids.size());
  const size_t o_pos = append(pack, b.positions.data(), b.positions.size());
  const size_t o_slots = append(pack, b.slot_mapping.data(), b.slot_mapping.size());
  const size_t o_qs = append(pack, b.query_start.data(), b.query_start.size());
  const size_t o_ctx = append(pack, b.context_lens.data(), b.context_lens.size());
  const size_t o_bt = append(pack, b.block_tables.data(), b.block_tables.size());
  const size_t o_tiles = append(pack, tiles.data(), tiles.size() * 2);
  const size_t o_dec = append(pack, decode_ids.data(), decode_ids.size());
  const size_t o_rows = append(pack, rows.data(), rows.size());
  // Cascade: the group's and the other decode ids, and the group's contexts after the prefix (other
  // sequences keep theirs; nothing reads them).
  const bool cascade = group != nullptr && group->prefix_blocks > 0;
  const int prefix_tokens = cascade ? group->prefix_blocks * block_size : 0;
  size_t o_suffix = 0, o_cascade_ids = 0, o_plain_ids = 0;
  int cascade_max_context = 0, plain_max_context = 0;
  if (cascade) {
    std::vector<int32_t> suffix(b.context_lens.begin(), b.context_lens.end());
    for (int32_t seq : group->members) {
      if (b.query_start[seq + 1] - b.query_start[seq] != 1 || suffix[seq] <= prefix_tokens)
        throw Error("upload: cascade group sequence " + std::to_string(seq) + " is not a decode with a context (" +
                    std::to_string(suffix[seq]) + ") past the " + std::to_string(prefix_tokens) + "-token prefix");
      cascade_max_context = std::max(cascade_max_context, suffix[seq]);
      suffix[seq] -= prefix_tokens;
    }
    for (int32_t seq : group->others) plain_max_context = std::max(plain_max_context, b.context_lens[seq]);
    if (group->members.size() + group->others.size() != decode_ids.size())
      throw Error("upload: the cascade group and the others are not the step's decode sequences");
    o_suffix = append(pack, suffix.data(), suffix.size());
    o_cascade_ids = append(pack, group->members.data(), group->members.size());
    o_plain_ids = append(pack, group->others.data(), group->others.size());
    if (decode_longest_first_) // the plain decode launch takes its plan's head-fastest order too
      order_longest_first(pack.data() + o_plain_ids, group->others.size(), b.context_lens.data());
  }

  const size_t bytes = pack.size() * sizeof(int32_t);
  staging_.wait_free();
  if (staging_.buffer.bytes() < bytes) staging_.buffer = PinnedBuffer(bytes * 2);
  if (device_.bytes() < staging_.buffer.bytes()) {
    device_ = DeviceBuffer();
    device_ = DeviceBuffer(staging_.buffer.bytes());
  }
  std::memcpy(staging_.buffer.data(), pack.data(), bytes);
  staging_.copy_to(device_.data(), bytes, stream, PlaceholderFill{o_ids, previous_ids ? b.num_tokens() : 0, previous_ids});

  const int32_t* base = device_.as<int32_t>();
  StepInputs in;
  in.num_tokens = b.num_tokens();
  in.num_seqs = s;
  in.max_blocks_per_seq = b.max_blocks_per_seq;
  in.all_logits = b.all_logits;
  in.token_ids = base + o_ids;
  in.positions = base + o_pos;
  in.slots = base + o_slots;
  in.query_start = base + o_qs;
  in.context_lens = base + o_ctx;
  in.block_tables = base + o_bt;
  in.tiles = reinterpret_cast<const PrefillTile*>(base + o_tiles);
  in.num_tiles = static_cast<int>(tiles.size());
  in.decode_ids = base + o_dec;
  in.num_decode = static_cast<int>(decode_ids.size());
  in.decode_max_context = decode_max_context;
  in.logit_rows = base + o_rows;
  in.num_logit_rows = static_cast<int>(rows.size());
  if (cascade) {
    in.cascade.prefix_blocks = group->prefix_blocks;
    in.cascade.prefix_table = in.block_tables + static_cast<size_t>(group->members[0]) * b.max_blocks_per_seq;
    in.cascade.suffix_context_lens = base + o_suffix;
    in.cascade_ids = base + o_cascade_ids;
    in.num_cascade = static_cast<int>(group->members.size());
    in.cascade_max_context = cascade_max_context;
    in.plain_ids = base + o_plain_ids;
    in.num_plain = static_cast<int>(group->others.size());
    in.plain_max_context = plain_max_context;
  }
  if (!freq_offsets.empty()) {
    in.seq_inv_freq.assign(s, nullptr);
    for (int32_t seq = 0; seq < s; ++seq)
      if (freq_offsets[seq] != SIZE_MAX) in.seq_inv_freq[seq] = reinterpret_cast<const float*>(base + freq_offsets[seq]);
    in.host_query_start = b.query_start;
  }
  return in;
}

void StepInputUploader::reserve_fixed(int max_seqs, int max_blocks) {
  const int s = (max_seqs + 3) / 4 * 4;
  const FixedLayout layout(s, max_blocks);
  fixed_device_ = DeviceBuffer();
  fixed_device_ = DeviceBuffer(layout.end * sizeof(int32_t));
  fixed_staging_.wait_free();
  fixed_staging_.buffer = PinnedBuffer(layout.end * sizeof(int32_t));
  fixed_max_seqs_ = s;
  fixed_max_blocks_ = max_blocks;
}

StepInputs StepInputUploader::fixed_inputs(int padded_seqs) const {
  const FixedLayout layout(fixed_max_seqs_, fixed_max_blocks_);
  const int32_t* base = fixed_device_.as<int32_t>();
  StepInputs in;
  in.num_tokens = padded_seqs;
  in.num_seqs = padded_seqs;
  in.max_blocks_per_seq = fixed_max_blocks_;
  in.token_ids = base + layout.ids;
  in.positions = base + layout.positions;
  in.slots = base + layout.slots;
  in.query_start = base + layout.query_start;
  in.context_lens = base + layout.context_lens;
  in.block_tables = base + layout.block_tables;
  in.decode_ids = base + layout.decode_ids;
  in.num_decode = padded_seqs;
  in.logit_rows = base + layout.rows;
  in.num_logit_rows = padded_seqs;
  return in;
}

StepInputs StepInputUploader::upload_padded_decode(const ForwardBatch& b, int padded_seqs, cudaStream_t stream,
                                                   const int32_t* previous_ids) {
  const int n = b.num_seqs();
  if (padded_seqs < n || padded_seqs > fixed_max_seqs_ || b.max_blocks_per_seq > fixed_max_blocks_ ||
      b.num_tokens() != n)
    throw Error("upload_padded_decode: a decode batch of " + std::to_string(n) + " sequences (" +
                std::to_string(b.max_blocks_per_seq) + " blocks each) does not fit the graph inputs (" +
                std::to_string(fixed_max_seqs_) + " x " + std::to_string(fixed_max_blocks_) + ")");
  const FixedLayout layout(fixed_max_seqs_, fixed_max_blocks_);
  fixed_staging_.wait_free();
  int32_t* host = static_cast<int32_t*>(fixed_staging_.buffer.data());
  const int mb = fixed_max_blocks_;
  for (int i = 0; i < padded_seqs; ++i) {
    const bool real = i < n;
    host[layout.ids + i] = real ? b.token_ids[i] : 0;
    host[layout.positions + i] = real ? b.positions[i] : 0;
    host[layout.slots + i] = real ? b.slot_mapping[i] : -1;
    host[layout.query_start + i] = i;
    host[layout.context_lens + i] = real ? b.context_lens[i] : 1;
    host[layout.decode_ids + i] = i;
    host[layout.rows + i] = i;
    int32_t* row = host + layout.block_tables + size_t(i) * mb;
    std::fill(row, row + mb, 0);
    if (real) std::copy_n(b.block_tables.data() + size_t(i) * b.max_blocks_per_seq, b.max_blocks_per_seq, row);
  }
  host[layout.query_start + padded_seqs] = padded_seqs;
  // The real rows' ids in place, longest context first; the padding rows (context 1) stay after them.
  if (decode_longest_first_) order_longest_first(host + layout.decode_ids, n, b.context_lens.data());
  const size_t bytes = (layout.block_tables + size_t(padded_seqs) * mb) * sizeof(int32_t);
  fixed_staging_.copy_to(fixed_device_.data(), bytes, stream, PlaceholderFill{layout.ids, previous_ids ? n : 0, previous_ids});
  return fixed_inputs(padded_seqs);
}

} // namespace pagoda::cuda
