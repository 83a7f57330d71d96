// Cascade attention for decode steps whose sequences share a prefix of KV blocks (issue 20):
// cascade_prefix_attention reads the shared prefix's K/V ONCE for the decode queries of every
// sequence (instead of once per sequence, 75% of a prefix-caching decode step's bytes) and writes
// per (sequence, query head, partition) partials; the decode kernel of attention_decode.cu runs on
// what follows the prefix and its merge combines both. Reference: paged_attention_decode on the
// same inputs (cascade_attention_test).
#include "backend/cuda/kernels.h"

#include <cmath>
#include <cstdint>

#include "backend/cuda/cascade_plan.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

// The kernel's source, shared with the host emulation test.
#define CASCADE_DEVICE __device__ __forceinline__
#define CASCADE_KERNEL(threads, min_blocks) __global__ void __launch_bounds__(threads, min_blocks)
#define CASCADE_DYNAMIC_SMEM(name) extern __shared__ __align__(128) unsigned char name[]
#include "backend/cuda/attention_cascade_kernel.cuh"

namespace pagoda::cuda {

using cascade::CascadeSizes;
using cascade::cascade_prefix_kernel;
using cascade::kThreads;

namespace {

template <int D>
void launch_prefix(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs, const CascadeStep& step,
                   void* workspace, cudaStream_t stream) {
  constexpr int smem = CascadeSizes<D>::kSmemBytes;
  static const bool configured = [] { // once per instantiation: more than the default 48 KB
    PAGODA_CUDA_CHECK(
        cudaFuncSetAttribute(cascade_prefix_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return true;
  }();
  (void)configured;
  const int slots_per_head = step.prefix_partitions + step.suffix_plan.max_partitions;
  float* part_out = static_cast<float*>(workspace);
  const size_t slots = static_cast<size_t>(num_seqs) * args.num_q_heads * slots_per_head;
  float2* part_stats = reinterpret_cast<float2*>(part_out + slots * D);
  const dim3 grid(step.prefix_row_tiles, args.num_kv_heads, step.prefix_partitions);
  launch_pdl("cascade_prefix_kernel", cascade_prefix_kernel<D>, grid, dim3(kThreads), smem, stream, args, seq_ids,
             num_seqs, step.prefix_table, step.prefix_blocks * args.block_size, step.prefix_partition_tokens,
             slots_per_head, part_out, part_stats);
}

} // namespace

void plan_cascade_step(CascadeStep& step, int num_decode, int num_kv_heads, int num_q_heads, int block_size,
                       int max_decode_context, int num_sms) {
  const int prefix_tokens = step.prefix_blocks * block_size;
  if (step.prefix_blocks <= 0 || num_kv_heads <= 0 || max_decode_context <= prefix_tokens)
    throw Error("plan_cascade_step: a prefix of " + std::to_string(prefix_tokens) +
                " tokens needs decode contexts longer than it (longest " + std::to_string(max_decode_context) + ")");
  const CascadePrefixPlan p =
      plan_cascade_prefix(num_decode, num_kv_heads, num_q_heads / num_kv_heads, prefix_tokens, num_sms);
  step.prefix_row_tiles = p.row_tiles;
  step.prefix_partition_tokens = p.partition_tokens;
  step.prefix_partitions = p.partitions;
  step.suffix_plan =
      plan_paged_attention_decode(num_decode, num_kv_heads, num_q_heads, max_decode_context - prefix_tokens, num_sms);
}

size_t cascade_attention_workspace_bytes(const CascadeStep& step, int num_seqs, int num_q_heads, int head_dim) {
  return cascade_workspace_bytes(step.prefix_partitions, step.suffix_plan.max_partitions, num_seqs, num_q_heads,
                                 head_dim);
}

void cascade_prefix_attention(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                              const CascadeStep& step, void* workspace, cudaStream_t stream) {
  if (args.k_cache_fp8 != nullptr || args.k_cache == nullptr)
    throw Error("cascade_prefix_attention: needs a bfloat16 KV cache (an fp8 cache takes no cascade)");
  if (!cascade_head_dim_supported(args.head_dim))
    throw Error("cascade_prefix_attention: head_dim " + std::to_string(args.head_dim) + " is not 64 or 128");
  if (args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0 || args.block_size <= 0)
    throw Error("cascade_prefix_attention: bad head counts or block size");
  const int prefix_tokens = step.prefix_blocks * args.block_size;
  const int group = args.num_q_heads / args.num_kv_heads;
  if (step.prefix_blocks <= 0 || step.prefix_table == nullptr || step.prefix_partition_tokens <= 0 ||
      step.prefix_partition_tokens % kCascadeKeysPerTile != 0 || step.prefix_partitions <= 0 ||
      static_cast<int64_t>(step.prefix_partitions - 1) * step.prefix_partition_tokens >= prefix_tokens ||
      static_cast<int64_t>(step.prefix_partitions) * step.prefix_partition_tokens < prefix_tokens ||
      static_cast<int64_t>(step.prefix_row_tiles) * kCascadeRowsPerCta < static_cast<int64_t>(num_seqs) * group)
    throw Error("cascade_prefix_attention: the step's prefix plan must come from plan_cascade_prefix");
  if (num_seqs == 0) return;
  if (args.head_dim == 64)
    launch_prefix<64>(args, seq_ids, num_seqs, step, workspace, stream);
  else
    launch_prefix<128>(args, seq_ids, num_seqs, step, workspace, stream);
}

void cascade_attention_decode(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                              const CascadeStep& step, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const size_t needed = cascade_attention_workspace_bytes(step, num_seqs, args.num_q_heads, args.head_dim);
  if (workspace_bytes < needed)
    throw Error("cascade_attention_decode: workspace of " + std::to_string(workspace_bytes) +
                " bytes is smaller than the " + std::to_string(needed) + " this step needs");
  if (step.suffix_context_lens == nullptr)
    throw Error("cascade_attention_decode: the step has no suffix context lengths");
  cascade_prefix_attention(args, seq_ids, num_seqs, step, workspace, stream);
  // The suffix: each sequence's blocks after the prefix (same row stride), its context less the
  // prefix; the prefix is whole blocks, so its first key starts a block.
  PagedAttentionArgs suffix = args;
  suffix.block_tables = args.block_tables + step.prefix_blocks;
  suffix.context_lens = step.suffix_context_lens;
  paged_attention_decode_after_prefix(suffix, seq_ids, num_seqs, step.suffix_plan, step.prefix_partitions, workspace,
                                      stream);
}

} // namespace pagoda::cuda
