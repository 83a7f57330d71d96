// Sampling on the GPU, one block per row of float32 logits: the row's penalty / min_tokens
// adjustments and its structured-output token mask, then greedy argmax, or temperature, min_p, top_k and top_p (thresholds found
// by radix select over the probabilities' bits) and one draw in index order with the row's
// own uniform number from the host. Steps whose rows are all plain greedy may take sample_rows_greedy instead: each
// row's argmax over many CTAs, the same bits.
#include "backend/cuda/kernels.h"

#include <algorithm>
#include <cfloat>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/value_index.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

// Block-wide reductions through `scratch` (Warps entries, the block's warps); every thread gets the result.
template <int Warps = kWarps> __device__ ValueIndex block_argmax(ValueIndex v, ValueIndex* scratch) {
  for (int o = 16; o > 0; o >>= 1)
    v = better(v, ValueIndex{__shfl_xor_sync(0xffffffffu, v.value, o), __shfl_xor_sync(0xffffffffu, v.index, o)});
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  v = scratch[0];
  for (int w = 1; w < Warps; ++w) v = better(v, scratch[w]);
  __syncthreads();
  return v;
}

__device__ float block_sum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  float s = 0.0f;
  for (int w = 0; w < kWarps; ++w) s += scratch[w]; // same order in every thread
  __syncthreads();
  return s;
}

// The logit the sampling passes see: -inf where the row's token mask (if any) forbids token i.
__device__ __forceinline__ float masked_logit(float v, const uint32_t* mask, int i) {
  if (mask == nullptr || ((__ldg(mask + (i >> 5)) >> (i & 31)) & 1u)) return v;
  return -INFINITY;
}
__device__ __forceinline__ float allowed_logit(const float* row, const uint32_t* mask, int i) {
  return masked_logit(row[i], mask, i);
}

// The row's largest allowed logit and its lowest index, every thread gets it. The row is read as float4s, four of them
// in flight a thread (one scalar load at a time left a batch-1 step's greedy pass at ~31 us for a 128k vocabulary,
// latency-bound on one SM); `better` orders (value, index) totally, so the visiting order changes nothing.
__device__ ValueIndex row_best(const float* row, const uint32_t* mask, int vocab, ValueIndex* scratch) {
  ValueIndex best{-FLT_MAX, 0x7fffffff};
  auto visit = [&](float v, int i) { best = better(best, ValueIndex{masked_logit(v, mask, i), i}); }; // NaN never wins
  int scalar_from = 0;
  if ((reinterpret_cast<uintptr_t>(row) & 15) == 0) {
    constexpr int kUnroll = 4;
    const float4* row4 = reinterpret_cast<const float4*>(row);
    const int n4 = vocab / 4, stride = static_cast<int>(blockDim.x);
    int j = threadIdx.x;
    for (; j + (kUnroll - 1) * stride < n4; j += kUnroll * stride) {
      float4 v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = row4[j + u * stride];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = 4 * (j + u * stride);
        visit(v[u].x, i);
        visit(v[u].y, i + 1);
        visit(v[u].z, i + 2);
        visit(v[u].w, i + 3);
      }
    }
    for (; j < n4; j += stride) {
      const float4 v = row4[j];
      visit(v.x, 4 * j);
      visit(v.y, 4 * j + 1);
      visit(v.z, 4 * j + 2);
      visit(v.w, 4 * j + 3);
    }
    scalar_from = 4 * n4;
  }
  for (int i = scalar_from + static_cast<int>(threadIdx.x); i < vocab; i += blockDim.x) visit(row[i], i);
  return block_argmax(best, scratch);
}

// The token of a row's argmax: index 0 when no logit could win (all -inf or NaN).
__device__ __forceinline__ int argmax_id(ValueIndex best) { return best.index == 0x7fffffff ? 0 : best.index; }

// By one thread of a row: its top_stride top entries as zeros (a row wanting no logprobs), its token (also into
// ids_mirror). Both sampling kernels write through these, so the greedy split leaves what sample_rows leaves.
__device__ void write_no_top(const SampleOutputs& out, int row) {
  for (int k = 0; k < out.top_stride; ++k) {
    out.top_ids[static_cast<int64_t>(row) * out.top_stride + k] = 0;
    out.top_logprobs[static_cast<int64_t>(row) * out.top_stride + k] = 0.0f;
  }
}
__device__ void write_id(const SampleOutputs& out, int row, int chosen) {
  out.ids[row] = chosen;
  if (out.ids_mirror != nullptr) out.ids_mirror[row] = chosen;
}

