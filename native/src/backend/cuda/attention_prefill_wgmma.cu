// Paged prefill attention for Hopper on warpgroup MMA (sm_90a), FlashAttention-3's structure: one
// CTA = 128 query rows of one head in three warpgroups. Warpgroup 0 is the producer: it gives up
// registers (setmaxnreg) and copies K/V tiles of 128 keys through the block table with cp.async into
// a ring of shared-memory stages laid out as wgmma's 128-byte swizzle wants, signalling each on an
// mbarrier. Warpgroups 1 and 2 are consumers of 64 rows each: S = Q K^T on wgmma with Q and K read
// from shared memory through descriptors, the online softmax on the f32 accumulators in registers
// (causal mask only on the diagonal tiles), then O += P V with P re-packed from those registers as
// the A operand and V read N-major; each frees the stage on another mbarrier. The TMA schedules
// copy with the bulk copy engine instead: one producer thread issues cp.async.bulk.tensor boxes
// (a tensor map over the paged cache, 128-byte swizzle) and the stage's mbarrier counts the bytes.
// The contract is
// paged_attention_prefill's (kernels.h), for bf16 KV and head_dim 64, 128 (K/V tiles of 128 keys) or
// 256 (64 keys); the index math lives in attention_prefill_wgmma_plan.h, where a CPU test checks it.
#include "backend/cuda/kernels.h"

#include <cuda.h> // CUtensorMap and its enums only: the encoder comes through the runtime's driver entry point
#include <cudaTypedefs.h>

#include <array>
#include <cstdint>
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
constexpr int kConsumerRegs = 232; // S, O (128 at head_dim 256) and P (one or two sets) and the rest
static_assert(kProducerRegs * 128 + kConsumerRegs * 256 <= 65536, "the register file holds all three warpgroups");
// With TMA the producer only walks the block table and issues boxes from one thread (its other threads
// help with a ragged last tile only), so it gives up more. 24 / 240 (FA3's split) made ptxas spill the
// ragged tile's cp.async addresses; at 32 nothing spills, and the consumers keep 232 (no spills there).
constexpr int kTmaProducerRegs = 32;
constexpr int kTmaConsumerRegs = 232;
static_assert(kTmaProducerRegs * 128 + kTmaConsumerRegs * 256 <= 65536, "the register file holds all three warpgroups");
constexpr int kProducerBarrier = 5; // named barrier of the producer warpgroup (1, 2: Q; 3, 4: turns)

// The consumer warpgroups' schedule (the WgmmaPrefillSchedule names without the producer's kind).
enum class Consumer { kSimple, kOverlap, kPingpong };

// Variants of a schedule, a bit mask so one template parameter carries them. kTwoIssuers: the bulk-copy producer
// issues K's copies from one thread and V's from another (warps 0 and 1), each arriving on the stage's full barrier
// with its half of the bytes, so the two chains of copies at block size 16 (16 a tensor a tile) run side by side;
// the same bytes land in the same places, so the output is pingpong-lazy's bit for bit. The default since session
// 29: 565 / 552 TFLOP/s at 32k / 131k tokens against one issuer's 529 / 520 at block size 16 on an H100, the same
// at block size 128 (bench/results/h100-prefill-s29.txt).
constexpr int kTwoIssuers = 1;
// A head_dim the kernel has no layout for (32 to 256 in steps of 16, not 64 / 128 / 256), run at the next one up
// (D): Q and K / V rows load zero-filled past args.head_dim, so Q K^T and P V see zeros there, and the output keeps
// the head's own columns. The cp.async producer only (its copies zero-fill by chunk). Session 28; checked and timed
// on an H100 in session 29 (padded_head_on says which head_dims take it).
constexpr int kPaddedHead = 4;

// The K and V caches of the layer as tensor maps, passed by value (__grid_constant__) so the copy
// engine reads them from the kernel's parameter space; unused by the cp.async schedules.
struct KvTensorMaps {
  CUtensorMap k;
  CUtensorMap v;
};
static_assert(kCtaRows == 2 * kWgRows && kCtaRows == 2 * kTileRows, "a CTA is two planner tiles, one per consumer");

// Shared memory, from a 1024-aligned base: Q (two warpgroups' 64-row tiles), kStages K tiles,
// kStages V tiles (each 1024-aligned: their sizes are multiples of 1024), then the mbarriers.
template <int D, int kStages> struct WgmmaLayout {
  static constexpr int wg_q_bytes = kWgRows * D * 2;
  static constexpr int q_bytes = 2 * wg_q_bytes;
  static constexpr int kv_tile_bytes = keys_per_tile(D) * D * 2;
  static constexpr int k_offset = q_bytes;
  static constexpr int v_offset = k_offset + kStages * kv_tile_bytes;
  static constexpr int bar_offset = v_offset + kStages * kv_tile_bytes;
  static constexpr int total = bar_offset + 2 * kStages * 8;
  static constexpr int alloc = total + kAtomBytes; // the dynamic base is aligned up by at most 1008 bytes
  static_assert(wg_q_bytes % kAtomBytes == 0 && kv_tile_bytes % kAtomBytes == 0, "tiles stay 1024-aligned");
};

// The consumer's per-tile pieces, shared by both schedules. Registers follow wgmma's accumulator
// layout (attention_prefill_wgmma_plan.h): bit 1 of a register index picks the thread's row g + 8.

