// The W8A8 fp8 decode kernel fp8_mma_gemm_kernel (launched by fp8_mma_gemm.cu, which explains the plan):
// x quantized to e4m3 codes in shared memory once per CTA, e4m3 weight bytes fed to mma.sync m16n8k32 as loaded.
// Reference: y[r][n] = bf16(sum_k code_x[r][k] * code_w[n][k] * sx[r][k / gx] * sw[n][k / 128]) in float64 on the
// host (tests/cuda/fp8_mma_gemm_test.cu), with code_x / sx exactly fake_quantize_fp8_rows' (fp8_quantize.cu).
// Written over primitives its includer provides, so the same source runs on the GPU (fp8_mma_gemm.cu) and in a
// host emulation (tests/cuda/fp8_mma_gemm_emulation_test.cpp). Expected: FP8MMA_DEVICE (a device function's
// qualifiers), FP8MMA_KERNEL (the kernel's declaration), FP8MMA_SMEM(name) (unsigned char* name = the dynamic
// shared memory); threadIdx, blockIdx, blockDim, gridDim, __syncthreads, __shfl_xor_sync, __ldcs, pdl_wait,
// pdl_launch_dependents, mma_e4m3 (below), cuda_bf16.h and cuda_fp8.h.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cstdint>
#include <cstring>


#if defined(__CUDACC__)
#define FP8MMA_HD __host__ __device__
#else
#define FP8MMA_HD
#endif

namespace pagoda::cuda::fp8mma {

using bf16 = __nv_bfloat16;

// A token's codes in shared memory are k + kPad bytes apart (k % 128 == 0): a quarter-warp's 16-byte reads cover
// two token rows (lanes g, g + 1 at the same 16 t), which then fall on the two halves of the 32 banks.
constexpr int kPad = 64;
// The cross-warp partial sums: [2 buffers][warps][8 tokens][16 rows + 4] floats (the + 4 spreads the 4 t lanes of a
// store over 4 bank octets).
constexpr int kRedRow = 20;

struct Params {
  const bf16* x;           // [m][k] bf16, read after pdl_wait() with coherent loads
  const uint8_t* w;        // [n][k] e4m3 codes, row-major (the checkpoint's tensor)
  const float* w_scales;   // per-channel [n], or 128x128 blocks [ceil(n / 128)][k / 128]
  int64_t scale_row_stride; // per-channel 1; blocks k / 128
  bf16* y;                 // [m][ldy]
  int ldy, m, k;
  int split;               // S: warps that share one 16-row tile, each taking every S-th group of 128 columns
  int tiles_per_pass;      // T: 16-row tiles a CTA computes side by side (warps = T * S)
  int passes;              // total passes of T tiles (n / 16 / T); CTA b runs passes b, b + grid, ...
};

// Shared-memory layout, in bytes from the start (the same on host and device).
struct SmemLayout {
  int red, wmax, sx, codes, total;
  FP8MMA_HD SmemLayout(int warps, int split, int m, int k, bool x_group) {
    red = 0;
    wmax = red + (split > 1 ? 2 * warps * 8 * kRedRow * 4 : 0);
    sx = wmax + warps * 8 * 4;
    codes = sx + (x_group ? (k / 128) * 8 * 4 : 8 * 4);
    total = codes + m * (k + kPad);
  }
};

// fake_quantize_fp8_rows' code of v for scale s: the same IEEE division, clamp and saturating round to nearest
// even (two values a conversion, the low byte = lo).
FP8MMA_DEVICE uint32_t e4m3_pair(float lo, float hi, float s) {
  float2 v;
  v.x = fminf(fmaxf(lo / s, -448.f), 448.f);
  v.y = fminf(fmaxf(hi / s, -448.f), 448.f);
  return uint32_t(__nv_cvt_float2_to_fp8x2(v, __NV_SATFINITE, __NV_E4M3));
}

FP8MMA_DEVICE void bf16x8_to_float(const uint4& u, float (&v)[8]) {
  const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t lo = words[i] << 16, hi = words[i] & 0xFFFF0000u;
    std::memcpy(&v[2 * i], &lo, 4); // bf16 -> f32 is these bits (a register move on the GPU)
    std::memcpy(&v[2 * i + 1], &hi, 4);
  }
}