// The unnormalized probability of a logit: 1 at the largest.
__device__ __forceinline__ float prob(float logit, float max_logit, float inv_t) {
  return __expf((logit - max_logit) * inv_t);
}

struct Histogram {
  int count[256];
  float mass[256];
};

// Among the candidates (probability >= lo), the largest probability v such that the
// candidates >= v hold at least `target` (a count, or a mass when by_mass). Returns lo when
// all candidates together hold less. Probabilities are positive floats, so their bit
// patterns order as they do; four passes of 8 bits each pin v down exactly.
__device__ float select_threshold(const float* row, const uint32_t* tmask, int vocab, float max_logit, float inv_t,
                                  float lo, bool by_mass, float target, Histogram& h, float* shared_result) {
  uint32_t prefix = 0, mask = 0;
  float above = 0.0f; // measure of the candidates above the prefix's range
  bool found = true;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) {
      h.count[i] = 0;
      h.mass[i] = 0.0f;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      const float p = prob(allowed_logit(row, tmask, i), max_logit, inv_t);
      const uint32_t key = __float_as_uint(p);
      if (p >= lo && (key & mask) == prefix) {
        const int bin = (key >> shift) & 255;
        atomicAdd(&h.count[bin], 1);
        if (by_mass) atomicAdd(&h.mass[bin], p);
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) { // `above` is carried from level to level by thread 0 alone
      int digit = -1, lowest = -1;
      for (int d = 255; d >= 0; --d) {
        if (h.count[d] == 0) continue;
        lowest = d;
        const float m = by_mass ? h.mass[d] : static_cast<float>(h.count[d]);
        if (above + m >= target) {
          digit = d;
          break;
        }
        above += m;
      }
      // Below the first level the range is known to hold the target; a mass summed in
      // another order can fall a rounding short of it: then the whole range stays.
      if (digit < 0 && shift < 24) digit = lowest;
      shared_result[0] = __int_as_float(digit);
    }
    __syncthreads();
    const int digit = __float_as_int(shared_result[0]);
    __syncthreads();
    if (digit < 0) {
      found = false;
      break;
    }
    prefix |= static_cast<uint32_t>(digit) << shift;
    mask |= 255u << shift;
  }
  return found ? fmaxf(lo, __uint_as_float(prefix)) : lo;
}

// log(sum(exp(row))) over the whole row, every thread gets it.
__device__ float row_log_z(const float* row, int vocab, ValueIndex* vi_scratch, float* f_scratch) {
  const float max_logit = row_best(row, nullptr, vocab, vi_scratch).value;
  float s = 0.0f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += __expf(row[i] - max_logit);
  return max_logit + __logf(block_sum(s, f_scratch));
}