// S (64 x kN keys, f32) = Q K^T over head_dim in k16 steps, issued (not waited for).
template <int D, int kN>
__device__ __forceinline__ void issue_qk(float (&s)[kN / 2], uint32_t q_tile, uint32_t k_tile) {
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const uint64_t a = k_major_descriptor(q_tile, kWgRows, kk), b = k_major_descriptor(k_tile, kN, kk);
    if constexpr (kN == 128) wgmma_m64n128k16_ss(s, a, b, kk > 0);
    else wgmma_m64n64k16_ss(s, a, b, kk > 0);
  }
}

// O (64 x D) += P V over the tile's kN keys in k16 steps, P's A fragments from the packed registers.
template <int D, int kN>
__device__ __forceinline__ void issue_pv(float (&o)[D / 2], const uint32_t (&p)[kN / 4], uint32_t v_tile) {
#pragma unroll
  for (int kk = 0; kk < kN / 16; ++kk) {
    const uint32_t a[4] = {p[p_source_register(kk, 0) / 2], p[p_source_register(kk, 1) / 2],
                           p[p_source_register(kk, 2) / 2], p[p_source_register(kk, 3) / 2]};
    const uint64_t b = n_major_descriptor(v_tile, kN, kk);
    if constexpr (D == 256) wgmma_m64n256k16_rs_ntrans(o, a, b);
    else if constexpr (D == 128) wgmma_m64n128k16_rs_ntrans(o, a, b);
    else wgmma_m64n64k16_rs_ntrans(o, a, b);
  }
}

template <int N> __device__ __forceinline__ void fence_operands(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) wgmma_fence_operand(r[i]);
}
template <int N> __device__ __forceinline__ void fence_operands(uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) wgmma_fence_operand(r[i]);
}

// A thread's online-softmax state: running max of the raw scores and its share of the row sums for
// its two rows (the quad's shares are added at the end: every rescale factor is the same across it).
struct RowState {
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.f, l_hi = 0.f;
};

// The first half of a tile's softmax (softmax_tile): masks S, moves the row maxima, and gives the
// rescale factors (alpha) and the exponent offsets (-max * scale_log2).
template <int kN>
__device__ __forceinline__ void softmax_max(float (&s)[kN / 2], RowState& st, float& alpha_lo, float& alpha_hi,
                                            float& neg_lo, float& neg_hi, bool mask, int key0, int lane, int pos_lo,
                                            int pos_hi, float scale_log2) {
  if (mask) {
#pragma unroll
    for (int i = 0; i < kN / 2; ++i)
      if (!key_visible(key0 + acc_col(lane, i), (i & 2) ? pos_hi : pos_lo)) s[i] = -INFINITY;
  }
  float mx_lo = st.m_lo, mx_hi = st.m_hi;
#pragma unroll
  for (int i = 0; i < kN / 2; ++i) {
    if (i & 2) mx_hi = fmaxf(mx_hi, s[i]);
    else mx_lo = fmaxf(mx_lo, s[i]);
  }
  mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
  mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
  mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
  mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
  // Every row sees key 0 in tile 0, so the max is finite from the first tile on; exp2 of
  // (-inf - finite) is the 0 that empties the running state on the first tile.
  alpha_lo = ex2_approx((st.m_lo - mx_lo) * scale_log2);
  alpha_hi = ex2_approx((st.m_hi - mx_hi) * scale_log2);
  st.m_lo = mx_lo;
  st.m_hi = mx_hi;
  neg_lo = -mx_lo * scale_log2;
  neg_hi = -mx_hi * scale_log2;
}

// Scores of a key tile to P (bf16 pairs, register pair (2j, 2j + 1) of S in p[j]); updates the max
// and the sums, and returns the factors the output must be rescaled by (alpha).
template <int kN>
__device__ __forceinline__ void softmax_tile(float (&s)[kN / 2], uint32_t (&p)[kN / 4], RowState& st,
                                             float& alpha_lo, float& alpha_hi, bool mask, int key0, int lane,
                                             int pos_lo, int pos_hi, float scale_log2) {
  float neg_lo, neg_hi;
  softmax_max<kN>(s, st, alpha_lo, alpha_hi, neg_lo, neg_hi, mask, key0, lane, pos_lo, pos_hi, scale_log2);
  float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
  for (int i = 0; i < kN / 2; i += 2) {
    const float neg = (i & 2) ? neg_hi : neg_lo;
    const float e0 = ex2_approx(fmaf(s[i], scale_log2, neg)), e1 = ex2_approx(fmaf(s[i + 1], scale_log2, neg));
    p[i / 2] = pack_bf16(e0, e1);
    // The sums add P as rounded for P V, so numerator and denominator agree (session 27's pingpong-lean, the f32
    // values with a tree max, ran 2.8x slower on an H100 in session 29 and was removed).
    const float2 r = unpack_bf16(p[i / 2]);
    if (i & 2) sum_hi += r.x + r.y;
    else sum_lo += r.x + r.y;
  }
  st.l_lo = st.l_lo * alpha_lo + sum_lo;
  st.l_hi = st.l_hi * alpha_hi + sum_hi;
}

template <int N> __device__ __forceinline__ void rescale(float (&o)[N], float alpha_lo, float alpha_hi) {
#pragma unroll
  for (int i = 0; i < N; ++i) o[i] *= (i & 2) ? alpha_hi : alpha_lo;
}

// The lazy rescale (kLazy): alpha is exactly 1 for a row whose max did not move (ex2.approx of 0 is
// 1), and multiplying by 1 changes nothing, so a warp skips the N multiplies of O when no row of its
// lanes moved: the output is bit for bit the eager one. The vote is warp-uniform, so the branch does not
// diverge; a warpgroup-wide decision would need a barrier and saves nothing more per thread.
template <bool kLazy, int N>
__device__ __forceinline__ void lazy_or_eager_rescale(float (&o)[N], float alpha_lo, float alpha_hi) {
  if constexpr (kLazy) {
    if (__any_sync(0xffffffffu, alpha_lo != 1.f || alpha_hi != 1.f)) rescale(o, alpha_lo, alpha_hi);
  } else {
    rescale(o, alpha_lo, alpha_hi);
  }
}

} // namespace

