// Paged attention for the float32 compute path: one kernel for prefill, chunked prefill and
// decode. Plain on purpose (the float32 checkpoints are tiny): one block per (token, q head)
// walks the token's context in chunks of one key per thread, with an online softmax, so any
// head_dim up to 256 and any block size work and the arithmetic is easy to check.
#include "backend/cuda/kernels.h"

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kThreads = 128;    // keys per chunk, and threads per block
constexpr int kMaxHeadDim = 256;
constexpr int kDimsPerThread = (kMaxHeadDim + kThreads - 1) / kThreads;

// Max over the block (blockDim.x == kThreads); every thread gets it.
__device__ __forceinline__ float block_max(float x) {
  __shared__ float partial[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  x = warp_max(x);
  __syncthreads(); // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  float m = partial[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) m = fmaxf(m, partial[w]);
  return m;
}

// Sequence that owns `token`: the last s with query_start[s] <= token.
__device__ __forceinline__ int find_seq(const int32_t* query_start, int num_seqs, int token) {
  int lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (query_start[mid] <= token) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

} // namespace

__global__ void __launch_bounds__(kThreads) paged_attention_f32_kernel(PagedAttentionArgsF32 a, int num_seqs) {
  pdl_wait();
  pdl_launch_dependents();
  __shared__ float q_s[kMaxHeadDim];
  __shared__ float p_s[kThreads];
  const int token = blockIdx.x, head = blockIdx.y, tid = threadIdx.x;
  const int D = a.head_dim, bs = a.block_size;
  const int seq = find_seq(a.query_start, num_seqs, token);
  // Absolute position of this token: the sequence's new tokens end at context_len - 1.
  const int pos = a.context_lens[seq] - (a.query_start[seq + 1] - token);
  const int num_keys = pos + 1; // causal: keys 0..pos
  const int kv_head = head / (a.num_q_heads / a.num_kv_heads);
  const int32_t* table = a.block_tables + static_cast<int64_t>(seq) * a.max_blocks_per_seq;
  // Start of key j's head_dim elements in a [num_blocks, kv_heads, block_size, head_dim] cache.
  auto kv_offset = [&](int j) {
    return ((static_cast<int64_t>(table[j / bs]) * a.num_kv_heads + kv_head) * bs + j % bs) * D;
  };

  const float* q = a.q + static_cast<int64_t>(token) * a.q_token_stride + static_cast<int64_t>(head) * D;
  for (int d = tid; d < D; d += kThreads) q_s[d] = q[d];
  __syncthreads();

  float m = -INFINITY, l = 0.f; // running max and sum of exp(score - m), the same in every thread
  float acc[kDimsPerThread] = {};
  for (int base = 0; base < num_keys; base += kThreads) {
    const int j = base + tid;
    float s = -INFINITY;
    if (j < num_keys) {
      const float* k = a.k_cache + kv_offset(j);
      float dot = 0.f;
      for (int d = 0; d < D; ++d) dot = fmaf(q_s[d], k[d], dot);
      s = dot * a.scale;
    }
    const float new_m = fmaxf(m, block_max(s)); // finite: key `base` is in range
    const float p = j < num_keys ? expf(s - new_m) : 0.f;
    const float alpha = expf(m - new_m); // 0 on the first chunk (m = -inf)
    p_s[tid] = p;
    l = l * alpha + block_sum(p); // block_sum's barriers also publish p_s
    const int chunk = min(kThreads, num_keys - base);
#pragma unroll
    for (int r = 0; r < kDimsPerThread; ++r) {
      const int d = tid + r * kThreads;
      if (d >= D) continue;
      float sum = 0.f;
      for (int jj = 0; jj < chunk; ++jj) sum = fmaf(p_s[jj], a.v_cache[kv_offset(base + jj) + d], sum);
      acc[r] = acc[r] * alpha + sum;
    }
    m = new_m;
    __syncthreads(); // p_s is rewritten by the next chunk
  }
  float* out = a.out + (static_cast<int64_t>(token) * a.num_q_heads + head) * D;
  const float inv_l = 1.f / l;
#pragma unroll
  for (int r = 0; r < kDimsPerThread; ++r) {
    const int d = tid + r * kThreads;
    if (d < D) out[d] = acc[r] * inv_l;
  }
}

void paged_attention_f32(const PagedAttentionArgsF32& args, int num_tokens, int num_seqs, cudaStream_t stream) {
  if (args.head_dim < 1 || args.head_dim > kMaxHeadDim)
    throw Error("paged_attention_f32: head_dim " + std::to_string(args.head_dim) + " outside 1.." +
                std::to_string(kMaxHeadDim));
  if (args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0)
    throw Error("paged_attention_f32: " + std::to_string(args.num_q_heads) + " q heads are not a multiple of " +
                std::to_string(args.num_kv_heads) + " kv heads");
  if (args.block_size <= 0) throw Error("paged_attention_f32: block_size must be positive");
  if (num_tokens == 0 || num_seqs == 0) return;
  launch_pdl("paged_attention_f32_kernel", paged_attention_f32_kernel, dim3(num_tokens, args.num_q_heads),
             dim3(kThreads), 0, stream, args, num_seqs);
}

} // namespace pagoda::cuda
