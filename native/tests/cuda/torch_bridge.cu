// A C ABI over the attention kernels and the cuBLASLt GEMM, for check_against_torch.py
// (ctypes, device pointers from torch tensors). Each call returns 0, or -1 with the reason
// in pagoda_bridge_last_error().
#include <string>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/kernels.h"

using namespace pagoda::cuda;

namespace {

std::string last_error;

template <typename Fn> int guarded(Fn&& fn) {
  try {
    fn();
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
    return -1;
  }
}

PagedAttentionArgs make_args(const void* q, long q_stride, const void* k_cache, const void* v_cache, void* out,
                             const void* query_start, const void* context_lens, const void* block_tables,
                             int max_blocks, int q_heads, int kv_heads, int head_dim, int block_size, float scale) {
  PagedAttentionArgs a;
  a.q = static_cast<const bf16*>(q);
  a.q_token_stride = q_stride;
  a.k_cache = static_cast<const bf16*>(k_cache);
  a.v_cache = static_cast<const bf16*>(v_cache);
  a.out = static_cast<bf16*>(out);
  a.query_start = static_cast<const int32_t*>(query_start);
  a.context_lens = static_cast<const int32_t*>(context_lens);
  a.block_tables = static_cast<const int32_t*>(block_tables);
  a.max_blocks_per_seq = max_blocks;
  a.num_q_heads = q_heads;
  a.num_kv_heads = kv_heads;
  a.head_dim = head_dim;
  a.block_size = block_size;
  a.scale = scale;
  return a;
}

int num_sms() {
  int n = 0;
  PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, 0));
  return n;
}

} // namespace

extern "C" {

const char* pagoda_bridge_last_error() { return last_error.c_str(); }

// tiles: device int32 pairs (seq, first row), as PrefillTile.
int pagoda_bridge_prefill(const void* q, long q_stride, const void* k_cache, const void* v_cache, void* out,
                          const void* query_start, const void* context_lens, const void* block_tables, int max_blocks,
                          int q_heads, int kv_heads, int head_dim, int block_size, float scale, const void* tiles,
                          int num_tiles) {
  return guarded([&] {
    paged_attention_prefill(make_args(q, q_stride, k_cache, v_cache, out, query_start, context_lens, block_tables,
                                      max_blocks, q_heads, kv_heads, head_dim, block_size, scale),
                            static_cast<const PrefillTile*>(tiles), num_tiles, 0);
  });
}

long pagoda_bridge_decode_workspace(int num_seqs, int q_heads, int kv_heads, int head_dim, int max_context_len) {
  const DecodePlan plan = plan_paged_attention_decode(num_seqs, kv_heads, q_heads, max_context_len, num_sms());
  return static_cast<long>(paged_attention_decode_workspace_bytes(plan, num_seqs, q_heads, head_dim));
}

int pagoda_bridge_decode(const void* q, long q_stride, const void* k_cache, const void* v_cache, void* out,
                         const void* query_start, const void* context_lens, const void* block_tables, int max_blocks,
                         int q_heads, int kv_heads, int head_dim, int block_size, float scale, const void* seq_ids,
                         int num_seqs, int max_context_len, void* workspace, long workspace_bytes) {
  return guarded([&] {
    const DecodePlan plan = plan_paged_attention_decode(num_seqs, kv_heads, q_heads, max_context_len, num_sms());
    paged_attention_decode(make_args(q, q_stride, k_cache, v_cache, out, query_start, context_lens, block_tables,
                                     max_blocks, q_heads, kv_heads, head_dim, block_size, scale),
                           static_cast<const int32_t*>(seq_ids), num_seqs, plan, workspace,
                           static_cast<size_t>(workspace_bytes), 0);
  });
}

int pagoda_bridge_linear(const void* x, const void* w, void* y, int m, int n, int k, int out_f32) {
  return guarded([&] {
    static CublasLt gemm; // one handle and plan cache for the process
    gemm.linear(static_cast<const bf16*>(x), static_cast<const bf16*>(w), y,
                 out_f32 ? GemmOutput::kF32 : GemmOutput::kBf16, m, n, k, 0);
  });
}

} // extern "C"