// Consumer::kOverlap: FlashAttention-3's intra-warpgroup consumer schedule. Within a warpgroup, S of
// tile t is issued together with P V of tile t - 1, and the softmax of t runs while P V of t - 1 is still on the tensor cores
// (P of t - 1 and of t live in two register sets); between the two warpgroups, named barriers 3 and
// 4 hand the right to issue back and forth, so one's softmax overlaps the other's matrix products.
// A stage is freed only after P V read its V, one tile later than without overlap, so this schedule
// wants a third stage. Consumer::kPingpong is FlashAttention-3's inter-warpgroup form with one P set:
// each warpgroup runs S, softmax, P V in turn, but issues P V of tile t - 1 together with S of tile t
// on its turn (named barriers 3 / 4), so one warpgroup's softmax runs while the other's products
// occupy the tensor cores; like kOverlap it frees a stage one tile later and wants 3 stages.
// Consumer::kSimple runs S, softmax, P V in turn, waiting for each. kTma: the producer copies full
// tiles with the bulk copy engine (one thread, tensor maps in `maps`), else with 128 threads of cp.async.
template <int D, int kStages, Consumer kC, bool kTma, bool kLazy = false, int kTweaks = 0>
__global__ void __launch_bounds__(kThreads, 1)
    paged_attention_prefill_wgmma_kernel(PagedAttentionArgs args, const PrefillTile* tiles, int num_tiles,
                                         const __grid_constant__ KvTensorMaps maps) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  static_assert(D == 64 || D == 128 || D == 256, "head_dim 64, 128 or 256 (others run padded: kPaddedHead)");
  constexpr int kN = keys_per_tile(D); // keys per K/V tile
  static_assert(kC == Consumer::kSimple || kStages >= 3, "the overlapped schedules hold two stages while the next one loads");
  constexpr bool kTwo = (kTweaks & kTwoIssuers) != 0;
  constexpr bool kPad = (kTweaks & kPaddedHead) != 0;
  static_assert((kTweaks & ~kPaddedHead) == 0 || (kTma && kC == Consumer::kPingpong),
                "two issuers are a bulk-copy pingpong producer");
  static_assert(!kPad || !kTma, "a padded head loads through cp.async");
  // The head's own width: rows of q, the caches and out are this far apart (D unless padded).
  const int hd = kPad ? args.head_dim : D;
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
  const CtaWork work = cta_work(tile.row, query_len, args.context_lens[tile.seq], kN);
  const int n = work.num_key_tiles;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      // cp.async: every producer thread arrives once its copies landed; TMA: the issuing thread arrives
      // with the tile's byte count, and the phase completes when those bytes are in.
      mbarrier_init(full_bar(s), kTma ? (kTwo ? 2 : 1) : 128);
      mbarrier_init(empty_bar(s), 256); // every consumer thread arrives once its wgmma read the stage
    }
    mbarrier_init_fence();
  }
  __syncthreads();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    // Producer: thread i copies chunk i % kChunks of rows i / kChunks, + 128 / kChunks, ... of a tile,
    // so each kChunks consecutive threads read one key's contiguous row.
    setmaxnreg_dec<kTma ? kTmaProducerRegs : kProducerRegs>();
    constexpr int kRowStep = 128 / kChunks;
    const int chunk = threadIdx.x % kChunks;
    const int row_first = threadIdx.x / kChunks;
    const int32_t* block_table = args.block_tables + static_cast<int64_t>(tile.seq) * args.max_blocks_per_seq;
    // Tile t's rows with 16-byte cp.async into its stage, zero-filled from kv_end on (no row sees them).
    auto copy_tile = [&](int t) {
      const int stage = t % kStages;
      const uint32_t k_dst = s_k + stage * L::kv_tile_bytes, v_dst = s_v + stage * L::kv_tile_bytes;
#pragma unroll 4
      for (int r = row_first; r < kN; r += kRowStep) {
        const int key = t * kN + r;
        const bool valid = key < work.kv_end && (!kPad || chunk * 8 < hd);
        const int64_t offset =
            kv_row_offset(block_table, valid ? key : 0, kv_head, args.num_kv_heads, args.block_size, hd) +
            (kPad && !valid ? 0 : chunk * 8); // a padded chunk's address stays inside the cache (nothing is read)
        const uint32_t dst = swizzled_offset(kN, r, chunk);
        cp_async_16(k_dst + dst, args.k_cache + offset, valid);
        cp_async_16(v_dst + dst, args.v_cache + offset, valid);
      }
      cp_async_commit();
    };
    if constexpr (kTma) {
      // Thread 0 issues every tile wholly before kv_end as boxes (tma_box), arriving first with the
      // bytes they bring. A tile reaching past kv_end (only the last) goes through copy_tile by all
      // 128 threads: thread 0 waits for its stage, the others wait for thread 0 on a named barrier
      // (a parity wait from them could see a phase two back), then thread 0 signals once all landed.
      const int full_tiles = tma_full_tiles(work);
      // kTwo: thread 0 issues K's copies and thread 32 (warp 1) V's, each arriving with its half of the bytes.
      if (threadIdx.x == 0 || (kTwo && threadIdx.x == 32)) {
        const bool k_copies = threadIdx.x == 0, v_copies = !kTwo || threadIdx.x == 32;
        if (k_copies) prefetch_tensor_map(&maps.k);
        if (v_copies) prefetch_tensor_map(&maps.v);
        // A tile's block ids are read together (tma_tile_rows), the next tile's right after this one's boxes
        // are issued, so their latency passes while the thread waits for a free stage. Read box by box,
        // each box waited on its own division and block-table load, and at block size 16 (16 boxes a tensor
        // a tile) the consumers spent a third of their time waiting for tiles (Nsight, session 27).
        constexpr int kMaxGroups = kTmaMaxGroups, kCols = D / kTmaBoxDims;
        const int rows = tma_box_rows(args.block_size, kN), groups = kN / rows;
        int32_t ids[kMaxGroups];
        int row0 = 0;
        auto fetch_ids = [&](int t) {
          const TmaTileRows tr = tma_tile_rows(t, kN, args.block_size);
          row0 = tr.row0;
#pragma unroll
          for (int g = 0; g < kMaxGroups; ++g)
            if (g < groups) ids[g] = block_table[tr.first_entry + g];
        };
        auto issue = [&](const CUtensorMap* map, uint32_t dst, uint32_t bar) {
#pragma unroll
          for (int g = 0; g < kMaxGroups; ++g)
            if (g < groups) {
#pragma unroll
              for (int col = 0; col < kCols; ++col) {
                const TmaBox box = tma_group_box(g, col, ids[g], row0, kN, rows, kv_head);
                tma_load_4d(dst + box.smem_offset, map, bar, box.coord[0], box.coord[1], box.coord[2], box.coord[3]);
              }
            }
        };
        if (full_tiles > 0) fetch_ids(0);
        for (int t = 0; t < full_tiles; ++t) {
          const int stage = t % kStages;
          const uint32_t k_dst = s_k + stage * L::kv_tile_bytes, v_dst = s_v + stage * L::kv_tile_bytes;
          if (t >= kStages) mbarrier_wait(empty_bar(stage), ((t / kStages) - 1) & 1);
          mbarrier_arrive_expect_tx(full_bar(stage), tma_tile_bytes(D, kN) / (kTwo ? 2 : 1));
          if (k_copies) issue(&maps.k, k_dst, full_bar(stage));
          if (v_copies) issue(&maps.v, v_dst, full_bar(stage));
          if (t + 1 < full_tiles) fetch_ids(t + 1);
        }
      }
      if (full_tiles < n) {
        const int t = n - 1; // full_tiles == n - 1
        if (threadIdx.x == 0 && t >= kStages) mbarrier_wait(empty_bar(t % kStages), ((t / kStages) - 1) & 1);
        __syncwarp(); // warp 0 whole again after thread 0's branches: bar.sync is warp-aligned
        named_barrier_sync(kProducerBarrier, 128);
        copy_tile(t);
        cp_async_wait<0>();
        fence_proxy_async_shared(); // written through the generic proxy, read by wgmma's async one
        named_barrier_sync(kProducerBarrier, 128);
        if (threadIdx.x == 0) {
          mbarrier_arrive(full_bar(t % kStages));
          if constexpr (kTwo) mbarrier_arrive(full_bar(t % kStages)); // the second issuer's arrival
        }
      }
      return;
    }
    // Two tiles in flight: tile t is issued before tile t - 1 is waited for and signalled, except when
    // t's stage is still in use; then t - 1 is signalled first, so no landed tile waits on a free stage.
    // Each thread waits for its own copies and fences the async proxy before it arrives: the tile was
    // written through the generic proxy and wgmma reads it through the async one.
    auto signal = [&](int t, bool newer_in_flight) {
      if (newer_in_flight) cp_async_wait<1>();
      else cp_async_wait<0>();
      fence_proxy_async_shared();
      mbarrier_arrive(full_bar(t % kStages));
    };
    bool pending = false; // tile t - 1 issued, not yet signalled
    for (int t = 0; t < n; ++t) {
      const int stage = t % kStages;
      if (t >= kStages) { // consumers must be done with tile t - kStages
        const uint32_t parity = ((t / kStages) - 1) & 1;
        if (!mbarrier_try_wait(empty_bar(stage), parity)) {
          if (pending) signal(t - 1, false);
          pending = false;
          mbarrier_wait(empty_bar(stage), parity);
        }
      }
      copy_tile(t);
      if (pending) signal(t - 1, true); // all but tile t's copies have landed
      pending = true;
    }
    signal(n - 1, false);
    return;
  }

  // Consumers: warpgroup c owns CTA rows 64 c .. 64 c + 63.
  setmaxnreg_inc<kTma ? kTmaConsumerRegs : kConsumerRegs>();
  const int c = wg - 1;
  const int ctid = threadIdx.x - 128 * wg;
  const int warp = ctid / 32, lane = ctid & 31;
  const uint32_t q_tile = s_q + c * L::wg_q_bytes;
  for (int i = ctid; i < kWgRows * kChunks; i += 128) { // this warpgroup's Q rows (past the sequence: zeros)
    const int r = i / kChunks, ch = i % kChunks;
    const int row = work.row0 + c * kWgRows + r;
    const bool valid = row < query_len && (!kPad || ch * 8 < hd);
    const int64_t token = seq_first_token + (valid ? row : 0);
    const int col = kPad && !valid ? 0 : ch * 8; // a padded chunk's address stays inside q (nothing is read)
    cp_async_16(q_tile + swizzled_offset(kWgRows, r, ch),
                args.q + token * args.q_token_stride + static_cast<int64_t>(head) * hd + col, valid);
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
  auto needs = [&](int t) { return active && wg_needs_tile(work, c, query_len, t); };
  auto k_tile = [&](int t) { return s_k + (t % kStages) * L::kv_tile_bytes; };
  auto v_tile = [&](int t) { return s_v + (t % kStages) * L::kv_tile_bytes; };

  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.f;
  RowState st;
  float s[kN / 2];

  if constexpr (kC == Consumer::kSimple) {
    uint32_t p[kN / 4];
    for (int t = 0; t < n; ++t) {
      mbarrier_wait(full_bar(t % kStages), (t / kStages) & 1);
      if (needs(t)) {
        wgmma_fence();
        issue_qk<D, kN>(s, q_tile, k_tile(t));
        wgmma_commit();
        wgmma_wait<0>();
        fence_operands(s);
        float alpha_lo, alpha_hi;
        softmax_tile<kN>(s, p, st, alpha_lo, alpha_hi, tile_needs_mask(work, c, query_len, t), t * kN, lane, pos_lo,
                     pos_hi, scale_log2);
        rescale(o, alpha_lo, alpha_hi);
        wgmma_fence(); // P and the rescaled O were written by ordinary instructions
        issue_pv<D, kN>(o, p, v_tile(t));
        wgmma_commit();
        wgmma_wait<0>();
        fence_operands(o);
        fence_operands(p); // P's registers stay untouched until the wgmma that reads them is done
      }
      mbarrier_arrive(empty_bar(t % kStages)); // this thread's reads of the stage are complete
    }
  } else {
    // Warpgroup c issues after bar.sync(3 + c) and hands over with bar.arrive(3 + (1 - c)); warpgroup 1
    // lets warpgroup 0 go first. Both take the same n + 1 turns, so the counts match.
    const int my_turn = 3 + c, their_turn = 3 + (1 - c);
    if (c == 1) named_barrier_arrive(their_turn, 256);
    if (!active) {
      // Warpgroup 1 of a CTA whose rows end in its first half: no products, only its turns (the
      // same n + 1 as below) and its arrivals on the stages the producer waits for.
      for (int t = 0; t <= n; ++t) {
        if (t < n) mbarrier_wait(full_bar(t % kStages), (t / kStages) & 1);
        named_barrier_sync(my_turn, 256);
        named_barrier_arrive(their_turn, 256);
        if (t > 0) mbarrier_arrive(empty_bar((t - 1) % kStages));
      }
      return;
    }
    // Both consumers start alike: S of tile 0 on this warpgroup's turn, waited for.
    auto first_scores = [&] {
      mbarrier_wait(full_bar(0), 0);
      named_barrier_sync(my_turn, 256);
      wgmma_fence();
      issue_qk<D, kN>(s, q_tile, k_tile(0));
      wgmma_commit();
      named_barrier_arrive(their_turn, 256);
      wgmma_wait<0>();
      fence_operands(s);
    };
    if constexpr (kC == Consumer::kOverlap) {
      uint32_t p_even[kN / 4], p_odd[kN / 4]; // P of even and odd tiles
      // No branch may separate a wgmma from its wait here (ptxas would serialize them), so the
      // warpgroup runs every tile: a tile past its rows masks to P = 0 and adds nothing. Only the CTA's
      // last tile is ever unneeded (and only in chunked prefill), so little work goes to waste.
      first_scores();
      {
        float alpha_lo, alpha_hi; // 0, and o is still zero
        softmax_tile<kN>(s, p_even, st, alpha_lo, alpha_hi, tile_needs_mask(work, c, query_len, 0), 0, lane, pos_lo, pos_hi,
                     scale_log2);
      }
      // One step: S of tile t with P V of tile t - 1 (P of t - 1 in p_prev, P of t into p_next).
      auto step = [&](int t, uint32_t (&p_next)[kN / 4], uint32_t (&p_prev)[kN / 4]) {
        mbarrier_wait(full_bar(t % kStages), (t / kStages) & 1);
        named_barrier_sync(my_turn, 256);
        wgmma_fence(); // S was read and P written by ordinary instructions since the last wgmma
        issue_qk<D, kN>(s, q_tile, k_tile(t));
        wgmma_commit();
        issue_pv<D, kN>(o, p_prev, v_tile(t - 1));
        wgmma_commit();
        named_barrier_arrive(their_turn, 256);
        wgmma_wait<1>(); // S done; P V may still run
        fence_operands(s);
        float alpha_lo, alpha_hi;
        softmax_tile<kN>(s, p_next, st, alpha_lo, alpha_hi, tile_needs_mask(work, c, query_len, t), t * kN, lane, pos_lo,
                     pos_hi, scale_log2);
        wgmma_wait<0>();
        fence_operands(o);
        fence_operands(p_prev);
        mbarrier_arrive(empty_bar((t - 1) % kStages)); // tile t - 1's K and V are read
        rescale(o, alpha_lo, alpha_hi);
      };
      int t = 1;
      for (; t + 1 < n; t += 2) {
        step(t, p_odd, p_even);
        step(t + 1, p_even, p_odd);
      }
      if (t < n) step(t, p_odd, p_even);
      // The last tile's P V. Its P is in p_odd when n - 1 is odd; otherwise it is selected into p_odd
      // (a branch between the fence and the wgmma would make ptxas serialize the wgmma).
      const bool last_odd = ((n - 1) & 1) != 0;
#pragma unroll
      for (int i = 0; i < kN / 4; ++i) p_odd[i] = last_odd ? p_odd[i] : p_even[i];
      named_barrier_sync(my_turn, 256);
      wgmma_fence();
      issue_pv<D, kN>(o, p_odd, v_tile(n - 1));
      wgmma_commit();
      named_barrier_arrive(their_turn, 256);
      wgmma_wait<0>();
      fence_operands(o);
      fence_operands(p_odd);
      mbarrier_arrive(empty_bar((n - 1) % kStages));
    } else {
      // Pingpong, one P set: on its turn a warpgroup issues P V of tile t - 1 and S of tile t as one
      // group, hands the turn over and waits for both; then the softmax of t (P of t - 1 is no longer
      // read) while the other warpgroup's group runs. As above, every tile runs (no branch between a
      // wgmma and its wait): a tile past the warpgroup's rows masks to P = 0.
      uint32_t p[kN / 4];
      first_scores();
      {
        float alpha_lo, alpha_hi; // 0, and o is still zero
        softmax_tile<kN>(s, p, st, alpha_lo, alpha_hi, tile_needs_mask(work, c, query_len, 0), 0, lane, pos_lo, pos_hi,
                         scale_log2);
      }
      for (int t = 1; t < n; ++t) {
        mbarrier_wait(full_bar(t % kStages), (t / kStages) & 1);
        named_barrier_sync(my_turn, 256);
        wgmma_fence(); // S was read and P, O written by ordinary instructions since the last wgmma
        issue_pv<D, kN>(o, p, v_tile(t - 1));
        issue_qk<D, kN>(s, q_tile, k_tile(t));
        wgmma_commit();
        named_barrier_arrive(their_turn, 256);
        wgmma_wait<0>();
        fence_operands(o);
        fence_operands(s);
        fence_operands(p);
        mbarrier_arrive(empty_bar((t - 1) % kStages)); // tile t - 1's K and V are read (and t's K)
        float alpha_lo, alpha_hi;
        softmax_tile<kN>(s, p, st, alpha_lo, alpha_hi, tile_needs_mask(work, c, query_len, t), t * kN, lane, pos_lo,
                         pos_hi, scale_log2);
        lazy_or_eager_rescale<kLazy>(o, alpha_lo, alpha_hi);
      }
      named_barrier_sync(my_turn, 256);
      wgmma_fence();
      issue_pv<D, kN>(o, p, v_tile(n - 1));
      wgmma_commit();
      named_barrier_arrive(their_turn, 256);
      wgmma_wait<0>();
      fence_operands(o);
      fence_operands(p);
      mbarrier_arrive(empty_bar((n - 1) % kStages));
    }
    if (c == 0) named_barrier_sync(my_turn, 256); // warpgroup 1's last hand-over, so no arrival is left pending
  }

  if (!active) return;
  float l_lo = st.l_lo, l_hi = st.l_hi;
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 1);
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 2);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 1);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 2);
  const float inv_lo = 1.f / l_lo, inv_hi = 1.f / l_hi;
  const int64_t out_stride = static_cast<int64_t>(args.num_q_heads) * hd;
  bf16* out_head = args.out + static_cast<int64_t>(head) * hd;
