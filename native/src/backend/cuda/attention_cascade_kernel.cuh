// Cascade attention's prefix kernel (see attention_cascade.cu for its design), written over primitives
// its includer provides, so the same source runs on the GPU (attention_cascade.cu) and in a host
// emulation (tests/cuda/cascade_prefix_emulation_test.cpp). Expected: CASCADE_DEVICE (a device
// function's qualifiers), CASCADE_KERNEL(threads, min_blocks) (the kernel's declaration),
// CASCADE_DYNAMIC_SMEM(name) (the dynamic shared memory as unsigned char* name); threadIdx, blockIdx,
// __syncthreads, __shfl_xor_sync, exp2f, fmaxf, min, pdl_wait, pdl_launch_dependents, smem_u32,
// cp_async_16 / _commit / _wait, ldmatrix_x4 (_trans), mma_bf16_16816, pack_bf16 and unpack_bf16.
#pragma once

#include <cmath>
#include <cstdint>

#include "backend/cuda/cascade_plan.h"
#include "backend/cuda/kernels.h"

namespace pagoda::cuda::cascade {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kWarpRows = 16;                   // query rows of a warp: one m16 tile
constexpr int kKeys = kCascadeKeysPerTile;      // keys of a K/V tile, shared by the CTA's 4 warps
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kWarps * kWarpRows == kCascadeRowsPerCta, "a CTA's rows are its warps' m16 tiles");

// A stage holds one K and one V tile of kKeys rows of D bf16, unpadded: rows are whole groups of 8
// 16-byte chunks (D 64, 128), so the chunk index XORed with row % 8 puts the 8 rows an ldmatrix
// phase reads in 8 bank groups. 3 stages at D 128 (96 KB: two CTAs an SM), 4 at 64 (64 KB).
template <int D> struct CascadeSizes {
  static constexpr int kChunks = D / 8;
  static_assert(kChunks % 8 == 0, "the swizzle needs rows of whole 8-chunk groups");
  static constexpr int kTileElems = kKeys * D;
  static constexpr int kStageBytes = 2 * kTileElems * 2;
  static constexpr int kStages = D <= 64 ? 4 : 3;
  static constexpr int kSmemBytes = kStages * kStageBytes;
};

template <int D> CASCADE_DEVICE int swizzled(int r, int c) { return r * D + ((c ^ (r & 7)) << 3); }

// Grid: (row tile, kv head, prefix partition). Row R of a KV head is decode sequence R / group,
// query head R % group of the head's group; warp w owns rows 16w..16w+15 of the CTA's 64 and all
// 4 warps read the same K/V tiles. No causal mask: every decode query comes after the prefix.
// Writes slot (seq_index * num_q_heads + head) * slots_per_head + partition: O normalized by its l,
// and (m in log2 units, l), as the decode kernel's partials.
template <int D>
CASCADE_KERNEL(kThreads, 2)
    cascade_prefix_kernel(PagedAttentionArgs args, const int32_t* seq_ids, int num_seqs,
                          const int32_t* prefix_table, int prefix_tokens, int partition,
                          int slots_per_head, float* __restrict__ part_out, float2* __restrict__ part_stats) {
  using Sizes = CascadeSizes<D>;
  constexpr int kSteps = D / 16;     // k-steps of Q K^T; 16-column pairs of O
  constexpr int kN = kKeys / 8;      // n-tiles of S
  constexpr int kKSteps = kKeys / 16; // k-steps of P V
  CASCADE_DYNAMIC_SMEM(smem);

  const int kv_head = blockIdx.y;
  const int part = blockIdx.z;
  const int group = args.num_q_heads / args.num_kv_heads;
  const int total_rows = num_seqs * group;
  const int key_begin = part * partition;
  const int num_keys = min(partition, prefix_tokens - key_begin); // >= 1: the plan has no empty partition
  const int num_tiles = (num_keys + kKeys - 1) / kKeys;
  const int bs = args.block_size;
  const int64_t head_rows = static_cast<int64_t>(args.num_kv_heads) * bs;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int g = lane >> 2;
  const int t = lane & 3;

  auto issue = [&](int i) { // tile i of the partition into stage i % kStages, all threads, one commit
    if (i < num_tiles) {
      unsigned char* dst = smem + (i % Sizes::kStages) * Sizes::kStageBytes;
#pragma unroll
      for (int j = 0; j < kKeys * Sizes::kChunks / kThreads; ++j) {
        const int idx = threadIdx.x + j * kThreads;
        const int r = idx / Sizes::kChunks, c = idx % Sizes::kChunks;
        const int key = key_begin + i * kKeys + r;
        const bool valid = key < key_begin + num_keys;
        int64_t src = 0;
        if (valid) src = (prefix_table[key / bs] * head_rows + static_cast<int64_t>(kv_head) * bs + key % bs) * D + c * 8;
        const int so = swizzled<D>(r, c) * 2;
        cp_async_16(smem_u32(dst + so), args.k_cache + src, valid);
        cp_async_16(smem_u32(dst + Sizes::kTileElems * 2 + so), args.v_cache + src, valid);
      }
    }
    cp_async_commit(); // empty groups keep the wait count uniform
  };

  // The prefix's K/V were written by earlier steps (every context keeps its newest key after the
  // prefix), so the first stages go out before the wait; Q is this step's, read after it.
  for (int i = 0; i < Sizes::kStages - 1; ++i) issue(i);
  pdl_wait();
  pdl_launch_dependents();

  // Q as the A operand, in mma order: a0 row g cols 2t.., a1 row g + 8, a2 / a3 the same 8 columns on.
  int row_slot[2]; // slot base of rows g and g + 8 (-1: past the batch)
  uint32_t qa[kSteps][4];
  {
    const bf16* q_row[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = blockIdx.x * kCascadeRowsPerCta + warp * kWarpRows + g + 8 * h;
      q_row[h] = nullptr;
      row_slot[h] = -1;
      if (row < total_rows) {
        const int seq_index = row / group;
        const int head = kv_head * group + row % group;
        const int64_t token = args.query_start[seq_ids[seq_index]];
        q_row[h] = args.q + token * args.q_token_stride + static_cast<int64_t>(head) * D;
        row_slot[h] = (seq_index * args.num_q_heads + head) * slots_per_head + part;
      }
    }
#pragma unroll
    for (int st = 0; st < kSteps; ++st)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const bf16* src = q_row[j & 1];
        qa[st][j] = src ? *reinterpret_cast<const uint32_t*>(src + 16 * st + 8 * (j >> 1) + 2 * t) : 0u;
      }
  }

  float o[2 * kSteps][4];
