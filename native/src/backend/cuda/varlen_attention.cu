// Attention over a packed variable-length batch (cu_seqlens style, no padding, no KV cache):
// encoders attend bidirectionally within each sequence, decoders used as embedders causally.
// One block = 64 query rows of one head of one sequence, 4 warps of 16 rows; K/V tiles of 64
// keys come straight from the fused qkv rows into shared memory with cp.async, two stages
// deep; head_dim 16, 32, 64 or 128; S = QKᵀ and O += PV on tensor cores (mma.sync m16n8k16, bf16 in, f32 accumulate) with
// an online softmax in registers (the score accumulators are re-packed as PV's A operand).
#include <cmath>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/encoder_kernels.h"
#include "backend/cuda/flash_mma.cuh"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kRows = 64; // query rows per block
constexpr int kKeys = 64; // keys per tile
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kWarpRows = 16;
static_assert(kRows == kWarps * kWarpRows, "each warp owns 16 query rows");

template <int D> struct VarlenLayout {
  static constexpr int ld = D + 8; // 16 bytes of padding per row keep ldmatrix free of bank conflicts
  static constexpr size_t q_bytes = sizeof(bf16) * kRows * ld;
  static constexpr size_t kv_tile_bytes = sizeof(bf16) * kKeys * ld;
  static constexpr size_t stage_bytes = 2 * kv_tile_bytes; // K then V
  static constexpr size_t total = q_bytes + 2 * stage_bytes;
};

} // namespace

template <int D, bool kCausal>
__global__ void __launch_bounds__(kThreads) varlen_attention_kernel(VarlenAttentionArgs a, int tiles_per_seq) {
  using L = VarlenLayout<D>;
  constexpr int kVecs = D / 8; // 16-byte chunks per head row
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* s_q = reinterpret_cast<bf16*>(smem);
  auto s_k = [&](int stage) { return reinterpret_cast<bf16*>(smem + L::q_bytes + stage * L::stage_bytes); };
  auto s_v = [&](int stage) { return s_k(stage) + kKeys * L::ld; };

  pdl_wait(); // q, k, v were written by the kernels before this one
  pdl_launch_dependents();
  const int seq = blockIdx.x / tiles_per_seq;
  const int row0 = (blockIdx.x % tiles_per_seq) * kRows;
  const int first = a.seq_start[seq];
  const int len = a.seq_start[seq + 1] - first;
  if (row0 >= len) return; // a shorter sequence than the grid's longest
  const int head = blockIdx.y;
  const int kv_head = head / (a.num_q_heads / a.num_kv_heads);
  const int last_row = min(row0 + kRows, len) - 1;
  const int kv_end = kCausal ? last_row + 1 : len; // keys this block needs
  const int num_key_tiles = (kv_end + kKeys - 1) / kKeys;
  const int64_t stride = a.token_stride;

  // Q tile (rows past the sequence are zeros).
  for (int i = threadIdx.x; i < kRows * kVecs; i += kThreads) {
    const int r = i / kVecs, c = i % kVecs;
    const bool valid = row0 + r < len;
    const int64_t token = first + (valid ? row0 + r : 0);
    cp_async_16(smem_u32(s_q + r * L::ld + c * 8), a.q + token * stride + static_cast<int64_t>(head) * D + c * 8,
                valid);
  }
  // One K/V tile; keys past kv_end are zero-filled (and masked below).
  auto load_tile = [&](int t, int stage) {
    bf16* k_dst = s_k(stage);
    bf16* v_dst = s_v(stage);
    for (int i = threadIdx.x; i < kKeys * kVecs; i += kThreads) {
      const int r = i / kVecs, c = i % kVecs;
      const int key = t * kKeys + r;
      const bool valid = key < kv_end;
      const int64_t offset = (first + (valid ? key : 0)) * stride + static_cast<int64_t>(kv_head) * D + c * 8;
      cp_async_16(smem_u32(k_dst + r * L::ld + c * 8), a.k + offset, valid);
      cp_async_16(smem_u32(v_dst + r * L::ld + c * 8), a.v + offset, valid);
    }
  };
  load_tile(0, 0);
  cp_async_commit();

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  // Fragment coordinates: this lane holds rows g and g + 8 of the warp's 16, columns 2t, 2t + 1.
  const int g = lane >> 2, t4 = lane & 3;
  const int warp_row0 = row0 + warp * kWarpRows; // row within the sequence
  // A row past the sequence behaves like its last row (never stored); it keeps the max finite.
  const int pos_lo = min(warp_row0 + g, len - 1);
  const int pos_hi = min(warp_row0 + g + 8, len - 1);
  const int warp_last = min(warp_row0 + kWarpRows - 1, len - 1);
  const bool warp_active = warp_row0 < len;
  const float scale_log2 = a.scale * 1.4426950408889634f;

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
    if (warp_active && (!kCausal || key0 <= warp_last)) {
      // S = Q K^T: 16 rows x 64 keys as 8 accumulators of 16 x 8.
      float s[kKeys / 8][4];
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
      if constexpr (D == 16) { // one k-step of 16 dims
        uint32_t qa[4];
        ldmatrix_x4(smem_u32(s_q + (warp * kWarpRows + a_row) * L::ld + a_col), qa);
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n) {
          uint32_t kb[2]; // dims 0 .. 15 of keys 8n .. 8n + 7 (x2: the x4 load would read past the head)
          ldmatrix_x2(smem_u32(k_tile + (n * 8 + b_row) * L::ld + (b_col & 8)), kb[0], kb[1]);
          mma_bf16_16816(s[n], qa[0], qa[1], qa[2], qa[3], kb[0], kb[1]);
        }
      }
      flash_qk_dim_pairs<D, false>(s, s_q, warp * kWarpRows + a_row, k_tile, L::ld, a_col, b_row, b_col);
      // Scale into log2 units; mask keys past the sequence (bidirectional) or after the row
      // (causal, which also excludes keys past the sequence); update the running max and sum.
      const bool needs_mask = kCausal ? key0 + kKeys - 1 > warp_row0 : key0 + kKeys > len;
      float tile_lo = -INFINITY, tile_hi = -INFINITY;
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int key = key0 + n * 8 + 2 * t4 + e;
          const bool out_lo = kCausal ? key > pos_lo : key >= len;
          const bool out_hi = kCausal ? key > pos_hi : key >= len;
          s[n][e] = (needs_mask && out_lo) ? -INFINITY : s[n][e] * scale_log2;
          s[n][2 + e] = (needs_mask && out_hi) ? -INFINITY : s[n][2 + e] * scale_log2;
          tile_lo = fmaxf(tile_lo, s[n][e]);
          tile_hi = fmaxf(tile_hi, s[n][2 + e]);
        }
      }
      tile_lo = quad_max(tile_lo);
      tile_hi = quad_max(tile_hi);
      // Key 0 is in the first tile and visible to every row, so the max is finite from there on.
      const float new_lo = fmaxf(m_lo, tile_lo), new_hi = fmaxf(m_hi, tile_hi);
      const float alpha_lo = exp2f(m_lo - new_lo), alpha_hi = exp2f(m_hi - new_hi); // 0 on the first tile
      m_lo = new_lo;
      m_hi = new_hi;
      uint32_t p[kKeys / 8][2]; // bf16 pairs
      float sum_lo, sum_hi;
      flash_probabilities<false>(s, m_lo, m_hi, p, sum_lo, sum_hi);
      l_lo = l_lo * alpha_lo + sum_lo;
      l_hi = l_hi * alpha_hi + sum_hi;
      flash_rescale(o, alpha_lo, alpha_hi);
      flash_pv<false>(o, p, v_tile, L::ld, a_row, a_col);
    }
    __syncthreads(); // this stage is refilled two iterations on
  }

  if (!warp_active) return;
  const float inv_lo = 1.f / l_lo, inv_hi = 1.f / l_hi;
  const int row_lo = warp_row0 + g, row_hi = warp_row0 + g + 8;
  const int64_t out_stride = static_cast<int64_t>(a.num_q_heads) * D;
  flash_store_rows(o, inv_lo, inv_hi, a.out + static_cast<int64_t>(head) * D, out_stride, first, row_lo, row_hi, len,
                   t4);
}