#pragma unroll
  for (int j = 0; j < D / 8; ++j) {
    const int col = acc_col(lane, 4 * j);
    if (kPad && col >= hd) continue; // a padded column: zero, and not the head's
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

// cuTensorMapEncodeTiled from the driver the runtime loaded (no link against libcuda).
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    PAGODA_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || fn == nullptr)
      throw Error("paged_attention_prefill_wgmma: the driver has no cuTensorMapEncodeTiled");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  return encode;
}

// Whether the TMA producer can copy this cache: block sizes the boxes fit (tma_layout_fits), a known
// block count (the map's outermost bound), and the 16-byte alignment the copy engine needs.
bool tma_fits(const PagedAttentionArgs& args) {
  const int keys = keys_per_tile(args.head_dim);
  return tma_layout_fits(args.block_size, keys) && args.num_cache_blocks > 0 &&
         args.num_cache_blocks <= INT32_MAX && reinterpret_cast<uintptr_t>(args.k_cache) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(args.v_cache) % 16 == 0;
}

// A layer's cache [num_blocks, num_kv_heads, block_size, D] as a 4-d tensor (dims innermost first),
// boxes of 64 dims x tma_box_rows keys, 128-byte swizzle (the layout the consumers' descriptors read).
CUtensorMap kv_tensor_map(const bf16* cache, const PagedAttentionArgs& args) {
  const int D = args.head_dim, bs = args.block_size, keys = keys_per_tile(D);
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(D), static_cast<cuuint64_t>(bs),
                              static_cast<cuuint64_t>(args.num_kv_heads), static_cast<cuuint64_t>(args.num_cache_blocks)};
  const cuuint64_t row_bytes = static_cast<cuuint64_t>(D) * 2;
  const cuuint64_t strides[3] = {row_bytes, row_bytes * bs, row_bytes * bs * args.num_kv_heads}; // dims 1..3, bytes
  const cuuint32_t box[4] = {static_cast<cuuint32_t>(kTmaBoxDims), static_cast<cuuint32_t>(tma_box_rows(bs, keys)), 1, 1};
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  CUtensorMap map;
  const CUresult r = tensor_map_encoder()(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, const_cast<bf16*>(cache), dims,
                                          strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                          CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                          CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw Error("paged_attention_prefill_wgmma: cuTensorMapEncodeTiled failed (CUresult " + std::to_string(r) + ")");
  return map;
}