#pragma unroll
  for (int n = 0; n < 2 * kSteps; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[n][e] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
  const float scale_log2 = args.scale * kLog2e;

  for (int it = 0; it < num_tiles; ++it) {
    issue(it + Sizes::kStages - 1);
    cp_async_wait<Sizes::kStages - 1>();
    __syncthreads();
    const bf16* ks = reinterpret_cast<const bf16*>(smem + (it % Sizes::kStages) * Sizes::kStageBytes);
    const bf16* vs = ks + Sizes::kTileElems;

    // S = Q K^T over the tile's 64 keys: s[n] holds keys 8n..8n+7.
    float s[kN][4];
#pragma unroll
    for (int n = 0; n < kN; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
    {
      const int r = (lane & 7) + ((lane >> 4) << 3);
      const int c_lo = (lane >> 3) & 1;
#pragma unroll
      for (int st = 0; st < kSteps; ++st)
#pragma unroll
        for (int n16 = 0; n16 < kKSteps; ++n16) {
          uint32_t b[4];
          ldmatrix_x4(smem_u32(ks + swizzled<D>(16 * n16 + r, 2 * st + c_lo)), b);
          mma_bf16_16816(s[2 * n16], qa[st][0], qa[st][1], qa[st][2], qa[st][3], b[0], b[1]);
          mma_bf16_16816(s[2 * n16 + 1], qa[st][0], qa[st][1], qa[st][2], qa[st][3], b[2], b[3]);
        }
    }

    // Online softmax in log2 units; keys past the partition (its last tile) masked.
    const int key_local = it * kKeys;
    float alpha[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < kN; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& x = s[n][2 * h + e];
          x = key_local + 8 * n + 2 * t + e < num_keys ? x * scale_log2 : -INFINITY;
          mx = fmaxf(mx, x);
        }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m_run[h], mx); // finite: a tile has at least one key
      alpha[h] = exp2f(m_run[h] - m_new);
      m_run[h] = m_new;
    }
    // P in bf16 as the A operand of P V (k-step kk: keys 16kk..16kk+15); l adds the rounded values.
    uint32_t pa[kKSteps][4];
    float sum[2] = {0.f, 0.f};
#pragma unroll
    for (int n = 0; n < kN; ++n)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const uint32_t packed = pack_bf16(exp2f(s[n][2 * h] - m_run[h]), exp2f(s[n][2 * h + 1] - m_run[h]));
        pa[n / 2][2 * (n & 1) + h] = packed;
        const float2 back = unpack_bf16(packed);
        sum[h] += back.x + back.y;
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) l_run[h] = l_run[h] * alpha[h] + sum[h];
#pragma unroll
    for (int n = 0; n < 2 * kSteps; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[n][e] *= alpha[e >> 1];

    // O += P V; V rows are keys, read transposed as the B operand.
    {
      const int r = (lane & 7) + (((lane >> 3) & 1) << 3);
      const int c_hi = lane >> 4;
#pragma unroll
      for (int kk = 0; kk < kKSteps; ++kk)
#pragma unroll
        for (int st = 0; st < kSteps; ++st) {
          uint32_t b[4];
          ldmatrix_x4_trans(smem_u32(vs + swizzled<D>(16 * kk + r, 2 * st + c_hi)), b);
          mma_bf16_16816(o[2 * st], pa[kk][0], pa[kk][1], pa[kk][2], pa[kk][3], b[0], b[1]);
          mma_bf16_16816(o[2 * st + 1], pa[kk][0], pa[kk][1], pa[kk][2], pa[kk][3], b[2], b[3]);
        }
    }
    __syncthreads(); // every warp is done with this stage before the next issue refills it
  }
  cp_async_wait<0>();

  // Each row's l over its 4 lanes, then the row's normalized O and (m, l) straight from registers.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 1);
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 2);
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (row_slot[h] < 0) continue;
    const float inv = 1.f / l_run[h];
    float* dst = part_out + static_cast<int64_t>(row_slot[h]) * D + 2 * t;
#pragma unroll
    for (int n = 0; n < 2 * kSteps; ++n)
      *reinterpret_cast<float2*>(dst + 8 * n) = make_float2(o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
    if (t == 0) part_stats[row_slot[h]] = make_float2(m_run[h], l_run[h]);
  }
}

} // namespace pagoda::cuda::cascade
