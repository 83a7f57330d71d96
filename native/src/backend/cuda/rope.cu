// Rotary position embedding, neox style (rotate halves), in place on q and k (bf16, or float32
// on the float32 compute path). One block per token: each thread owns one frequency,
// computes its cos/sin once and applies it to every head. Frequencies (every scaling type)
// come precomputed from rope_frequencies.cpp.
#include "backend/cuda/kernels.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/elem8.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rope_neox.cuh"
#include "error.h"

namespace pagoda::cuda {

// One thread's part of a token's rotation: frequency i of heads head_start, head_start + heads_in_parallel, ...
// (a whole number of heads a block), q's heads then k's. Positions and frequencies are step inputs, copied up before
// the step's first kernel, so their loads and the sincos run before the PDL wait, beside the previous kernel.
// Full-precision sincos: angles reach 1e5 radians at long positions.
struct RopeLane {
  int half, i, head_start, heads_in_parallel;
  bool active;
  float s = 0.f, c = 1.f;
  __device__ RopeLane(int64_t token, const int32_t* positions, const float* inv_freq, int rotary_dim)
      : half(rotary_dim / 2), i(threadIdx.x % half), head_start(threadIdx.x / half),
        heads_in_parallel(blockDim.x / half), active(head_start < heads_in_parallel) {
    if (active) rope_neox_sincos(positions[token], inv_freq[i], &s, &c);
  }

