// Paged prefill attention for Hopper on warpgroup MMA (sm_90a), FlashAttention-3's structure: one
// CTA = 128 query rows of one head in three warpgroups. Warpgroup 0 is the producer: it gives up
// registers (setmaxnreg) and copies K/V tiles of 128 keys through the block table with cp.async into
// a ring of shared-memory stages laid out as wgmma's 128-byte swizzle wants, signalling each on an
// mbarrier. Warpgroups 1 and 2 are consumers of 64 rows each: S = Q K^T on wgmma with Q and K read
// from shared memory through descriptors, the online softmax on the f32 accumulators in registers
// (causal mask only on the diagonal tiles), then O += P V with P re-packed from those registers as
// the A operand and V read N-major; each frees the stage on another mbarrier. The contract is
// paged_attention_prefill's (kernels.h), for bf16 KV and head_dim 64 or 128; the index math lives in
// attention_prefill_wgmma_plan.h, where a CPU test checks it.
#include "backend/cuda/kernels.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cuda/attention_prefill_wgmma_plan.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/wgmma.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

using namespace wgmma_prefill;

constexpr int kThreads = 384;      // producer warpgroup, then two consumer warpgroups
constexpr int kProducerRegs = 40;  // address arithmetic and cp.async only
constexpr int kConsumerRegs = 232; // S (64) + O (up to 64) + P (32) f32/bf16x2 registers and the rest
static_assert(kProducerRegs * 128 + kConsumerRegs * 256 <= 65536, "the register file holds all three warpgroups");
static_assert(kCtaRows == 2 * kWgRows && kCtaRows == 2 * kTileRows, "a CTA is two planner tiles, one per consumer");

// Shared memory, from a 1024-aligned base: Q (two warpgroups' 64-row tiles), kStages K tiles,
// kStages V tiles (each 1024-aligned: their sizes are multiples of 1024), then the mbarriers.
template <int D, int kStages> struct WgmmaLayout {
  static constexpr int wg_q_bytes = kWgRows * D * 2;
  static constexpr int q_bytes = 2 * wg_q_bytes;
  static constexpr int kv_tile_bytes = kKeys * D * 2;
  static constexpr int k_offset = q_bytes;
  static constexpr int v_offset = k_offset + kStages * kv_tile_bytes;
  static constexpr int bar_offset = v_offset + kStages * kv_tile_bytes;
  static constexpr int total = bar_offset + 2 * kStages * 8;
  static constexpr int alloc = total + kAtomBytes; // the dynamic base is aligned up by at most 1008 bytes
  static_assert(wg_q_bytes % kAtomBytes == 0 && kv_tile_bytes % kAtomBytes == 0, "tiles stay 1024-aligned");
};

} // namespace

