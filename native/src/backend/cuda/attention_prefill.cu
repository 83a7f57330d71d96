// Paged attention for prefill and chunked prefill: flash-style online softmax over K/V tiles
// read through the block table, causal by absolute position (query i of a sequence with
// context c and q new tokens sits at c - q + i). One block = 64 query rows of one head; each
// of its 4 warps owns 16 rows and runs the two products on tensor cores (WMMA, bf16 in,
// f32 accumulate), with scores, probabilities and the running output in shared memory.
#include "backend/cuda/kernels.h"

#include <mma.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

using namespace nvcuda;

constexpr int kRows = kPrefillTileRows; // query rows per block
constexpr int kKeys = 64;               // keys per tile
constexpr int kWarps = 4;
constexpr int kWarpRows = 16;

template <int D> struct PrefillLayout {
  static constexpr int ld_h = D + 8;     // bf16 K / V / Q staging rows (padding: fewer bank conflicts)
  static constexpr int ld_s = kKeys + 4; // f32 scores
  static constexpr int ld_o = D + 4;     // f32 running output and P·V product
  static constexpr int ld_p = kKeys + 8; // bf16 probabilities
  static constexpr int scratch_floats = (16 * ld_s > 16 * ld_o) ? 16 * ld_s : 16 * ld_o;
  static constexpr size_t k_bytes = sizeof(bf16) * kKeys * ld_h;
  static constexpr size_t v_bytes = k_bytes;
  static constexpr size_t scratch_bytes = sizeof(float) * kWarps * scratch_floats;
  static constexpr size_t p_bytes = sizeof(bf16) * kWarps * kWarpRows * ld_p;
  static constexpr size_t o_bytes = sizeof(float) * kWarps * kWarpRows * ld_o;
  static constexpr size_t total = k_bytes + v_bytes + scratch_bytes + p_bytes + o_bytes;
};

__device__ __forceinline__ const bf16* cache_row(const bf16* cache, const int32_t* block_table,
                                                 int key, int kv_head, int num_kv_heads,
                                                 int block_size, int head_dim) {
  const int64_t block = block_table[key / block_size];
  return cache + ((block * num_kv_heads + kv_head) * block_size + key % block_size) * head_dim;
}

} // namespace