// The row is read and written in place (no __restrict__ / read-only loads: the adjustments
// change it before the sampling passes read it).
__global__ void sample_rows_kernel(float* logits, const DeviceRowSampling* __restrict__ params,
                                   const LogitAdjustment* __restrict__ adjustments, float* adjust_raw,
                                   const int32_t* __restrict__ previous_ids, const uint32_t* __restrict__ masks,
                                   int mask_words, SampleOutputs out, int vocab) {
  __shared__ ValueIndex vi_scratch[kWarps];
  __shared__ float f_scratch[kWarps];
  __shared__ float warp_sums[kWarps];
  __shared__ Histogram hist;
  __shared__ float shared_result[1];
  __shared__ int chosen_shared;
  __shared__ int newest_merged;

  float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  const DeviceRowSampling p = params[blockIdx.x];
  const bool adjusted = p.adjust_end > p.adjust_begin;
  const uint32_t* tmask = p.mask_row >= 0 ? masks + static_cast<int64_t>(p.mask_row) * mask_words : nullptr;
  // The logprob is of the raw logits: their normalizer before the adjustments change them.
  const float raw_log_z = p.want_logprob && adjusted ? row_log_z(row, vocab, vi_scratch, f_scratch) : 0.0f; // before
  // the adjustments; a mask changes nothing in the row, so a masked row's is taken at the end
  // A row launched ahead of its newest token's id has that token's share as its last entry
  // (token -1 - r): resolved from the previous step's ids and merged into the entry of the same
  // token if there is one, else applied on its own (with_newest: the host's entry, had it known).
  int known_end = p.adjust_end, newest = -1;
  LogitAdjustment newest_entry;
  if (adjusted) {
    newest_entry = adjustments[p.adjust_end - 1];
    if (newest_entry.token < 0) {
      newest = previous_ids[-1 - newest_entry.token];
      known_end -= 1;
      if (threadIdx.x == 0) newest_merged = 0;
      __syncthreads();
    }
    for (int e = p.adjust_begin + static_cast<int>(threadIdx.x); e < known_end; e += blockDim.x) {
      LogitAdjustment a = adjustments[e];
      if (a.token == newest) {
        a = with_newest(a, newest_entry);
        newest_merged = 1;
      }
      const float raw = row[a.token];
      adjust_raw[e] = raw;
      row[a.token] = adjusted_logit(raw, a);
    }
    __syncthreads(); // the block's global writes are visible to the block after the barrier
    if (newest >= 0) { // the same for every thread of the block
      if (!newest_merged && threadIdx.x == 0) {
        LogitAdjustment a{};
        a.token = newest;
        a = with_newest(a, newest_entry);
        const float raw = row[newest];
        adjust_raw[p.adjust_end - 1] = raw;
        row[newest] = adjusted_logit(raw, a);
      }
      __syncthreads();
    }
  }

  const ValueIndex best = row_best(row, tmask, vocab, vi_scratch);
  const float max_logit = best.value;
  int chosen = argmax_id(best);

  if (p.temperature >= 1e-5f) {
    const float inv_t = 1.0f / p.temperature;
    float lo = fmaxf(p.min_p, FLT_MIN); // candidates: probability > 0 and >= min_p of the top
    if (p.top_k > 0 && p.top_k < vocab)
      lo = select_threshold(row, tmask, vocab, max_logit, inv_t, lo, false, static_cast<float>(p.top_k), hist,
                            shared_result);
    if (p.top_p < 1.0f) {
      float kept = 0.0f;
      for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const float q = prob(allowed_logit(row, tmask, i), max_logit, inv_t);
        if (q >= lo) kept += q;
      }
      kept = block_sum(kept, f_scratch);
      lo = select_threshold(row, tmask, vocab, max_logit, inv_t, lo, true, p.top_p * kept, hist, shared_result);
    }
    // The draw, in index order: each thread owns a contiguous chunk; a block scan of the
    // chunk sums tells which chunk holds u · total.
    const int chunk = (vocab + blockDim.x - 1) / blockDim.x;
    const int begin = min(vocab, static_cast<int>(threadIdx.x) * chunk), end = min(vocab, begin + chunk);
    float local = 0.0f;
    int last = -1;
    for (int i = begin; i < end; ++i) {
      const float q = prob(allowed_logit(row, tmask, i), max_logit, inv_t);
      if (q >= lo) {
        local += q;
        last = i;
      }
    }
    // Inclusive scan of `local` over the block: within warps, then over the warp totals.
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float incl = local;
    for (int o = 1; o < 32; o <<= 1) {
      const float n = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += n;
    }
    if (lane == 31) warp_sums[warp] = incl;
    if (threadIdx.x == 0) chosen_shared = 0x7fffffff;
    __syncthreads();
    float warp_offset = 0.0f, total = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
      if (w < warp) warp_offset += warp_sums[w];
      total += warp_sums[w];
    }
    const float excl = warp_offset + incl - local;
    const float target = static_cast<float>(p.uniform) * total;
    if (local > 0.0f && target >= excl && target < excl + local) {
      float cum = excl;
      int pick = last;
      for (int i = begin; i < end; ++i) {
        const float q = prob(allowed_logit(row, tmask, i), max_logit, inv_t);
        if (q >= lo) {
          cum += q;
          if (target < cum) {
            pick = i;
            break;
          }
        }
      }
      atomicMin(&chosen_shared, pick);
    }
    __syncthreads();
    if (chosen_shared == 0x7fffffff) {
      // u · total fell past the last chunk by rounding: the last candidate.
      ValueIndex l = block_argmax(ValueIndex{static_cast<float>(last), last}, vi_scratch);
      chosen = l.index >= 0 ? l.index : chosen;
    } else {
      chosen = chosen_shared;
    }
  }

  if (adjusted) { // back to the raw logits: the logprobs are theirs
    __syncthreads();
    for (int e = p.adjust_begin + static_cast<int>(threadIdx.x); e < known_end; e += blockDim.x)
      row[adjustments[e].token] = adjust_raw[e];
    if (newest >= 0 && !newest_merged && threadIdx.x == 0) row[newest] = adjust_raw[p.adjust_end - 1];
    __syncthreads();
  }
  if (p.want_logprob) {
    float log_z = raw_log_z;
    if (!adjusted && tmask != nullptr) log_z = row_log_z(row, vocab, vi_scratch, f_scratch);
    else if (!adjusted) { // max_logit is the raw row's: one pass for the sum
      float s = 0.0f;
      for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += __expf(row[i] - max_logit);
      log_z = max_logit + __logf(block_sum(s, f_scratch));
    }
    if (threadIdx.x == 0) out.logprobs[blockIdx.x] = row[chosen] - log_z;
    // The top n, one block argmax each over what ranks below the previous pick.
    ValueIndex prev{INFINITY, -1};
    for (int k = 0; k < out.top_stride; ++k) {
      ValueIndex pick{-INFINITY, 0};
      if (k < p.top_logprobs) {
        ValueIndex best_below{-INFINITY, 0x7fffffff};
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
          const float v = row[i];
          if (v < prev.value || (v == prev.value && i > prev.index)) best_below = better(best_below, ValueIndex{v, i});
        }
        pick = block_argmax(best_below, vi_scratch);
        prev = pick;
      }
      if (threadIdx.x == 0) {
        const bool used = k < p.top_logprobs && pick.index != 0x7fffffff;
        out.top_ids[static_cast<int64_t>(blockIdx.x) * out.top_stride + k] = used ? pick.index : 0;
        out.top_logprobs[static_cast<int64_t>(blockIdx.x) * out.top_stride + k] = used ? pick.value - log_z : 0.0f;
      }
    }
  } else if (threadIdx.x == 0) {
    write_no_top(out, blockIdx.x);
  }
  if (threadIdx.x == 0) write_id(out, blockIdx.x, chosen);
}

