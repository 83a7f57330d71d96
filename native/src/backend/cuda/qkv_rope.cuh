// How a decode GEMM of the fused qkv weight finishes RoPE and the KV cache write itself (QkvRope in
// kernels.h): which weight rows a 16-row CTA takes, and its epilogue. A CTA over the q or k heads takes
// rows d..d+7 and d+half..d+half+7 of one head (d = 8c, half = head_dim / 2), so each RoPE pair (i, i + half)
// meets in one CTA; the hd / 16 CTAs of a head cover its rows once. CTAs over the v heads take 16
// consecutive rows. The weight is not reordered: the CTA only reads other rows, and every other path reads
// the same weight in its own order.
#pragma once

#if defined(__CUDACC__)
#include <cooperative_groups.h>
#endif

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

// Where the cache ([blocks, kv heads, block_size, hd]) keeps element 0 of kv head 0 for a token at `slot`; head h's
// element d is block_size * hd * h + d further. -1 for slot < 0 (a padding row: nothing is written).
__device__ __forceinline__ int64_t qkv_cache_base(const QkvRope& p, int32_t slot) {
  if (slot < 0) return -1;
  const int64_t block = slot / p.block_size;
  return (block * p.num_kv_heads * p.block_size + slot % p.block_size) * p.head_dim;
}

// What a thread of the epilogue needs from the step's inputs, which are copied up before the step's first kernel and
// so are read before the kernel's PDL wait: the cos / sin of its pair and where its input row's token sits in the
// cache (qkv_cache_base; < 0: a padding row, or a thread with no output). Read in the epilogue, the slot was a
// dependent round trip behind the thread's store to y (the compiler cannot tell the two apart), twice a thread,
// and its division by the block size came after it.
struct QkvRopeLane {
  float s = 0.f, c = 1.f;
  int64_t cache_base = -1;
};

// Thread `idx` of a roped CTA owns input row idx / 8 and pair idx % 8 (idx < m * 8); of any other CTA, input row
// idx / 16 in its first pass of the epilogue.
__device__ __forceinline__ QkvRopeLane qkv_rope_angle(const QkvRope& p, const QkvTile& t, int idx, int m) {
  QkvRopeLane l;
  if (!t.roped) {
    if (idx < m * 16) l.cache_base = qkv_cache_base(p, p.slots[idx / 16]);
    return l;
  }
  if (idx >= m * 8) return l;
  l.cache_base = qkv_cache_base(p, p.slots[idx / 8]);
  rope_neox_sincos(p.positions[idx / 8], p.inv_freq[t.base[0] % p.head_dim + idx % 8], &l.s, &l.c);
  return l;
}

// One output of the qkv GEMM for input row i: y[i, row] = o, and where row is a k or v row, o into that cache
// (cache_base from qkv_cache_base for the row's token; none for a padding row, cache_base < 0).
__device__ __forceinline__ void qkv_store(const QkvRope& p, bf16* y, int ldy, int i, int row, bf16 o,
                                          int64_t cache_base) {
  y[int64_t(i) * ldy + row] = o;
  const int hd = p.head_dim, q_rows = p.num_q_heads * hd, v_first = q_rows + p.num_kv_heads * hd;
  if (row < q_rows || cache_base < 0) return;
  const bool is_k = row < v_first;
  const int r = row - (is_k ? q_rows : v_first); // head r / hd, element r % hd
  (is_k ? p.k_cache : p.v_cache)[cache_base + int64_t(r / hd) * p.block_size * hd + r % hd] = o;
}