template <int D, int kStages>
__global__ void __launch_bounds__(kThreads, 1)
    paged_attention_prefill_wgmma_kernel(PagedAttentionArgs args, const PrefillTile* __restrict__ tiles, int num_tiles) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  static_assert(D == 64 || D == 128, "head_dim 64 or 128");
  using L = WgmmaLayout<D, kStages>;
  constexpr int kChunks = D / 8; // 16-byte chunks per row
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t base = (smem_u32(smem_raw) + kAtomBytes - 1) & ~static_cast<uint32_t>(kAtomBytes - 1);
  const uint32_t s_q = base, s_k = base + L::k_offset, s_v = base + L::v_offset;
  auto full_bar = [&](int s) { return base + L::bar_offset + 8 * s; };
  auto empty_bar = [&](int s) { return base + L::bar_offset + 8 * (kStages + s); };

  pdl_wait(); // q and the KV cache were written by the kernels before this one
  pdl_launch_dependents();
  // Latest tiles first (blockIdx.y), the heads of one tile side by side (blockIdx.x) so the q heads
  // sharing a KV head read the same K/V while it is in L2.
  const PrefillTile tile = tiles[num_tiles - 1 - blockIdx.y];
  if (!tile_starts_cta(tile.row)) return; // the previous entry's CTA covers these 64 rows
  const int head = blockIdx.x;
  const int kv_head = head / (args.num_q_heads / args.num_kv_heads);
  const int seq_first_token = args.query_start[tile.seq];
  const int query_len = args.query_start[tile.seq + 1] - seq_first_token;
  const CtaWork work = cta_work(tile.row, query_len, args.context_lens[tile.seq]);

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(full_bar(s), 128);  // every producer thread arrives once its copies landed
      mbarrier_init(empty_bar(s), 256); // every consumer thread arrives once its wgmma read the stage
    }
    mbarrier_init_fence();
  }
  __syncthreads();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    // Producer: thread i copies chunk i % kChunks of rows i / kChunks, + 128 / kChunks, ... of a tile,
    // so each 16 consecutive threads read one key's contiguous row.
    setmaxnreg_dec<kProducerRegs>();
    constexpr int kRowStep = 128 / kChunks;
    const int chunk = threadIdx.x % kChunks;
    const int row_first = threadIdx.x / kChunks;
    const int32_t* block_table = args.block_tables + static_cast<int64_t>(tile.seq) * args.max_blocks_per_seq;
    for (int t = 0; t < work.num_key_tiles; ++t) {
      const int stage = t % kStages;
      if (t >= kStages) mbarrier_wait(empty_bar(stage), ((t / kStages) - 1) & 1); // consumers done with t - kStages
      const uint32_t k_dst = s_k + stage * L::kv_tile_bytes, v_dst = s_v + stage * L::kv_tile_bytes;
#pragma unroll 4
      for (int r = row_first; r < kKeys; r += kRowStep) {
        const int key = t * kKeys + r;
        const bool valid = key < work.kv_end; // the tail is zero-filled (and masked: no row sees it)
        const int k = valid ? key : 0;
        const int64_t offset =
            kv_row_offset(block_table, k, kv_head, args.num_kv_heads, args.block_size, D) + chunk * 8;
        const uint32_t dst = swizzled_offset(kKeys, r, chunk);
        cp_async_16(k_dst + dst, args.k_cache + offset, valid);
        cp_async_16(v_dst + dst, args.v_cache + offset, valid);
      }
      cp_async_commit();
      cp_async_wait<0>();
      fence_proxy_async_shared(); // the tile was written through the generic proxy; wgmma reads through the async one
      mbarrier_arrive(full_bar(stage));
    }
    return;
  }

  // Consumers: warpgroup c owns CTA rows 64 c .. 64 c + 63.
  setmaxnreg_inc<kConsumerRegs>();
  const int c = wg - 1;
  const int ctid = threadIdx.x - 128 * wg;
  const int warp = ctid / 32, lane = ctid & 31;
  const uint32_t q_tile = s_q + c * L::wg_q_bytes;
  for (int i = ctid; i < kWgRows * kChunks; i += 128) { // this warpgroup's Q rows (past the sequence: zeros)
    const int r = i / kChunks, ch = i % kChunks;
    const int row = work.row0 + c * kWgRows + r;
    const bool valid = row < query_len;
    const int64_t token = seq_first_token + (valid ? row : 0);
    cp_async_16(q_tile + swizzled_offset(kWgRows, r, ch),
                args.q + token * args.q_token_stride + static_cast<int64_t>(head) * D + ch * 8, valid);
  }
  cp_async_commit();
  cp_async_wait<0>();
  fence_proxy_async_shared();
  named_barrier_sync(1 + c, 128); // the whole Q tile is in place before the warpgroup's first wgmma

  const bool active = wg_active(work, c, query_len);
  const int row_lo = work.row0 + c * kWgRows + acc_row(warp, lane, 0); // rows of accumulator registers 0, 1
  const int pos_lo = row_position(work, row_lo, query_len);
  const int pos_hi = row_position(work, row_lo + 8, query_len); // registers 2, 3
  const float scale_log2 = args.scale * 1.4426950408889634f;

  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.f;
  // Running max of the raw scores and this thread's share of the row sums (the quad's shares are
  // added at the end: every rescale factor is the same across the quad).
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.f, l_hi = 0.f;

  for (int t = 0; t < work.num_key_tiles; ++t) {
    const int stage = t % kStages;
    mbarrier_wait(full_bar(stage), (t / kStages) & 1);
    if (active && wg_needs_tile(work, c, query_len, t)) {
      const uint32_t k_tile = s_k + stage * L::kv_tile_bytes, v_tile = s_v + stage * L::kv_tile_bytes;
      float s[kKeys / 2];
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        wgmma_m64n128k16_ss(s, k_major_descriptor(q_tile, kWgRows, kk), k_major_descriptor(k_tile, kKeys, kk), kk > 0);
      wgmma_commit();
      wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < kKeys / 2; ++i) wgmma_fence_operand(s[i]);

      if (tile_needs_mask(work, c, query_len, t)) {
#pragma unroll
        for (int i = 0; i < kKeys / 2; ++i)
          if (!key_visible(t * kKeys + acc_col(lane, i), (i & 2) ? pos_hi : pos_lo)) s[i] = -INFINITY;
      }
      float mx_lo = m_lo, mx_hi = m_hi;
#pragma unroll
      for (int i = 0; i < kKeys / 2; ++i) {
        if (i & 2) mx_hi = fmaxf(mx_hi, s[i]);
        else mx_lo = fmaxf(mx_lo, s[i]);
      }
      mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
      mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
      mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
      mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
      // Every row sees key 0 in tile 0, so the max is finite from the first tile on; exp2 of
      // (-inf - finite) is the 0 that empties the running state on the first tile.
      const float alpha_lo = ex2_approx((m_lo - mx_lo) * scale_log2);
      const float alpha_hi = ex2_approx((m_hi - mx_hi) * scale_log2);
      m_lo = mx_lo;
      m_hi = mx_hi;
      const float neg_lo = -mx_lo * scale_log2, neg_hi = -mx_hi * scale_log2;
      uint32_t p[kKeys / 4]; // bf16 pairs of P, register pair (2j, 2j + 1) of S in p[j]
      float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
      for (int i = 0; i < kKeys / 2; i += 2) {
        const float neg = (i & 2) ? neg_hi : neg_lo;
        p[i / 2] = pack_bf16(ex2_approx(fmaf(s[i], scale_log2, neg)), ex2_approx(fmaf(s[i + 1], scale_log2, neg)));
        // The sums count P as rounded for P V, so numerator and denominator agree.
        const float2 r = unpack_bf16(p[i / 2]);
        if (i & 2) sum_hi += r.x + r.y;
        else sum_lo += r.x + r.y;
      }
      l_lo = l_lo * alpha_lo + sum_lo;
      l_hi = l_hi * alpha_hi + sum_hi;
#pragma unroll
      for (int i = 0; i < D / 2; ++i) o[i] *= (i & 2) ? alpha_hi : alpha_lo;

      wgmma_fence(); // P and the rescaled O were written by ordinary instructions
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        const uint32_t a[4] = {p[p_source_register(kk, 0) / 2], p[p_source_register(kk, 1) / 2],
                               p[p_source_register(kk, 2) / 2], p[p_source_register(kk, 3) / 2]};
        if constexpr (D == 128) wgmma_m64n128k16_rs_ntrans(o, a, n_major_descriptor(v_tile, kKeys, kk));
        else wgmma_m64n64k16_rs_ntrans(o, a, n_major_descriptor(v_tile, kKeys, kk));
      }
      wgmma_commit();
      wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < D / 2; ++i) wgmma_fence_operand(o[i]);
    }
    mbarrier_arrive(empty_bar(stage)); // this thread's reads of the stage are complete
  }

  if (!active) return;
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 1);
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 2);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 1);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 2);
  const float inv_lo = 1.f / l_lo, inv_hi = 1.f / l_hi;
  const int64_t out_stride = static_cast<int64_t>(args.num_q_heads) * D;
  bf16* out_head = args.out + static_cast<int64_t>(head) * D;