// Plain greedy rows split over CTAs (sample_rows_greedy): CTA (p, r) takes floats [p, p + 1) x kSplitChunk of row
// r (16 KB: four float4 loads in flight a thread, so at batch 1 the whole 128k row is in flight at once), writes
// its best (value, index) to the scratch, and the row's last CTA to finish reduces the row's partials. `better`
// orders (value, index) totally and never lets NaN win, so any split finds row_best's answer exactly.
constexpr int kSplitThreads = 256;
constexpr int kSplitWarps = kSplitThreads / 32;
constexpr int kSplitLoads = 4;
constexpr int kSplitChunk = kSplitThreads * kSplitLoads * 4;
// The scratch: kGreedySplitMaxRows arrival counters at a fixed place (a launch with fewer rows must find the
// counters of a larger one zero, not partials), then the partials, greedy_split_parts(vocab) a row.
constexpr size_t kCounterBytes = 128;
static_assert(kGreedySplitMaxRows * sizeof(uint32_t) <= kCounterBytes, "the counters outgrow their place");

int greedy_split_parts(int vocab) { return std::max(1, (vocab + kSplitChunk - 1) / kSplitChunk); }

// This CTA's best of its part of the row, visited as row_best visits it (no mask): the float4s from the row's
// first 16-byte boundary on (rows of an odd vocabulary start anywhere), part 0 also the up to three floats
// before that boundary and the up to three past the last whole float4.
__device__ ValueIndex split_part_best(const float* __restrict__ row, int vocab, int part) {
  const int lead = min(vocab, static_cast<int>((16 - (reinterpret_cast<uintptr_t>(row) & 15)) & 15) / 4);
  const int n4 = (vocab - lead) / 4;
  const float4* row4 = reinterpret_cast<const float4*>(row + lead);
  ValueIndex best{-FLT_MAX, 0x7fffffff};
  auto visit = [&](float v, int i) { best = better(best, ValueIndex{masked_logit(v, nullptr, i), i}); }; // NaN never wins
  const int first = part * (kSplitThreads * kSplitLoads) + static_cast<int>(threadIdx.x);
  float4 v[kSplitLoads];
#pragma unroll
  for (int u = 0; u < kSplitLoads; ++u) { // every load issued before the first compare
    const int j = first + u * kSplitThreads;
    v[u] = j < n4 ? row4[j] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
#pragma unroll
  for (int u = 0; u < kSplitLoads; ++u) {
    const int j = first + u * kSplitThreads;
    if (j >= n4) continue;
    visit(v[u].x, lead + 4 * j);
    visit(v[u].y, lead + 4 * j + 1);
    visit(v[u].z, lead + 4 * j + 2);
    visit(v[u].w, lead + 4 * j + 3);
  }
  if (part == 0) { // threads [0, lead) the head, the next ones the tail
    const int t = static_cast<int>(threadIdx.x);
    const int i = t < lead ? t : lead + 4 * n4 + (t - lead);
    if (i < vocab) visit(row[i], i);
  }
  return best;
}

// grid (greedy_split_parts(vocab), rows). counters[r] counts row r's finished CTAs; the last resets it to zero,
// so the next launch (or a graph replay) starts from zero again.
__global__ void __launch_bounds__(kSplitThreads)
    sample_rows_greedy_kernel(const float* __restrict__ logits, SampleOutputs out, int vocab, uint32_t* counters,
                              ValueIndex* partials) {
  __shared__ ValueIndex scratch[kSplitWarps];
  __shared__ bool last;
  // The next step's input copy (launched with PDL) may start now: it reads this kernel's ids only after its wait.
  pdl_launch_dependents();
  const int row = blockIdx.y, parts = gridDim.x;
  ValueIndex* row_partials = partials + static_cast<int64_t>(row) * parts;
  const ValueIndex best =
      block_argmax<kSplitWarps>(split_part_best(logits + static_cast<int64_t>(row) * vocab, vocab, blockIdx.x), scratch);
  if (threadIdx.x == 0) {
    row_partials[blockIdx.x] = best;
    __threadfence(); // the partial is visible device-wide before the counter says it is there
    last = atomicAdd(counters + row, 1u) == static_cast<uint32_t>(parts - 1);
    if (last) __threadfence(); // and the others' partials are seen after their counts (fence to fence)
  }
  __syncthreads();
  if (!last) return;
  ValueIndex total{-FLT_MAX, 0x7fffffff};
  for (int k = threadIdx.x; k < parts; k += kSplitThreads) // through L2: other SMs wrote them
    total = better(total, ValueIndex{__ldcg(&row_partials[k].value), __ldcg(&row_partials[k].index)});
  total = block_argmax<kSplitWarps>(total, scratch);
  if (threadIdx.x == 0) {
    counters[row] = 0;
    write_no_top(out, row);
    write_id(out, row, argmax_id(total));
  }
}

void check_top_outputs(const SampleOutputs& out, const char* what) {
  if (out.top_stride > 0 && (out.top_ids == nullptr || out.top_logprobs == nullptr))
    throw Error(std::string(what) + ": top_stride " + std::to_string(out.top_stride) +
                " needs top_ids and top_logprobs");
}

} // namespace