template <int D, int kStages, Consumer kC, bool kTma, bool kLazy = false, int kTweaks = 0>
void launch_wgmma(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles, cudaStream_t stream) {
  using L = WgmmaLayout<D, kStages>;
  static const bool configured = [] {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_prefill_wgmma_kernel<D, kStages, kC, kTma, kLazy, kTweaks>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, L::alloc));
    return true;
  }();
  (void)configured;
  KvTensorMaps maps{};
  if constexpr (kTma) {
    maps.k = kv_tensor_map(args.k_cache, args);
    maps.v = kv_tensor_map(args.v_cache, args);
  }
  launch_pdl("paged_attention_prefill_wgmma_kernel", paged_attention_prefill_wgmma_kernel<D, kStages, kC, kTma, kLazy, kTweaks>,
             dim3(args.num_q_heads, num_tiles), dim3(kThreads), L::alloc, stream, args, tiles, num_tiles, maps);
}

template <int D>
void launch_schedule(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles, cudaStream_t stream,
                     WgmmaPrefillSchedule schedule) {
  if constexpr (D == 256) { // 64 KB of Q and two 64 KB stages: no room for a third, so simple only
    (void)schedule;
    launch_wgmma<256, 2, Consumer::kSimple, false>(args, tiles, num_tiles, stream);
  } else {
    constexpr int kDeep = D == 128 ? 3 : 4; // what fits in 227 KB of shared memory with Q
    // The TMA schedules take their cp.async twin where the boxes do not fit the cache (tma_fits).
    const bool tma = tma_fits(args);
    switch (schedule) {
    case WgmmaPrefillSchedule::kSimple: return launch_wgmma<D, 2, Consumer::kSimple, false>(args, tiles, num_tiles, stream);
    case WgmmaPrefillSchedule::kSimpleDeep:
      return launch_wgmma<D, kDeep, Consumer::kSimple, false>(args, tiles, num_tiles, stream);
    case WgmmaPrefillSchedule::kOverlap: return launch_wgmma<D, kDeep, Consumer::kOverlap, false>(args, tiles, num_tiles, stream);
    case WgmmaPrefillSchedule::kSimpleTma:
      if (tma) return launch_wgmma<D, kDeep, Consumer::kSimple, true>(args, tiles, num_tiles, stream);
      return launch_wgmma<D, kDeep, Consumer::kSimple, false>(args, tiles, num_tiles, stream);
    case WgmmaPrefillSchedule::kPingpong:
      if (tma) return launch_wgmma<D, kDeep, Consumer::kPingpong, true>(args, tiles, num_tiles, stream);
      return launch_wgmma<D, kDeep, Consumer::kPingpong, false>(args, tiles, num_tiles, stream);
    case WgmmaPrefillSchedule::kPingpongCpAsync:
      return launch_wgmma<D, kDeep, Consumer::kPingpong, false>(args, tiles, num_tiles, stream);
    // pingpong (the bulk-copy producer at head_dim 128 where the boxes fit, cp.async at 64) with the lazy
    // rescale: bit for bit pingpong, and the fastest on the H200 (bench/results/h200-prefill-wgmma-lazy-2abf7ed.json):
    // head_dim 128 on the bulk copies 336 / 400 / 395 TFLOP/s at 4k / 32k / 131k tokens against pingpong's
    // 332 / 391 / 385, head_dim 64 on cp.async 265 / 320 / 325 against pingpong-cp-async's 265 / 318 / 321.
    case WgmmaPrefillSchedule::kPingpongLazy:
      if constexpr (D == 128) { // no head_dim 64 bulk-copy instance of it
        if (tma) return launch_wgmma<D, kDeep, Consumer::kPingpong, true, true>(args, tiles, num_tiles, stream);
      }
      return launch_wgmma<D, kDeep, Consumer::kPingpong, false, true>(args, tiles, num_tiles, stream);
    // The default: pingpong-lazy with two issuers of the bulk copies (kTwoIssuers) at head_dim 128, the same bits;
    // pingpong-lazy itself elsewhere.
    case WgmmaPrefillSchedule::kDefault:
    case WgmmaPrefillSchedule::kPingpongTwoIssuers:
      if constexpr (D == 128) {
        if (tma) return launch_wgmma<D, kDeep, Consumer::kPingpong, true, true, kTwoIssuers>(args, tiles, num_tiles, stream);
      }
      return launch_wgmma<D, kDeep, Consumer::kPingpong, false, true>(args, tiles, num_tiles, stream);
    }
    throw Error("paged_attention_prefill_wgmma: unknown schedule");
  }
}