  // The pairs are loaded kChunk at a time before any is stored: rotated pair by pair, every load waited behind the
  // stores before it (the compiler cannot tell the heads apart), ten dependent L2 round trips a token at
  // Llama-3-8B's shape (32 + 8 heads, 4 a pass).
  template <typename T>
  __device__ void rotate(T* q_row, T* k_row, int num_q_heads, int num_kv_heads, int head_dim) const {
    if (!active) return;
    constexpr int kChunk = 16;
    const int heads = num_q_heads + num_kv_heads;
    T* const q_pair = q_row + i;
    T* const k_pair = k_row + i;
    auto pair = [&](int h) { // a select, not a branch: a token's heads are a few thousand elements, int offsets
      const bool in_q = h < num_q_heads;
      return (in_q ? q_pair : k_pair) + (in_q ? h : h - num_q_heads) * head_dim;
    };
    for (int h0 = head_start; h0 < heads; h0 += kChunk * heads_in_parallel) {
      float x1[kChunk], x2[kChunk];
#pragma unroll
      for (int j = 0; j < kChunk; ++j) {
        const int h = h0 + j * heads_in_parallel;
        if (h < heads) {
          const T* p = pair(h);
          x1[j] = to_float(p[0]);
          x2[j] = to_float(p[half]);
        }
      }
#pragma unroll
      for (int j = 0; j < kChunk; ++j) {
        const int h = h0 + j * heads_in_parallel;
        if (h < heads) {
          T* p = pair(h);
          p[0] = from_float<T>(rope_neox_first(x1[j], x2[j], c, s));
          p[half] = from_float<T>(rope_neox_second(x1[j], x2[j], c, s));
        }
      }
    }
  }
};

template <typename T>
__global__ void rope_neox_kernel(T* __restrict__ q, T* __restrict__ k, int64_t token_stride,
                                 const int32_t* positions,
                                 const float* inv_freq, int num_q_heads,
                                 int num_kv_heads, int head_dim, int rotary_dim) {
  const int64_t token = blockIdx.x;
  const RopeLane lane(token, positions, inv_freq, rotary_dim);
  pdl_wait();
  pdl_launch_dependents();
  lane.rotate(q + token * token_stride, k + token * token_stride, num_q_heads, num_kv_heads, head_dim);
}

// rope_neox_kernel's rotation, then the token's K (rotated) and V written to the paged cache as kv_cache_write
// does (16-byte vectors), in one block a token: one kernel boundary less on the decode step's chain. The
// rotated K is read back after a barrier: the block's own global writes are visible to it then. V, which the
// rotation does not touch, is loaded with the rotation's pairs, so the copy after the barrier waits on K alone.
template <typename T>
__global__ void rope_neox_kv_write_kernel(T* q, T* k, const T* v, int64_t token_stride, const int32_t* positions,
                                          const float* inv_freq, const int32_t* slot_mapping, T* __restrict__ k_cache,
                                          T* __restrict__ v_cache, int num_q_heads, int num_kv_heads, int head_dim,
                                          int rotary_dim, int block_size) {
  const int64_t token = blockIdx.x;
  const RopeLane lane(token, positions, inv_freq, rotary_dim);
  const int32_t slot = slot_mapping[token]; // a step input: read before the PDL wait
  pdl_wait();
  pdl_launch_dependents();
  T* k_row = k + token * token_stride;
  const T* v_row = v + token * token_stride;
  const int vectors_per_head = head_dim / 8;
  const int vectors = num_kv_heads * vectors_per_head;
  // This thread's first V vector (the only one at Llama-3-8B's shape: 128 vectors, 256 threads), in flight with
  // the rotation's loads.
  const int j0 = threadIdx.x;
  Raw8<T> v0{};
  if (slot >= 0 && j0 < vectors) v0 = load_raw8(v_row + (j0 / vectors_per_head) * head_dim + (j0 % vectors_per_head) * 8);
  lane.rotate(q + token * token_stride, k_row, num_q_heads, num_kv_heads, head_dim);
  if (slot < 0) return; // block-uniform: no barrier is skipped by part of the block
  __syncthreads();
  const int64_t block = slot / block_size;
  const int offset = slot % block_size;
  for (int j = j0; j < vectors; j += blockDim.x) {
    const int head = j / vectors_per_head, vec = j % vectors_per_head;
    const int64_t src = static_cast<int64_t>(head) * head_dim + vec * 8;
    const int64_t dst = ((block * num_kv_heads + head) * block_size + offset) * head_dim + vec * 8;
    const Raw8<T> kr = load_raw8(k_row + src);
    const Raw8<T> vr = j == j0 ? v0 : load_raw8(v_row + src);
    store_raw8(k_cache + dst, kr);
    store_raw8(v_cache + dst, vr);
  }
}

namespace {

int rope_threads(int rotary_dim, int head_dim) {
  if (rotary_dim % 2 != 0 || rotary_dim > head_dim || rotary_dim > 512 || rotary_dim <= 0)
    throw Error("rope_neox: rotary_dim " + std::to_string(rotary_dim) + " with head_dim " +
                std::to_string(head_dim) + " is not supported (even, 2..min(head_dim, 512))");
  const int half = rotary_dim / 2;
  // Enough threads for several heads at once, a whole number of heads per block.
  const int threads = half * ((256 + half - 1) / half);
  return threads > 1024 ? half : threads;
}

template <typename T>
void launch_rope_kv_write(T* q, T* k, const T* v, int64_t token_stride, const int32_t* positions,
                          const float* inv_freq, const int32_t* slot_mapping, T* k_cache, T* v_cache, int num_tokens,
                          int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim, int block_size,
                          cudaStream_t stream) {
  const int threads = rope_threads(rotary_dim, head_dim);
  if (head_dim % 8 != 0)
    throw Error("rope_neox_kv_write: head_dim " + std::to_string(head_dim) + " must be a multiple of 8");
  if (num_tokens == 0) return;
  launch_pdl("rope_neox_kv_write_kernel", rope_neox_kv_write_kernel<T>, dim3(num_tokens), dim3(threads), 0, stream, q,
             k, v, token_stride, positions, inv_freq, slot_mapping, k_cache, v_cache, num_q_heads, num_kv_heads,
             head_dim, rotary_dim, block_size);
}

template <typename T>
void launch_rope(T* q, T* k, int64_t token_stride, const int32_t* positions, const float* inv_freq, int num_tokens,
                 int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim, cudaStream_t stream) {
  const int threads = rope_threads(rotary_dim, head_dim);
  if (num_tokens == 0) return;
  launch_pdl("rope_neox_kernel", rope_neox_kernel<T>, dim3(num_tokens), dim3(threads), 0, stream, q, k,
             token_stride, positions, inv_freq, num_q_heads, num_kv_heads, head_dim, rotary_dim);
}

} // namespace

void check_qkv_rope(const char* kernel, int m, int n, const QkvRope& rope) {
  const int hd = rope.head_dim;
  if (m < 1 || m > kQkvRopeMaxRows || !qkv_rope_supports(hd, hd) ||
      n != (rope.num_q_heads + 2 * rope.num_kv_heads) * hd || rope.block_size <= 0)
    throw Error(std::string(kernel) + ": needs 1 <= m <= " + std::to_string(kQkvRopeMaxRows) +
                ", head_dim a multiple of 16 and n = (q heads + 2 kv heads) * head_dim (m " + std::to_string(m) +
                ", n " + std::to_string(n) + ", head_dim " + std::to_string(hd) + ")");
}

void rope_neox(bf16* q, bf16* k, int64_t token_stride, const int32_t* positions, const float* inv_freq,
               int num_tokens, int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim, cudaStream_t stream) {
  launch_rope(q, k, token_stride, positions, inv_freq, num_tokens, num_q_heads, num_kv_heads, head_dim, rotary_dim,
              stream);
}
void rope_neox(float* q, float* k, int64_t token_stride, const int32_t* positions, const float* inv_freq,
               int num_tokens, int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim, cudaStream_t stream) {
  launch_rope(q, k, token_stride, positions, inv_freq, num_tokens, num_q_heads, num_kv_heads, head_dim, rotary_dim,
              stream);
}

void rope_neox_kv_write(bf16* q, bf16* k, const bf16* v, int64_t token_stride, const int32_t* positions,
                        const float* inv_freq, const int32_t* slot_mapping, bf16* k_cache, bf16* v_cache,
                        int num_tokens, int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim,
                        int block_size, cudaStream_t stream) {
  launch_rope_kv_write(q, k, v, token_stride, positions, inv_freq, slot_mapping, k_cache, v_cache, num_tokens,
                       num_q_heads, num_kv_heads, head_dim, rotary_dim, block_size, stream);
}
void rope_neox_kv_write(float* q, float* k, const float* v, int64_t token_stride, const int32_t* positions,
                        const float* inv_freq, const int32_t* slot_mapping, float* k_cache, float* v_cache,
                        int num_tokens, int num_q_heads, int num_kv_heads, int head_dim, int rotary_dim,
                        int block_size, cudaStream_t stream) {
  launch_rope_kv_write(q, k, v, token_stride, positions, inv_freq, slot_mapping, k_cache, v_cache, num_tokens,
                       num_q_heads, num_kv_heads, head_dim, rotary_dim, block_size, stream);
}

} // namespace pagoda::cuda
