// Paged attention for prefill and chunked prefill: flash-style online softmax over K/V tiles
// read through the block table, causal by absolute position (query i of a sequence with
// context c and q new tokens sits at c - q + i). One block = 64 query rows of one head, 4
// warps of 16 rows. K/V tiles of 64 keys come into shared memory with cp.async, two stages
// deep; both products run on tensor cores (mma.sync m16n8k16, bf16 in, f32 accumulate) with
// the scores, probabilities and running output kept in registers (the score accumulators
// are re-packed as the A operand of P·V, so P never goes through shared memory). With an e4m3
// KV cache (kFp8) the two stages hold the codes, the block converts the tile it works on into
// one f16 K/V tile (one cvt a pair; f16 holds every e4m3 value) and the mmas run in f16, as the
// decode kernel's do: Q in f16 times kFp8QueryScale, P in f16.
#include "backend/cuda/kernels.h"

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/flash_mma.cuh"
#include "backend/cuda/fp8_kv.cuh"
#include "backend/cuda/head_dims.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kRows = kPrefillTileRows; // query rows per block
constexpr int kKeys = 64;               // keys per tile
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kWarpRows = 16;
static_assert(kRows == kWarps * kWarpRows, "each warp owns 16 query rows");

template <int D, bool kFp8> struct PrefillLayout {
  static constexpr int ld = D + 8; // bf16 row pitch: 16 bytes of padding keeps ldmatrix free of bank conflicts
  static constexpr size_t q_bytes = sizeof(bf16) * kRows * ld;
  static constexpr size_t kv_tile_bytes = sizeof(bf16) * kKeys * ld;
  static constexpr size_t stage_bytes = 2 * kv_tile_bytes; // K then V
  static constexpr size_t code_tile_bytes = kKeys * D;      // kFp8: one K or V tile of codes, unpadded
  // bf16: two stages of K/V. kFp8: one f16 K/V tile (converted) after two stages of codes.
  static constexpr size_t codes_offset = q_bytes + stage_bytes;
  static constexpr size_t total = kFp8 ? codes_offset + 2 * 2 * code_tile_bytes : q_bytes + 2 * stage_bytes;
};

} // namespace