#pragma unroll
  for (int j = 0; j < D / 8; ++j) {
    const int col = acc_col(lane, 4 * j);
    if (row_lo < query_len)
      *reinterpret_cast<__nv_bfloat162*>(out_head + (seq_first_token + row_lo) * out_stride + col) =
          __floats2bfloat162_rn(o[4 * j] * inv_lo, o[4 * j + 1] * inv_lo);
    if (row_lo + 8 < query_len)
      *reinterpret_cast<__nv_bfloat162*>(out_head + (seq_first_token + row_lo + 8) * out_stride + col) =
          __floats2bfloat162_rn(o[4 * j + 2] * inv_hi, o[4 * j + 3] * inv_hi);
  }
#else
  // Built for a target without wgmma: the host never launches this (paged_attention_prefill_wgmma_supported).
  (void)args;
  (void)tiles;
  (void)num_tiles;
#endif
}

namespace {

template <int D, int kStages>
void launch_wgmma(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles, cudaStream_t stream) {
  using L = WgmmaLayout<D, kStages>;
  static const bool configured = [] {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_prefill_wgmma_kernel<D, kStages>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, L::alloc));
    return true;
  }();
  (void)configured;
  launch_pdl("paged_attention_prefill_wgmma_kernel", paged_attention_prefill_wgmma_kernel<D, kStages>,
             dim3(args.num_q_heads, num_tiles), dim3(kThreads), L::alloc, stream, args, tiles, num_tiles);
}