template <int D>
__global__ void __launch_bounds__(kWarps * 32)
    paged_attention_prefill_kernel(PagedAttentionArgs args, const PrefillTile* __restrict__ tiles) {
  using L = PrefillLayout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* s_k = reinterpret_cast<bf16*>(smem);
  bf16* s_v = reinterpret_cast<bf16*>(smem + L::k_bytes);
  float* s_scratch = reinterpret_cast<float*>(smem + L::k_bytes + L::v_bytes);
  bf16* s_p = reinterpret_cast<bf16*>(smem + L::k_bytes + L::v_bytes + L::scratch_bytes);
  float* s_o = reinterpret_cast<float*>(smem + L::k_bytes + L::v_bytes + L::scratch_bytes + L::p_bytes);

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  const PrefillTile tile = tiles[blockIdx.x];
  const int head = blockIdx.y;
  const int group = args.num_q_heads / args.num_kv_heads;
  const int kv_head = head / group;
  const int seq_first_token = args.query_start[tile.seq];
  const int query_len = args.query_start[tile.seq + 1] - seq_first_token;
  const int context_len = args.context_lens[tile.seq];
  const int first_pos = context_len - query_len; // absolute position of query row 0
  const int last_row = min(tile.row + kRows, query_len) - 1;
  const int kv_end = first_pos + last_row + 1; // keys this block needs
  const int32_t* block_table = args.block_tables + static_cast<int64_t>(tile.seq) * args.max_blocks_per_seq;
  constexpr int kVecs = D / 8;

  // Q tile -> registers (staged through the K buffer).
  for (int i = threadIdx.x; i < kRows * kVecs; i += blockDim.x) {
    const int r = i / kVecs, c = i % kVecs;
    Bf16x8 v = {};
    if (tile.row + r < query_len) {
      const int64_t token = seq_first_token + tile.row + r;
      v = *reinterpret_cast<const Bf16x8*>(args.q + token * args.q_token_stride +
                                           static_cast<int64_t>(head) * D + c * 8);
    }
    *reinterpret_cast<Bf16x8*>(s_k + r * L::ld_h + c * 8) = v;
  }
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> q_frag[D / 16];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
    wmma::load_matrix_sync(q_frag[kk], s_k + warp * kWarpRows * L::ld_h + kk * 16, L::ld_h);

  float* scratch = s_scratch + warp * L::scratch_floats;
  bf16* p_tile = s_p + warp * kWarpRows * L::ld_p;
  float* o_tile = s_o + warp * kWarpRows * L::ld_o;
  const int my_row = lane >> 1;  // each pair of lanes owns one query row
  const int my_half = lane & 1;
  for (int c = my_half * (D / 2); c < (my_half + 1) * (D / 2); ++c) o_tile[my_row * L::ld_o + c] = 0.f;
  const int row_in_seq = tile.row + warp * kWarpRows + my_row;
  const bool row_valid = row_in_seq < query_len;
  const int row_pos = first_pos + row_in_seq;
  const float scale_log2 = args.scale * 1.4426950408889634f;
  float m_run = -INFINITY, l_run = 0.f;
  __syncthreads(); // Q staging read before K overwrites it

  for (int key0 = 0; key0 < kv_end; key0 += kKeys) {
    for (int i = threadIdx.x; i < kKeys * kVecs; i += blockDim.x) {
      const int r = i / kVecs, c = i % kVecs;
      const int key = key0 + r;
      Bf16x8 kv = {}, vv = {};
      if (key < kv_end) {
        const bf16* k_src = cache_row(args.k_cache, block_table, key, kv_head, args.num_kv_heads, args.block_size, D);
        const bf16* v_src = cache_row(args.v_cache, block_table, key, kv_head, args.num_kv_heads, args.block_size, D);
        kv = *reinterpret_cast<const Bf16x8*>(k_src + c * 8);
        vv = *reinterpret_cast<const Bf16x8*>(v_src + c * 8);
      }
      *reinterpret_cast<Bf16x8*>(s_k + r * L::ld_h + c * 8) = kv;
      *reinterpret_cast<Bf16x8*>(s_v + r * L::ld_h + c * 8) = vv;
    }
    __syncthreads();

    // S = Q K^T for this warp's 16 rows.
#pragma unroll
    for (int j = 0; j < kKeys / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> k_frag;
        wmma::load_matrix_sync(k_frag, s_k + j * 16 * L::ld_h + kk * 16, L::ld_h);
        wmma::mma_sync(acc, q_frag[kk], k_frag, acc);
      }
      wmma::store_matrix_sync(scratch + j * 16, acc, L::ld_s, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax on this lane's half row (32 keys).
    float s[kKeys / 2];
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kKeys / 2; ++j) {
      const int col = my_half * (kKeys / 2) + j;
      const bool visible = row_valid && key0 + col <= row_pos;
      s[j] = visible ? scratch[my_row * L::ld_s + col] * scale_log2 : -INFINITY;
      tile_max = fmaxf(tile_max, s[j]);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_new = fmaxf(m_run, tile_max);
    const float alpha = m_run == -INFINITY ? 0.f : exp2f(m_run - m_new);
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < kKeys / 2; ++j) {
      const bf16 p = __float2bfloat16(s[j] == -INFINITY ? 0.f : exp2f(s[j] - m_new));
      p_tile[my_row * L::ld_p + my_half * (kKeys / 2) + j] = p;
      sum += __bfloat162float(p);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l_run = l_run * alpha + sum;
    m_run = m_new;
    __syncwarp();

    // scratch = P V, then O = O * alpha + scratch.
#pragma unroll
    for (int j = 0; j < D / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> p_frag;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> v_frag;
        wmma::load_matrix_sync(p_frag, p_tile + kk * 16, L::ld_p);
        wmma::load_matrix_sync(v_frag, s_v + kk * 16 * L::ld_h + j * 16, L::ld_h);
        wmma::mma_sync(acc, p_frag, v_frag, acc);
      }
      wmma::store_matrix_sync(scratch + j * 16, acc, L::ld_o, wmma::mem_row_major);
    }
    __syncwarp();
    for (int c = my_half * (D / 2); c < (my_half + 1) * (D / 2); ++c)
      o_tile[my_row * L::ld_o + c] = o_tile[my_row * L::ld_o + c] * alpha + scratch[my_row * L::ld_o + c];
    __syncthreads(); // every warp is done with s_k / s_v and its scratch
  }

  if (!row_valid) return;
  const float inv_l = 1.f / l_run;
  const int64_t token = seq_first_token + row_in_seq;
  bf16* dst = args.out + token * static_cast<int64_t>(args.num_q_heads) * D + static_cast<int64_t>(head) * D;
  for (int c = my_half * (D / 2); c < (my_half + 1) * (D / 2); c += 8) {
    float v[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = o_tile[my_row * L::ld_o + c + e] * inv_l;
    *reinterpret_cast<Bf16x8*>(dst + c) = pack8(v);
  }
}

namespace {

template <int D>
void launch_prefill(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles,
                    cudaStream_t stream) {
  using L = PrefillLayout<D>;
  static const bool configured = [] {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_prefill_kernel<D>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(L::total)));
    return true;
  }();
  (void)configured;
  const dim3 grid(num_tiles, args.num_q_heads);
  paged_attention_prefill_kernel<D><<<grid, kWarps * 32, L::total, stream>>>(args, tiles);
  PAGODA_CUDA_CHECK_LAUNCH("paged_attention_prefill_kernel");
}

} // namespace

void paged_attention_prefill(const PagedAttentionArgs& args, const PrefillTile* tiles,
                             int num_tiles, cudaStream_t stream) {
  if (args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0)
    throw Error("paged_attention_prefill: num_attention_heads " + std::to_string(args.num_q_heads) +
                " must be a multiple of num_key_value_heads " + std::to_string(args.num_kv_heads));
  if (args.q_token_stride % 8 != 0)
    throw Error("paged_attention_prefill: the q row stride must be a multiple of 8 elements");
  if (num_tiles == 0) return;
  switch (args.head_dim) {
  case 64: return launch_prefill<64>(args, tiles, num_tiles, stream);
  case 128: return launch_prefill<128>(args, tiles, num_tiles, stream);
  case 256: return launch_prefill<256>(args, tiles, num_tiles, stream);
  default:
    throw Error("paged_attention_prefill: head_dim " + std::to_string(args.head_dim) +
                " is not supported by the CUDA backend (64, 128, 256); run this model on the CPU backend");
  }
}

} // namespace pagoda::cuda