template <int D, bool kFp8>
__global__ void __launch_bounds__(kThreads)
    paged_attention_prefill_kernel(PagedAttentionArgs args, const PrefillTile* tiles, int num_tiles) {
  using L = PrefillLayout<D, kFp8>;
  constexpr int kVecs = D / 8; // 16-byte chunks per row
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* s_q = reinterpret_cast<bf16*>(smem);
  auto s_k = [&](int stage) { return reinterpret_cast<bf16*>(smem + L::q_bytes + stage * L::stage_bytes); };
  auto s_v = [&](int stage) { return s_k(stage) + kKeys * L::ld; };
  auto s_codes = [&](int stage) { return smem + L::codes_offset + stage * 2 * L::code_tile_bytes; }; // kFp8

  pdl_wait(); // q and the KV cache were written by the kernels before this one
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  // Latest tiles first: causal tiles further down a sequence have more keys to visit.
  const PrefillTile tile = tiles[num_tiles - 1 - blockIdx.x];
  const int head = blockIdx.y;
  const int kv_head = head / (args.num_q_heads / args.num_kv_heads);
  const int seq_first_token = args.query_start[tile.seq];
  const int query_len = args.query_start[tile.seq + 1] - seq_first_token;
  const int first_pos = args.context_lens[tile.seq] - query_len; // absolute position of query row 0
  const int last_row = min(tile.row + kRows, query_len) - 1;
  const int kv_end = first_pos + last_row + 1; // keys this block needs
  const int num_key_tiles = (kv_end + kKeys - 1) / kKeys;
  const int32_t* block_table = args.block_tables + static_cast<int64_t>(tile.seq) * args.max_blocks_per_seq;

  // Q tile (rows past the sequence are zeros).
  for (int i = threadIdx.x; i < kRows * kVecs; i += kThreads) {
    const int r = i / kVecs, c = i % kVecs;
    const bool valid = tile.row + r < query_len;
    const int64_t token = seq_first_token + (valid ? tile.row + r : 0);
    cp_async_16(smem_u32(s_q + r * L::ld + c * 8),
                args.q + token * args.q_token_stride + static_cast<int64_t>(head) * D + c * 8, valid);
  }
  // One K/V tile: each thread copies 16-byte chunks; keys past kv_end are zero-filled.
  auto load_tile = [&](int t, int stage) {
    if constexpr (kFp8) { // 16 codes per copy, K then V, rows unpadded
      unsigned char* dst = s_codes(stage);
      for (int i = threadIdx.x; i < kKeys * D / 16; i += kThreads) {
        const int r = i / (D / 16), c = i % (D / 16);
        const int key = t * kKeys + r;
        const bool valid = key < kv_end;
        const int k = valid ? key : 0;
        const int64_t offset =
            ((static_cast<int64_t>(block_table[k / args.block_size]) * args.num_kv_heads + kv_head) * args.block_size +
             k % args.block_size) * D + c * 16;
        cp_async_16(smem_u32(dst + r * D + c * 16), args.k_cache_fp8 + offset, valid);
        cp_async_16(smem_u32(dst + L::code_tile_bytes + r * D + c * 16), args.v_cache_fp8 + offset, valid);
      }
      return;
    }
    bf16* k_dst = s_k(stage);
    bf16* v_dst = s_v(stage);
    for (int i = threadIdx.x; i < kKeys * kVecs; i += kThreads) {
      const int r = i / kVecs, c = i % kVecs;
      const int key = t * kKeys + r;
      const bool valid = key < kv_end;
      const int k = valid ? key : 0;
      const int64_t offset =
          ((static_cast<int64_t>(block_table[k / args.block_size]) * args.num_kv_heads + kv_head) * args.block_size +
           k % args.block_size) * D + c * 8;
      cp_async_16(smem_u32(k_dst + r * L::ld + c * 8), args.k_cache + offset, valid);
      cp_async_16(smem_u32(v_dst + r * L::ld + c * 8), args.v_cache + offset, valid);
    }
  };
  load_tile(0, 0);
  cp_async_commit();

  // Fragment coordinates: this lane holds rows g and g + 8 of the warp's 16, columns 2t, 2t + 1.
  const int g = lane >> 2, t4 = lane & 3;
  const int warp_row0 = tile.row + warp * kWarpRows; // row within the sequence
  // A row past the sequence behaves like its last row (never stored); it keeps the max finite.
  const int pos_lo = first_pos + min(warp_row0 + g, query_len - 1);
  const int pos_hi = first_pos + min(warp_row0 + g + 8, query_len - 1);
  const int warp_last_pos = first_pos + min(warp_row0 + kWarpRows - 1, query_len - 1);
  const bool warp_active = warp_row0 < query_len;
  // An fp8 cache's K scale folds into the softmax scale and its V scale into the output.
  const float scale_log2 = args.scale * 1.4426950408889634f * (kFp8 ? args.k_scale / kFp8QueryScale : 1.f);

  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.f, l_hi = 0.f;

  // ldmatrix row addresses: lane i points at row (i % 8) + 8 * ((i / 8) % 2), column 8 * (i / 16)
  // of a 16 x 16 block (A fragments, and V read transposed); K's B fragments use row i % 8,
  // column 8 * (i / 8) of an 8-key x 32-dim block.
  const int a_row = (lane & 7) + ((lane >> 3) & 1) * 8, a_col = (lane >> 4) * 8;
  const int b_row = lane & 7, b_col = (lane >> 3) * 8;

  for (int kt = 0; kt < num_key_tiles; ++kt) {
    const int stage = kt & 1;
    if (kt + 1 < num_key_tiles) {
      load_tile(kt + 1, stage ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const int key0 = kt * kKeys;
    const bf16* k_tile = s_k(stage);
    const bf16* v_tile = s_v(stage);
    if constexpr (kFp8) { // this stage's codes into the one f16 tile (8 codes per step)
      const unsigned char* codes = s_codes(stage);
      for (int i = threadIdx.x; i < 2 * kKeys * D / 8; i += kThreads) {
        const int kv = i / (kKeys * D / 8), rest = i % (kKeys * D / 8);
        const int r = rest / (D / 8), c = rest % (D / 8);
        const uint2 raw = *reinterpret_cast<const uint2*>(codes + kv * L::code_tile_bytes + r * D + c * 8);
        *reinterpret_cast<uint4*>((kv ? s_v(0) : s_k(0)) + r * L::ld + c * 8) = fp8x8_to_f16x8(raw);
      }
      if (kt == 0) { // Q (landed with tile 0) into f16 in place, scaled
        for (int i = threadIdx.x; i < kRows * D / 2; i += kThreads) {
          uint32_t* pair = reinterpret_cast<uint32_t*>(s_q + (i / (D / 2)) * L::ld) + i % (D / 2);
          const float2 f = unpack_bf16(*pair);
          *pair = pack_f16(f.x * kFp8QueryScale, f.y * kFp8QueryScale);
        }
      }
      __syncthreads();
      k_tile = s_k(0);
      v_tile = s_v(0);
    }
    if (warp_active && key0 <= warp_last_pos) {
      // S = Q K^T: 16 rows x 64 keys as 8 accumulators of 16 x 8.
      float s[kKeys / 8][4];
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
      flash_qk_dim_pairs<D, kFp8>(s, s_q, warp * kWarpRows + a_row, k_tile, L::ld, a_col, b_row, b_col);
      if constexpr ((D / 16) % 2 != 0) { // head_dim 48, 80, 112, ...: the last 16 dims alone
        constexpr int kk = D / 16 - 1;
        uint32_t qa[4];
        ldmatrix_x4(smem_u32(s_q + (warp * kWarpRows + a_row) * L::ld + kk * 16 + a_col), qa);
#pragma unroll
        for (int n = 0; n < kKeys / 8; n += 2) {
          uint32_t kb[4]; // dims kk*16 .. kk*16 + 15 of keys 8n .. 8n + 15 (lanes 16-31: keys + 8)
          ldmatrix_x4(smem_u32(k_tile + (n * 8 + b_row + ((lane >> 4) << 3)) * L::ld + kk * 16 + (b_col & 8)), kb);
          mma_16816<kFp8>(s[n], qa[0], qa[1], qa[2], qa[3], kb[0], kb[1]);
          mma_16816<kFp8>(s[n + 1], qa[0], qa[1], qa[2], qa[3], kb[2], kb[3]);
        }
      }
      // Scale into log2 units, mask the causal future, update the running max and sum.
      const bool needs_mask = key0 + kKeys - 1 > first_pos + warp_row0;
      float tile_lo = -INFINITY, tile_hi = -INFINITY;
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int key = key0 + n * 8 + 2 * t4 + e;
          s[n][e] = (needs_mask && key > pos_lo) ? -INFINITY : s[n][e] * scale_log2;
          s[n][2 + e] = (needs_mask && key > pos_hi) ? -INFINITY : s[n][2 + e] * scale_log2;
          tile_lo = fmaxf(tile_lo, s[n][e]);
          tile_hi = fmaxf(tile_hi, s[n][2 + e]);
        }
      }
      tile_lo = quad_max(tile_lo);
      tile_hi = quad_max(tile_hi);
      const float new_lo = fmaxf(m_lo, tile_lo), new_hi = fmaxf(m_hi, tile_hi);
      const float alpha_lo = exp2f(m_lo - new_lo), alpha_hi = exp2f(m_hi - new_hi); // 0 on the first tile
      m_lo = new_lo;
      m_hi = new_hi;
      uint32_t p[kKeys / 8][2]; // bf16 (f16) pairs
      float sum_lo, sum_hi;
      flash_probabilities<kFp8>(s, m_lo, m_hi, p, sum_lo, sum_hi);
      l_lo = l_lo * alpha_lo + sum_lo;
      l_hi = l_hi * alpha_hi + sum_hi;
      flash_rescale(o, alpha_lo, alpha_hi);
      flash_pv<kFp8>(o, p, v_tile, L::ld, a_row, a_col);
    }
    __syncthreads(); // this stage is refilled two iterations on
  }

  if (!warp_active) return;
  const float out_scale = kFp8 ? args.v_scale : 1.f;
  const float inv_lo = out_scale / l_lo, inv_hi = out_scale / l_hi;
  const int row_lo = warp_row0 + g, row_hi = warp_row0 + g + 8;
  const int64_t out_stride = static_cast<int64_t>(args.num_q_heads) * D;
  flash_store_rows(o, inv_lo, inv_hi, args.out + static_cast<int64_t>(head) * D, out_stride, seq_first_token, row_lo,
                   row_hi, query_len, t4);
}