FP8MMA_DEVICE uint2 quantize8(const float (&v)[8], float s) {
  uint2 q;
  q.x = e4m3_pair(v[0], v[1], s) | (e4m3_pair(v[2], v[3], s) << 16);
  q.y = e4m3_pair(v[4], v[5], s) | (e4m3_pair(v[6], v[7], s) << 16);
  return q;
}

// XG: activation scales per token and 128 columns (else per token); WB: 128x128 weight blocks (else per channel);
// D: stages of the weight ring (one stage = one group of 128 columns of a warp's 16 rows: 64 bytes a lane).
//
// Why the codes equal fake_quantize_fp8_rows' even when x was fake-quantized already (by the norm before the
// linear, or an earlier fake_quantize): such a row holds x = bf16(c s), |c| <= 448, with 448 reached (the max
// element maps to x / s = 448 within f32 rounding). Its max is then bf16(448 s) = 448 s (1 + d), |d| <= 2^-9, so
// the recomputed s' = s (1 + d') with |d'| <= 2^-9 (+ an f32 ulp), and x / s' = c (1 + e), |e| < 2^-7. An e4m3
// code's neighbours are at least c / 16 away (3 mantissa bits: 2^E / 8 above 2^E (1 + j / 8), 2^E / 16 below 2^E;
// subnormals: steps of 2^-9 with c >= 2^-9), so a rounding boundary is >= c / 32 from c: c (1 + e) rounds back to
// c, and 448 (1 + e) saturates to 448. The same holds for
// a per-128-column group (its max is bf16(448 s_group)), and for zero rows (s = 1e-12 / 448, every code 0).
// tests/cuda/fp8_mma_gemm_test.cu checks it on fake_quantize_fp8_rows' own output.
template <bool XG, bool WB, int D>
FP8MMA_KERNEL fp8_mma_gemm_kernel(const Params p) {
  FP8MMA_SMEM(smem);
  pdl_launch_dependents();
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int S = p.split, T = p.tiles_per_pass;
  const int ts = warp / S, ks = warp - ts * S;
  const int k = p.k, m = p.m, groups = k >> 7, gw = groups / S; // gw: groups of a warp in one pass
  const int my_passes = (p.passes - int(blockIdx.x) + int(gridDim.x) - 1) / int(gridDim.x);
  const int count = my_passes * gw; // ring items of this warp: (pass, group) in order

  // Weight cursor: row g of the warp's tile at group ks + S j, byte 16 t (+ 64 for the group's second half,
  // + 8 k for row g + 8). A lane's 16 contiguous bytes of a 64-column half are its a-registers of two mmas.
  const int64_t h8 = int64_t(8) * k;
  const uint8_t* wp = nullptr;
  const float* sp = nullptr;
  auto pass_start = [&](int q) {
    const int row0 = ((int(blockIdx.x) + q * int(gridDim.x)) * T + ts) * 16;
    wp = p.w + int64_t(row0 + g) * k + ks * 128 + 16 * t;
    if constexpr (WB) sp = p.w_scales + int64_t(row0 >> 7) * p.scale_row_stride + ks;
  };
  pass_start(0);
  int lj = 0, lq = 0; // the next load's group index in its pass, and its pass

  struct Stage {
    uint4 w[4]; // row g first half, row g second half, row g+8 first half, row g+8 second half
    float ws;   // WB: the group's weight block scale
  };
  auto load = [&](Stage& st) {
    st.w[0] = __ldcs(reinterpret_cast<const uint4*>(wp));
    st.w[1] = __ldcs(reinterpret_cast<const uint4*>(wp + 64));
    st.w[2] = __ldcs(reinterpret_cast<const uint4*>(wp + h8));
    st.w[3] = __ldcs(reinterpret_cast<const uint4*>(wp + h8 + 64));
    if constexpr (WB) st.ws = __ldcs(sp);
    if (++lj == gw) { // warp-uniform
      lj = 0;
      if (++lq < my_passes) pass_start(lq);
    } else {
      wp += S * 128;
      if constexpr (WB) sp += S;
    }
  };

  Stage ring[D];
#pragma unroll
  for (int d = 0; d < D; ++d)
    if (d < count) load(ring[d]);
  pdl_wait(); // the weights depend on no kernel; x does

  // x -> e4m3 codes (and scales) in shared memory, exactly as fake_quantize_fp8_rows computes them.
  float* red = reinterpret_cast<float*>(smem);
  const SmemLayout L(warps, S, m, k, XG);
  float* wmax = reinterpret_cast<float*>(smem + L.wmax);
  float* sx = reinterpret_cast<float*>(smem + L.sx); // XG: [groups][8 tokens]; else [8 tokens]
  uint8_t* codes = smem + L.codes;
  const int kq = k + kPad, per_row = k >> 3; // 8 columns a thread-item; item i of x is bytes 16 i.. (row i / per_row)
  // Loads go out U at a time before any of them is used (x may be a pointer into anything, so the compiler cannot
  // move a later load above an earlier shared-memory store by itself): U L2 round trips overlap instead of queuing.
  constexpr int U = 4;
  const uint4 zero = make_uint4(0u, 0u, 0u, 0u); // |0| never raises a max
  // Items first, first + blockDim.x, ... (U of them) of the `count` 8-column items at `items`; zeros past count.
  auto load_items = [&](const bf16* items, int first, int count, uint4 (&raw)[U]) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int i = first + u * int(blockDim.x);
      raw[u] = i < count ? *reinterpret_cast<const uint4*>(items + int64_t(i) * 8) : zero;
    }
  };
  if constexpr (XG) {
    // 16 consecutive items = one (token, 128-column group): 16 lanes of a half-warp, max by 4 shuffles. Every lane
    // runs every pass (the shuffles need the whole warp); total is a multiple of 16, so a half-warp is either
    // entirely active or entirely idle.
    const int total = m * per_row;
    for (int base = 0; base < total; base += U * int(blockDim.x)) {
      uint4 raw[U];
      load_items(p.x, base + int(threadIdx.x), total, raw);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int idx = base + u * int(blockDim.x) + int(threadIdx.x);
        float v[8];
        bf16x8_to_float(raw[u], v);
        float amax = 0.f;
#pragma unroll
        for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(v[e]));
#pragma unroll
        for (int o = 8; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        if (idx < total) {
          const int r = idx / per_row, c8 = idx - r * per_row;
          const float s = fmaxf(amax, 1e-12f) / 448.f;
          *reinterpret_cast<uint2*>(codes + r * kq + c8 * 8) = quantize8(v, s);
          if ((lane & 15) == 0) sx[(c8 >> 4) * 8 + r] = s;
        }
      }
    }
  } else {
    // Per token: the row's max over the whole CTA (warp shuffles, then one float a warp and token), then the
    // row again (from L1 / L2) for the codes.
#pragma unroll
    for (int r = 0; r < 8; ++r) {
      if (r < m) {
        const bf16* row = p.x + int64_t(r) * k;
        float am = 0.f;
        for (int c0 = threadIdx.x; c0 < per_row; c0 += U * int(blockDim.x)) {
          uint4 raw[U];
          load_items(row, c0, per_row, raw);
#pragma unroll
          for (int u = 0; u < U; ++u) {
            float v[8];
            bf16x8_to_float(raw[u], v);
#pragma unroll
            for (int e = 0; e < 8; ++e) am = fmaxf(am, fabsf(v[e]));
          }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, o));
        if (lane == 0) wmax[warp * 8 + r] = am;
      }
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < 8; ++r) {
      if (r < m) {
        float a = 0.f;
        for (int v = 0; v < warps; ++v) a = fmaxf(a, wmax[v * 8 + r]);
        const float s = fmaxf(a, 1e-12f) / 448.f;
        if (threadIdx.x == 0) sx[r] = s;
        const bf16* row = p.x + int64_t(r) * k;
        for (int c0 = threadIdx.x; c0 < per_row; c0 += U * int(blockDim.x)) {
          uint4 raw[U];
          load_items(row, c0, per_row, raw);
#pragma unroll
          for (int u = 0; u < U; ++u) {
            const int c8 = c0 + u * int(blockDim.x);
            float v[8];
            bf16x8_to_float(raw[u], v);
            if (c8 < per_row) *reinterpret_cast<uint2*>(codes + r * kq + c8 * 8) = quantize8(v, s);
          }
        }
      }
    }
  }
  __syncthreads();

  // Token column g of the mma reads token row g (row 0 past m: an mma column feeds only its own output column,
  // and columns past m are never stored).
  const uint8_t* xrow = codes + (g < m ? g : 0) * kq + 16 * t;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  int cj = 0, cq = 0; // the group being computed: index in its pass, and the pass

  // A pass's end: the tile's outputs (tokens 2t, 2t+1; rows g, g+8), summed over the S warps of the tile in
  // warp order, times the scales not folded per group.
  auto finish_pass = [&](int q) {
    const int pass = int(blockIdx.x) + q * int(gridDim.x);
    if (S == 1) {
      const int row0 = (pass * T + ts) * 16;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int tok = 2 * t + (e & 1), row = row0 + g + 8 * (e >> 1);
        if (tok < m) {
          float v = acc[e];
          if constexpr (!XG) v *= sx[tok];
          if constexpr (!WB) v *= p.w_scales[row];
          p.y[int64_t(tok) * p.ldy + row] = __float2bfloat16(v);
        }
      }
    } else {
      float* buf = red + (q & 1) * warps * 8 * kRedRow; // two buffers: one barrier a pass
#pragma unroll
      for (int e = 0; e < 4; ++e) buf[(warp * 8 + 2 * t + (e & 1)) * kRedRow + g + 8 * (e >> 1)] = acc[e];
      __syncthreads();
      for (int idx = threadIdx.x; idx < T * m * 16; idx += blockDim.x) {
        const int tile = idx / (m * 16), rem = idx - tile * m * 16, tok = rem >> 4, r = rem & 15;
        float v = 0.f;
        for (int u = 0; u < S; ++u) v += buf[((tile * S + u) * 8 + tok) * kRedRow + r];
        const int row = (pass * T + tile) * 16 + r;
        if constexpr (!XG) v *= sx[tok];
        if constexpr (!WB) v *= p.w_scales[row];
        p.y[int64_t(tok) * p.ldy + row] = __float2bfloat16(v);
      }
    }
  };

  for (int j0 = 0; j0 < count; j0 += D) {
#pragma unroll
    for (int d = 0; d < D; ++d) {
      const int j = j0 + d;
      if (j >= count) break; // CTA-uniform (every warp has the same count): only the last round
      Stage& st = ring[d];
      const int gi = ks + S * cj;
      const uint4 x0 = *reinterpret_cast<const uint4*>(xrow + gi * 128);
      const uint4 x1 = *reinterpret_cast<const uint4*>(xrow + gi * 128 + 64);
      // A group's 128 columns into a fresh f32 partial, folded into acc with its scales: the tensor core's own
      // accumulation then spans 4 mmas, whatever k is.
      float part[4] = {0.f, 0.f, 0.f, 0.f};
      mma_e4m3(part, st.w[0].x, st.w[2].x, st.w[0].y, st.w[2].y, x0.x, x0.y);
      mma_e4m3(part, st.w[0].z, st.w[2].z, st.w[0].w, st.w[2].w, x0.z, x0.w);
      mma_e4m3(part, st.w[1].x, st.w[3].x, st.w[1].y, st.w[3].y, x1.x, x1.y);
      mma_e4m3(part, st.w[1].z, st.w[3].z, st.w[1].w, st.w[3].w, x1.z, x1.w);
      if constexpr (!XG && !WB) {
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[e] += part[e];
      } else {
        float f0 = 1.f, f1 = 1.f; // tokens 2t, 2t+1
        if constexpr (XG) {
          const float2 s2 = *reinterpret_cast<const float2*>(sx + gi * 8 + 2 * t);
          f0 = s2.x;
          f1 = s2.y;
        }
        if constexpr (WB) {
          f0 *= st.ws;
          f1 *= st.ws;
        }
        acc[0] += part[0] * f0;
        acc[1] += part[1] * f1;
        acc[2] += part[2] * f0;
        acc[3] += part[3] * f1;
      }
      if (j + D < count) load(st);
      if (++cj == gw) {
        finish_pass(cq);
        cj = 0;
        ++cq;
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[e] = 0.f;
      }
    }
  }
}

} // namespace pagoda::cuda::fp8mma