// Compute capability 9.0 (Hopper) for each device this process has asked about.
bool device_is_sm90() {
  int device = 0;
  PAGODA_CUDA_CHECK(cudaGetDevice(&device));
  static std::array<int8_t, 64> known{}; // 0 unknown, 1 yes, 2 no
  if (device < 0 || device >= static_cast<int>(known.size())) return false;
  if (known[device] == 0) {
    int major = 0, minor = 0;
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    known[device] = (major == 9 && minor == 0) ? 1 : 2;
  }
  return known[device] == 1;
}

} // namespace

bool paged_attention_prefill_wgmma_supported(const PagedAttentionArgs& args) {
#if defined(PAGODA_CUDA_SM90A)
  return args.k_cache_fp8 == nullptr && args.v_cache_fp8 == nullptr && (args.head_dim == 64 || args.head_dim == 128) &&
         device_is_sm90();
#else
  (void)args;
  return false; // the library was not built for sm_90a, so the kernel has no wgmma code
#endif
}

bool paged_attention_prefill_wgmma_switch() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_PREFILL_WGMMA");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

void paged_attention_prefill_wgmma(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles,
                                   cudaStream_t stream, int stages) {
  if (!paged_attention_prefill_wgmma_supported(args))
    throw Error("paged_attention_prefill_wgmma: needs bf16 KV, head_dim 64 or 128, an sm_90 device and a build for "
                "sm_90a (head_dim " + std::to_string(args.head_dim) + ")");
  if (args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0)
    throw Error("paged_attention_prefill_wgmma: num_attention_heads must be a multiple of num_key_value_heads");
  if (args.q_token_stride % 8 != 0)
    throw Error("paged_attention_prefill_wgmma: the q row stride must be a multiple of 8 elements");
  if (num_tiles > 65535)
    throw Error("paged_attention_prefill_wgmma: " + std::to_string(num_tiles) + " query tiles in one launch (at most 65535)");
  if (num_tiles == 0) return;
  if (stages == 0) stages = 2;
  if (args.head_dim == 128) {
    if (stages == 2) return launch_wgmma<128, 2>(args, tiles, num_tiles, stream);
    if (stages == 3) return launch_wgmma<128, 3>(args, tiles, num_tiles, stream);
  } else {
    if (stages == 2) return launch_wgmma<64, 2>(args, tiles, num_tiles, stream);
    if (stages == 4) return launch_wgmma<64, 4>(args, tiles, num_tiles, stream);
  }
  throw Error("paged_attention_prefill_wgmma: no " + std::to_string(stages) + "-stage variant for head_dim " +
              std::to_string(args.head_dim));
}

} // namespace pagoda::cuda