namespace {

template <int D, bool kFp8>
void launch_prefill_dtype(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles,
                          cudaStream_t stream) {
  using L = PrefillLayout<D, kFp8>;
  static const bool configured = [] {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_prefill_kernel<D, kFp8>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(L::total)));
    return true;
  }();
  (void)configured;
  launch_pdl("paged_attention_prefill_kernel", paged_attention_prefill_kernel<D, kFp8>,
             dim3(num_tiles, args.num_q_heads), dim3(kThreads), L::total, stream, args, tiles, num_tiles);
}

template <int D>
void launch_prefill(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles, cudaStream_t stream) {
  if (args.k_cache_fp8 != nullptr)
    launch_prefill_dtype<D, true>(args, tiles, num_tiles, stream);
  else
    launch_prefill_dtype<D, false>(args, tiles, num_tiles, stream);
}

void check_prefill_args(const PagedAttentionArgs& args) {
  if (args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0)
    throw Error("paged_attention_prefill: num_attention_heads " + std::to_string(args.num_q_heads) +
                " must be a multiple of num_key_value_heads " + std::to_string(args.num_kv_heads));
  if (args.q_token_stride % 8 != 0)
    throw Error("paged_attention_prefill: the q row stride must be a multiple of 8 elements");
  if ((args.k_cache_fp8 == nullptr) != (args.v_cache_fp8 == nullptr))
    throw Error("paged_attention_prefill: an fp8 KV cache needs both its K and V codes");
}

} // namespace

void paged_attention_prefill(const PagedAttentionArgs& args, const PrefillTile* tiles,
                             int num_tiles, cudaStream_t stream) {
  check_prefill_args(args);
  if (num_tiles == 0) return;
  WgmmaPrefillSchedule schedule = WgmmaPrefillSchedule::kDefault;
  if (num_tiles <= 65535 && paged_attention_prefill_wgmma_switch(&schedule) && paged_attention_prefill_wgmma_supported(args)) {
    paged_attention_prefill_wgmma(args, tiles, num_tiles, stream, schedule);
    return;
  }
  paged_attention_prefill_mma(args, tiles, num_tiles, stream);
}

void paged_attention_prefill_mma(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles,
                                 cudaStream_t stream) {
  check_prefill_args(args);
  if (num_tiles == 0) return;
  dispatch_head_dim(args.head_dim, "paged_attention_prefill",
                    [&](auto d) { launch_prefill<decltype(d)::value>(args, tiles, num_tiles, stream); });
}

} // namespace pagoda::cuda