// The head_dims the kernel has layouts for, and those it runs at the next of them up (kPaddedHead).
bool layout_head_dim(int head_dim) { return head_dim == 64 || head_dim == 128 || head_dim == 256; }
bool padded_head_dim(int head_dim) {
  return head_dim >= 32 && head_dim <= 256 && head_dim % 16 == 0 && !layout_head_dim(head_dim);
}

// Whether a padded head_dim runs on this kernel. By default those up to 128 do (32 / 48 at 64, 80 / 96 / 112 at
// 128): 1.2-1.6x the mma.sync kernel's speed at 4k and 32k tokens on an H100 (bench/results/h100-prefill-s29.txt),
// while 160 at 256 gained nothing (0.97 against 1.03 ms at 4k, the same at 32k), so 144-240 stay on mma.sync.
// PAGODA_PREFILL_WGMMA_PADDED=1 runs every padded head_dim here, 0 none; any other value throws, as
// PAGODA_PREFILL_WGMMA does.
bool padded_head_on(int head_dim) {
  static const int choice = [] { // -1 default, 0 none, 1 all
    const char* v = std::getenv("PAGODA_PREFILL_WGMMA_PADDED");
    if (v == nullptr || *v == 0) return -1;
    if (std::strcmp(v, "0") == 0 || std::strcmp(v, "1") == 0) return *v - '0';
    throw Error(std::string("PAGODA_PREFILL_WGMMA_PADDED is \"") + v +
                "\"; use 1 (every padded head_dim on wgmma), 0 (none) or leave it unset (32-112)");
  }();
  return choice < 0 ? head_dim < 128 : choice == 1;
}

