// One warp's step of the mma.sync flash-attention kernels (paged prefill, varlen): 16 query rows
// against a tile of keys in m16n8k16 fragments, where each lane holds rows g and g + 8 of the warp's 16
// and columns 2t, 2t + 1 of each 8-wide block (g = lane / 4, t = lane % 4).
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/mma.cuh"

namespace pagoda::cuda {

using bf16 = __nv_bfloat16;

// The max and the sum of a value over the quad of lanes that holds one fragment row.
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// s += Q K^T over the head's dims in steps of 32 (an odd last 16 is the caller's): q row q_row of the
// shared Q tile, keys 8n .. 8n + 7 of k_tile; both tiles have row pitch ld. a_col, b_row, b_col are the
// lane's ldmatrix offsets (A fragments: column a_col; K's B fragments: row b_row, column b_col).
template <int D, bool kF16, int N>
__device__ __forceinline__ void flash_qk_dim_pairs(float (&s)[N][4], const bf16* q, int q_row, const bf16* k_tile,
                                                   int ld, int a_col, int b_row, int b_col) {
#pragma unroll
  for (int kk = 0; kk + 1 < D / 16; kk += 2) {
    uint32_t qa[4], qb[4];
    ldmatrix_x4(smem_u32(q + q_row * ld + kk * 16 + a_col), qa);
    ldmatrix_x4(smem_u32(q + q_row * ld + (kk + 1) * 16 + a_col), qb);
#pragma unroll
    for (int n = 0; n < N; ++n) {
      uint32_t kb[4]; // dims kk*16 .. kk*16 + 31 of keys 8n .. 8n + 7
      ldmatrix_x4(smem_u32(k_tile + (n * 8 + b_row) * ld + kk * 16 + b_col), kb);
      mma_16816<kF16>(s[n], qa[0], qa[1], qa[2], qa[3], kb[0], kb[1]);
      mma_16816<kF16>(s[n], qb[0], qb[1], qb[2], qb[3], kb[2], kb[3]);
    }
  }
}

// P = exp2(s - m) for the lane's two rows (m_lo: row g, m_hi: row g + 8), rounded to the mmas' type into
// p ([n][0] row g, [n][1] row g + 8), and the rows' sums of P as rounded (so numerator and denominator
// agree), over the quad that holds each row.
template <bool kF16, int N>
__device__ __forceinline__ void flash_probabilities(const float (&s)[N][4], float m_lo, float m_hi, uint32_t (&p)[N][2],
                                                    float& sum_lo, float& sum_hi) {
  sum_lo = 0.f;
  sum_hi = 0.f;
#pragma unroll
  for (int n = 0; n < N; ++n) {
    const float p0 = exp2f(s[n][0] - m_lo), p1 = exp2f(s[n][1] - m_lo);
    const float p2 = exp2f(s[n][2] - m_hi), p3 = exp2f(s[n][3] - m_hi);
    p[n][0] = pack_pair<kF16>(p0, p1);
    p[n][1] = pack_pair<kF16>(p2, p3);
    const float2 r01 = unpack_pair<kF16>(p[n][0]);
    const float2 r23 = unpack_pair<kF16>(p[n][1]);
    sum_lo += r01.x + r01.y;
    sum_hi += r23.x + r23.y;
  }
  sum_lo = quad_sum(sum_lo);
  sum_hi = quad_sum(sum_hi);
}

// The output accumulators' rows g and g + 8 times alpha_lo and alpha_hi (the running max moved).
template <int DN> __device__ __forceinline__ void flash_rescale(float (&o)[DN][4], float alpha_lo, float alpha_hi) {
#pragma unroll
  for (int n = 0; n < DN; ++n) {
    o[n][0] *= alpha_lo;
    o[n][1] *= alpha_lo;
    o[n][2] *= alpha_hi;
    o[n][3] *= alpha_hi;
  }
}

// O += P V: keys in steps of 16 (P's A fragment from two score accumulators), output dims in pairs of 8
// (V, row pitch ld, read transposed at the lane's A-fragment offsets a_row, a_col).
template <bool kF16, int N, int DN>
__device__ __forceinline__ void flash_pv(float (&o)[DN][4], const uint32_t (&p)[N][2], const bf16* v_tile, int ld,
                                         int a_row, int a_col) {
#pragma unroll
  for (int kk = 0; kk < N / 2; ++kk) {
    const uint32_t pa0 = p[2 * kk][0], pa1 = p[2 * kk][1], pa2 = p[2 * kk + 1][0], pa3 = p[2 * kk + 1][1];
#pragma unroll
    for (int n = 0; n < DN; n += 2) {
      uint32_t vb[4];
      ldmatrix_x4_trans(smem_u32(v_tile + (kk * 16 + a_row) * ld + n * 8 + a_col), vb);
      mma_16816<kF16>(o[n], pa0, pa1, pa2, pa3, vb[0], vb[1]);
      mma_16816<kF16>(o[n + 1], pa0, pa1, pa2, pa3, vb[2], vb[3]);
    }
  }
}

// The lane's output as bf16: o times inv_lo (row row_lo) or inv_hi (row row_hi), each stored only where the
// row is below rows, at token first + row of out_head (out_stride elements a token).
template <int DN>
__device__ __forceinline__ void flash_store_rows(const float (&o)[DN][4], float inv_lo, float inv_hi, bf16* out_head,
                                                 int64_t out_stride, int first, int row_lo, int row_hi, int rows,
                                                 int t4) {
#pragma unroll
  for (int n = 0; n < DN; ++n) {
    const int col = n * 8 + 2 * t4;
    if (row_lo < rows)
      *reinterpret_cast<__nv_bfloat162*>(out_head + (first + row_lo) * out_stride + col) =
          __floats2bfloat162_rn(o[n][0] * inv_lo, o[n][1] * inv_lo);
    if (row_hi < rows)
      *reinterpret_cast<__nv_bfloat162*>(out_head + (first + row_hi) * out_stride + col) =
          __floats2bfloat162_rn(o[n][2] * inv_hi, o[n][3] * inv_hi);
  }
}

} // namespace pagoda::cuda