// The epilogue: sum(i, r) is the CTA's float32 result for input row i and CTA row r. Each result is rounded
// to bf16 as the GEMM would store it, then rotated as rope_neox_kv_write does (`lane` from qkv_rope_angle for the
// same thread `tid`, whose CTA's threads must cover m * 8 in one pass). y: the qkv activation, ldy its pitch.
template <typename Sum>
__device__ __forceinline__ void qkv_rope_epilogue(const QkvRope& p, const QkvTile& t, int m, bf16* y, int ldy,
                                                  const QkvRopeLane& lane, int tid, int threads, Sum sum) {
  if (t.roped) {
    const int idx = tid;
    if (idx >= m * 8) return;
    const int i = idx / 8, r = idx % 8;
    const float x1 = __bfloat162float(__float2bfloat16(sum(i, r)));
    const float x2 = __bfloat162float(__float2bfloat16(sum(i, r + 8)));
    qkv_store(p, y, ldy, i, t.base[0] + r, __float2bfloat16(rope_neox_first(x1, x2, lane.c, lane.s)), lane.cache_base);
    qkv_store(p, y, ldy, i, t.base[1] + r, __float2bfloat16(rope_neox_second(x1, x2, lane.c, lane.s)), lane.cache_base);
    return;
  }
  for (int idx = tid; idx < m * 16; idx += threads) {
    const int i = idx / 16, r = idx % 16;
    qkv_store(p, y, ldy, i, t.base[0] + r, __float2bfloat16(sum(i, r)),
              idx == tid ? lane.cache_base : qkv_cache_base(p, p.slots[i]));
  }
}

// The int4 form (tiles of 16 consecutive rows, whose repacked nibbles a CTA cannot split), launched in clusters of
// qkv_rope_cluster(head_dim) CTAs, one a head: the RoPE partner of row d < hd / 2 is row d + hd / 2, in the tile
// hd / 32 ranks up the cluster. The lane of thread idx < m * 16 (input row idx / 16, CTA row idx % 16), before the
// PDL wait like qkv_rope_angle.
__device__ __forceinline__ QkvRopeLane qkv_rope_cluster_angle(const QkvRope& p, int row0, int idx, int m) {
  QkvRopeLane l;
  if (idx >= m * 16) return l;
  l.cache_base = qkv_cache_base(p, p.slots[idx / 16]);
  const int hd = p.head_dim;
  if (row0 < (p.num_q_heads + p.num_kv_heads) * hd)
    rope_neox_sincos(p.positions[idx / 16], p.inv_freq[(row0 % hd + idx % 16) % (hd / 2)], &l.s, &l.c);
  return l;
}

#if defined(__CUDACC__)
// Each CTA rounds its 16 x m sums to bf16 as the GEMM would store them and publishes them in `xchg` ([8][16] floats
// of shared memory); after a cluster barrier every q / k row reads its partner's from the partner CTA's xchg and
// rotates as rope_neox_kv_write does; v rows are stored as they are. A second barrier keeps each CTA's shared memory
// alive until its partner has read it. Every CTA of the grid must call it (the barriers are cluster-wide).
template <typename Sum>
__device__ __forceinline__ void qkv_rope_cluster_epilogue(const QkvRope& p, int row0, int m, bf16* y, int ldy,
                                                          const QkvRopeLane& lane, float (*xchg)[16], Sum sum) {
  namespace cg = cooperative_groups;
  const cg::cluster_group cluster = cg::this_cluster();
  const int hd = p.head_dim, half = hd / 2, q_rows = p.num_q_heads * hd;
  const int idx = threadIdx.x, i = idx / 16, r = idx % 16, row = row0 + r;
  const bool live = idx < m * 16;
  float own = 0.f;
  if (live) own = __bfloat162float(__float2bfloat16(sum(i, r)));
  if (live) xchg[i][r] = own;
  cluster.sync();
  if (live) {
    bf16 o = __float2bfloat16(own); // v rows as they are
    if (row0 < q_rows + p.num_kv_heads * hd) {
      const bool first = row % hd < half;
      const unsigned partner = cluster.block_rank() + (first ? 1 : -1) * (half / 16);
      const float other = cluster.map_shared_rank(&xchg[0][0], partner)[i * 16 + r];
      o = __float2bfloat16(first ? rope_neox_first(own, other, lane.c, lane.s) : rope_neox_second(other, own, lane.c, lane.s));
    }
    qkv_store(p, y, ldy, i, row, o, lane.cache_base);
  }
  cluster.sync();
}
#endif

} // namespace pagoda::cuda