// A padded head_dim runs the default schedule's cp.async twin at the next layout up, whatever the schedule asked
// (the bulk copies would need boxes past the row's end).
void launch_padded(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles, cudaStream_t stream) {
  if (args.head_dim > 128)
    return launch_wgmma<256, 2, Consumer::kSimple, false, false, kPaddedHead>(args, tiles, num_tiles, stream);
  if (args.head_dim > 64)
    return launch_wgmma<128, 3, Consumer::kPingpong, false, true, kPaddedHead>(args, tiles, num_tiles, stream);
  launch_wgmma<64, 4, Consumer::kPingpong, false, true, kPaddedHead>(args, tiles, num_tiles, stream);
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
  return args.k_cache_fp8 == nullptr && args.v_cache_fp8 == nullptr &&
         (layout_head_dim(args.head_dim) || (padded_head_dim(args.head_dim) && padded_head_on(args.head_dim))) && device_is_sm90();
#else
  (void)args;
  return false; // the library was not built for sm_90a, so the kernel has no wgmma code
#endif
}

const char* wgmma_prefill_schedule_name(WgmmaPrefillSchedule schedule) {
  switch (schedule) {
  case WgmmaPrefillSchedule::kDefault: return "default";
  case WgmmaPrefillSchedule::kSimple: return "simple";
  case WgmmaPrefillSchedule::kSimpleDeep: return "simple-deep";
  case WgmmaPrefillSchedule::kOverlap: return "overlap";
  case WgmmaPrefillSchedule::kSimpleTma: return "simple-tma";
  case WgmmaPrefillSchedule::kPingpong: return "pingpong";
  case WgmmaPrefillSchedule::kPingpongCpAsync: return "pingpong-cp-async";
  case WgmmaPrefillSchedule::kPingpongLazy: return "pingpong-lazy";
  case WgmmaPrefillSchedule::kPingpongTwoIssuers: return "pingpong-two-issuers";
  }
  return "?";
}