void sample_rows(float* logits, const DeviceRowSampling* params, const LogitAdjustment* adjustments, float* adjust_raw,
                 const int32_t* previous_ids, const uint32_t* masks, int mask_words, const SampleOutputs& out, int rows,
                 int vocab, cudaStream_t stream) {
  if (rows == 0) return;
  check_top_outputs(out, "sample_rows");
  sample_rows_kernel<<<rows, kThreads, 0, stream>>>(logits, params, adjustments, adjust_raw, previous_ids, masks,
                                                    mask_words, out, vocab);
  PAGODA_CUDA_CHECK_LAUNCH("sample_rows_kernel");
}

size_t greedy_split_scratch_bytes(int vocab) {
  return kCounterBytes + size_t(kGreedySplitMaxRows) * greedy_split_parts(vocab) * sizeof(ValueIndex);
}

void sample_rows_greedy(const float* logits, const SampleOutputs& out, int rows, int vocab, void* scratch,
                        size_t scratch_bytes, cudaStream_t stream) {
  if (rows == 0) return;
  if (rows < 0 || rows > kGreedySplitMaxRows)
    throw Error("sample_rows_greedy: " + std::to_string(rows) + " rows; at most " +
                std::to_string(kGreedySplitMaxRows));
  if (scratch == nullptr || scratch_bytes < greedy_split_scratch_bytes(vocab))
    throw Error("sample_rows_greedy: the scratch holds " + std::to_string(scratch_bytes) + " bytes, vocabulary " +
                std::to_string(vocab) + " needs " + std::to_string(greedy_split_scratch_bytes(vocab)));
  check_top_outputs(out, "sample_rows_greedy");
  const int parts = greedy_split_parts(vocab);
  auto* counters = static_cast<uint32_t*>(scratch);
  auto* partials = reinterpret_cast<ValueIndex*>(static_cast<char*>(scratch) + kCounterBytes);
  sample_rows_greedy_kernel<<<dim3(parts, rows), kSplitThreads, 0, stream>>>(logits, out, vocab, counters, partials);
  PAGODA_CUDA_CHECK_LAUNCH("sample_rows_greedy_kernel");
}

} // namespace pagoda::cuda
