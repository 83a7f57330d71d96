// How a decode GEMM of the fused qkv weight finishes RoPE and the KV cache write itself (QkvRope in
// kernels.h): which weight rows a 16-row CTA takes, and its epilogue. A CTA over the q or k heads takes
// rows d..d+7 and d+half..d+half+7 of one head (d = 8c, half = head_dim / 2), so each RoPE pair (i, i + half)
// meets in one CTA; the hd / 16 CTAs of a head cover its rows once. CTAs over the v heads take 16
// consecutive rows. The weight is not reordered: the CTA only reads other rows, and every other path reads
// the same weight in its own order.
#pragma once

#include "backend/cuda/kernels.h"
#include "backend/cuda/rope_neox.cuh"

namespace pagoda::cuda {

// The weight rows of CTA `tile` (16 rows a CTA): rows base[0]..+7 are its rows 0-7, base[1]..+7 its rows 8-15.
struct QkvTile {
  int base[2];
  bool roped; // q or k rows in RoPE pairs; else v rows
};

__device__ __forceinline__ QkvTile qkv_tile(int tile, const QkvRope& p) {
  const int hd = p.head_dim, row0 = tile * 16;
  if (row0 >= (p.num_q_heads + p.num_kv_heads) * hd) return {{row0, row0 + 8}, false};
  const int first = row0 - row0 % hd + ((row0 % hd) / 16) * 8;
  return {{first, first + hd / 2}, true};
}

// Where the cache keeps element d of kv head h for a token at `slot` ([blocks, kv heads, block_size, hd]).
__device__ __forceinline__ int64_t qkv_cache_index(const QkvRope& p, int32_t slot, int h, int d) {
  const int64_t block = slot / p.block_size;
  return ((block * p.num_kv_heads + h) * p.block_size + slot % p.block_size) * p.head_dim + d;
}

// The cos / sin a thread of a roped CTA needs in the epilogue: thread `idx` < m * 8 owns input row idx / 8 and
// pair idx % 8. Positions and frequencies are step inputs, so this may run before the kernel's PDL wait.
__device__ __forceinline__ void qkv_rope_angle(const QkvRope& p, const QkvTile& t, int idx, int m, float* s,
                                               float* c) {
  *s = 0.f;
  *c = 1.f;
  if (!t.roped || idx >= m * 8) return;
  rope_neox_sincos(p.positions[idx / 8], p.inv_freq[t.base[0] % p.head_dim + idx % 8], s, c);
}

// The epilogue: sum(i, r) is the CTA's float32 result for input row i and CTA row r. Each result is rounded
// to bf16 as the GEMM would store it, then rotated as rope_neox_kv_write does (s / c from qkv_rope_angle for
// the same thread `tid`, whose CTA's threads must cover m * 8 in one pass). y: the qkv activation, ldy its pitch.
template <typename Sum>
__device__ __forceinline__ void qkv_rope_epilogue(const QkvRope& p, const QkvTile& t, int m, bf16* y, int ldy,
                                                  float s, float c, int tid, int threads, Sum sum) {
  const int hd = p.head_dim, q_rows = p.num_q_heads * hd;
  if (t.roped) {
    const int idx = tid;
    if (idx >= m * 8) return;
    const int i = idx / 8, r = idx % 8;
    const float x1 = __bfloat162float(__float2bfloat16(sum(i, r)));
    const float x2 = __bfloat162float(__float2bfloat16(sum(i, r + 8)));
    const bf16 o1 = __float2bfloat16(rope_neox_first(x1, x2, c, s));
    const bf16 o2 = __float2bfloat16(rope_neox_second(x1, x2, c, s));
    const int row1 = t.base[0] + r, row2 = t.base[1] + r;
    y[int64_t(i) * ldy + row1] = o1;
    y[int64_t(i) * ldy + row2] = o2;
    const int32_t slot = p.slots[i];
    if (row1 < q_rows || slot < 0) return;
    const int h = (row1 - q_rows) / hd;
    p.k_cache[qkv_cache_index(p, slot, h, row1 % hd)] = o1;
    p.k_cache[qkv_cache_index(p, slot, h, row2 % hd)] = o2;
    return;
  }
  const int v_first = q_rows + p.num_kv_heads * hd;
  for (int idx = tid; idx < m * 16; idx += threads) {
    const int i = idx / 16, r = idx % 16, row = t.base[0] + r;
    const bf16 v = __float2bfloat16(sum(i, r));
    y[int64_t(i) * ldy + row] = v;
    const int32_t slot = p.slots[i];
    if (slot >= 0) p.v_cache[qkv_cache_index(p, slot, (row - v_first) / hd, (row - v_first) % hd)] = v;
  }
}

} // namespace pagoda::cuda