namespace {

template <int D, bool kCausal> void launch_varlen(const VarlenAttentionArgs& a, cudaStream_t stream) {
  using L = VarlenLayout<D>;
  static const bool configured = [] {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(varlen_attention_kernel<D, kCausal>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(L::total)));
    return true;
  }();
  (void)configured;
  const int tiles_per_seq = (a.max_seq_len + kRows - 1) / kRows;
  const int64_t blocks = static_cast<int64_t>(tiles_per_seq) * a.num_seqs;
  if (blocks > 0x7fffffff) throw Error("varlen_attention: the batch needs more blocks than one launch holds");
  launch_pdl("varlen_attention_kernel", varlen_attention_kernel<D, kCausal>,
             dim3(static_cast<unsigned>(blocks), a.num_q_heads), dim3(kThreads), L::total, stream, a, tiles_per_seq);
}

template <int D> void launch_varlen_mask(const VarlenAttentionArgs& a, cudaStream_t stream) {
  if (a.causal)
    launch_varlen<D, true>(a, stream);
  else
    launch_varlen<D, false>(a, stream);
}

} // namespace

void varlen_attention(const VarlenAttentionArgs& a, cudaStream_t stream) {
  if (a.num_kv_heads <= 0 || a.num_q_heads <= 0 || a.num_q_heads % a.num_kv_heads != 0)
    throw Error("varlen_attention: num_attention_heads " + std::to_string(a.num_q_heads) +
                " must be a positive multiple of num_key_value_heads " + std::to_string(a.num_kv_heads));
  if (a.token_stride % 8 != 0)
    throw Error("varlen_attention: the token row stride must be a multiple of 8 elements");
  if (a.num_q_heads > 65535) throw Error("varlen_attention: too many heads for one launch");
  if (a.num_seqs <= 0 || a.max_seq_len <= 0) return;
  switch (a.head_dim) {
  case 16: return launch_varlen_mask<16>(a, stream);
  case 32: return launch_varlen_mask<32>(a, stream);
  case 64: return launch_varlen_mask<64>(a, stream);
  case 128: return launch_varlen_mask<128>(a, stream);
  default:
    throw Error("varlen_attention: head_dim " + std::to_string(a.head_dim) +
                " is not supported by the CUDA backend (16, 32, 64, 128); run this model on the CPU backend");
  }
}

} // namespace pagoda::cuda