bool paged_attention_prefill_wgmma_switch(WgmmaPrefillSchedule* schedule) {
  static const int choice = [] { // -1: off, else a WgmmaPrefillSchedule
    const char* v = std::getenv("PAGODA_PREFILL_WGMMA");
    if (v != nullptr && std::strcmp(v, "0") == 0) return -1;
    if (v == nullptr || *v == 0 || std::strcmp(v, "1") == 0) return static_cast<int>(WgmmaPrefillSchedule::kDefault);
    for (WgmmaPrefillSchedule s : {WgmmaPrefillSchedule::kSimple, WgmmaPrefillSchedule::kSimpleDeep,
                                   WgmmaPrefillSchedule::kOverlap, WgmmaPrefillSchedule::kSimpleTma,
                                   WgmmaPrefillSchedule::kPingpong, WgmmaPrefillSchedule::kPingpongCpAsync,
                                   WgmmaPrefillSchedule::kPingpongLazy, WgmmaPrefillSchedule::kPingpongTwoIssuers})
      if (std::strcmp(v, wgmma_prefill_schedule_name(s)) == 0) return static_cast<int>(s);
    throw Error(std::string("PAGODA_PREFILL_WGMMA is \"") + v +
                "\"; use 1 / unset (the default schedule), simple, simple-deep, overlap, simple-tma, pingpong, "
                "pingpong-cp-async, pingpong-lazy, pingpong-two-issuers, or 0 for the mma.sync kernel");
  }();
  if (choice >= 0 && schedule != nullptr) *schedule = static_cast<WgmmaPrefillSchedule>(choice);
  return choice >= 0;
}

void paged_attention_prefill_wgmma(const PagedAttentionArgs& args, const PrefillTile* tiles, int num_tiles,
                                   cudaStream_t stream, WgmmaPrefillSchedule schedule) {
  if (!paged_attention_prefill_wgmma_supported(args))
    throw Error("paged_attention_prefill_wgmma: needs bf16 KV, head_dim 64, 128 or 256 (or 32-112 in steps of 16; "
                "to 240 with PAGODA_PREFILL_WGMMA_PADDED=1), an sm_90 device and a build for sm_90a (head_dim " +
                std::to_string(args.head_dim) + ")");
  if (args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0)
    throw Error("paged_attention_prefill_wgmma: num_attention_heads must be a multiple of num_key_value_heads");
  if (args.q_token_stride % 8 != 0)
    throw Error("paged_attention_prefill_wgmma: the q row stride must be a multiple of 8 elements");
  if (num_tiles > 65535)
    throw Error("paged_attention_prefill_wgmma: " + std::to_string(num_tiles) + " query tiles in one launch (at most 65535)");
  if (num_tiles == 0) return;
  if (!layout_head_dim(args.head_dim)) return launch_padded(args, tiles, num_tiles, stream);
  if (args.head_dim == 256) launch_schedule<256>(args, tiles, num_tiles, stream, schedule);
  else if (args.head_dim == 128) launch_schedule<128>(args, tiles, num_tiles, stream, schedule);
  else launch_schedule<64>(args, tiles, num_tiles, stream, schedule);
}

} // namespace pagoda::cuda
