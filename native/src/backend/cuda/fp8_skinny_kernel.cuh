// The FP8 decode GEMM kernel fp8_skinny_kernel (design: fp8_skinny_gemm.cu), written over a few
// primitives its includer provides, so the same source runs on the GPU (fp8_skinny_gemm.cu) and in
// a host emulation that checks its indexing without a GPU (tests/cuda/fp8_skinny_emulation_test.cpp).
// Expected from the includer:
//   FP8S_DEVICE                        helper function qualifiers
//   FP8S_KERNEL(threads, min_blocks)   the kernel's return type and launch bounds
//   FP8S_DYNAMIC_SMEM(name)            declares the dynamic shared memory as unsigned char name[]
//   FP8S_SHARED                        a per-CTA variable
//   threadIdx, blockIdx, gridDim, __syncthreads, __threadfence, atomicAdd, __ldcg, __byte_perm,
//   pdl_wait, pdl_launch_dependents, mma_bf16_16816 (mma.cuh's signature),
//   fp8s_cp_async_16(void* dst_shared, const void* src, bool valid) (16 bytes, zero-filled when
//   !valid), cp_async_commit(), cp_async_wait<N>(), and cuda_bf16.h (host-capable).
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/quantized_weight.h"

namespace pagoda::cuda::fp8skinny {

using bf16 = __nv_bfloat16;

constexpr int kWarps = 8; // a CTA: 256 threads
constexpr int kThreads = kWarps * 32;
constexpr int kMaxM = 256;
constexpr int kMaxSplits = 16;
// The workspace starts with one split counter per (row block, token block) at a fixed size, so no
// weight's partials ever land on the counters; the partials follow.
constexpr size_t kCounterBytes = 64 * 1024;
constexpr int kMaxCounters = static_cast<int>(kCounterBytes / sizeof(int));

// A CTA tile: RT x 16 weight rows and NT x 8 tokens a warp; warps WR along the weight rows, WM
// along the tokens, WK along k (each takes every WK-th 32-wide k unit of a chunk; the WK partial
// sums meet in shared memory); KC k columns a pipeline stage, STAGES stages in flight (cp.async).
template <int RT_, int NT_, int WR_, int WM_, int WK_, int KC_, int STAGES_, int MIN_BLOCKS_> struct Cfg {
  static constexpr int RT = RT_, NT = NT_, WR = WR_, WM = WM_, WK = WK_, KC = KC_, STAGES = STAGES_;
  static constexpr int kMinBlocks = MIN_BLOCKS_;
  static constexpr int kRows = 16 * RT * WR;  // weight rows a CTA
  static constexpr int kTokens = 8 * NT * WM; // tokens a CTA
  static constexpr int kUnits = KC / 32;      // 32-wide k units a chunk
  static constexpr int kWStage = kRows * KC;  // weight bytes a stage (e4m3)
  static constexpr int kXStage = kTokens * KC * 2;
  static constexpr int kPipeBytes = STAGES * (kWStage + kXStage);
  static constexpr int kRedStride = kRows + 4; // floats a token in the reduction (conflict-free stores)
  static constexpr int kRedBytes = WK * kTokens * kRedStride * 4;
  static constexpr int kSmemBytes = kPipeBytes > kRedBytes ? kPipeBytes : kRedBytes;
  static_assert(WR * WM * WK == kWarps, "8 warps a CTA");
  static_assert(KC % 64 == 0 && kUnits % WK == 0, "a chunk's units split evenly among the k warps");
};

struct Args {
  const bf16* x; // [m][k], already e4m3(x / s) * s for W8A8 layers
  bf16* y;       // [m][ldy]
  int ldy, m;
  int splits, chunks_per_split;
  float* partials; // [splits][m][n] f32 when splits > 1
  int* counters;   // [token blocks x row blocks], zero between calls (the last CTA resets its own)
};

// Shared-memory swizzles (16-byte piece index p of a row): a lane reads 8 bytes of weight rows
// g = 0..7 at byte 32 u + 8 t of a chunk, and 16 bytes of token g's x at element 32 u + 8 t. The
// weight swizzle puts rows 0..3 (one half-warp's 64-bit loads) on different banks, the x swizzle
// rows g and g + 1 (a quarter-warp's 128-bit loads).
template <int KC> FP8S_DEVICE int w_piece(int row, int p) {
  return KC >= 128 ? p ^ ((row & 3) << 1) : p ^ (((row >> 1) & 1) << 1);
}
FP8S_DEVICE int x_piece(int token, int p) { return p ^ ((token & 1) << 2); }

// The mma A fragment (rows g and g + 8, 16 k) of one k16 step from 4 e4m3 bytes of each row (k
// 8t + 4s + 0..3 of a unit): slot "2t, 2t+1" takes bytes 0, 1 and slot "2t+8, 2t+9" bytes 2, 3,
// the same k the x fragment puts in those slots (so the dot product is unchanged).
FP8S_DEVICE void a_fragment(uint32_t rg, uint32_t r8, uint32_t (&a)[4]) {
  const uint32_t w0 = __byte_perm(rg, r8, 0x5140), w1 = __byte_perm(rg, r8, 0x7362);
  a[0] = e4m3_even(w0);
  a[1] = e4m3_odd(w0);
  a[2] = e4m3_even(w1);
  a[3] = e4m3_odd(w1);
}

// grid: x token blocks (fastest: the blocks of one weight tile run together, the repeats of its
// bytes come from L2), y row blocks, z k splits.
template <typename C>
FP8S_KERNEL(kThreads, C::kMinBlocks) fp8_skinny_kernel(const QuantizedWeight w, const Args a) {
  FP8S_DYNAMIC_SMEM(smem);
  pdl_launch_dependents();
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) & 31;
  const int g = lane >> 2, t = lane & 3;
  const int wk = warp % C::WK, wm = (warp / C::WK) % C::WM, wr = warp / (C::WK * C::WM);
  const int n = w.n, k = w.k, m = a.m;
  const int tok0 = static_cast<int>(blockIdx.x) * C::kTokens, row0 = static_cast<int>(blockIdx.y) * C::kRows;
  const int split = static_cast<int>(blockIdx.z), splits = a.splits;
  const int chunks = (k + C::KC - 1) / C::KC;
  const int c0 = split * a.chunks_per_split;
  const int c1 = min(chunks, c0 + a.chunks_per_split);
  const int count = c1 > c0 ? c1 - c0 : 0;
  const uint8_t* wq = static_cast<const uint8_t*>(w.packed);

  unsigned char* const w_stage0 = smem;
  unsigned char* const x_stage0 = smem + C::STAGES * C::kWStage;
  // Pieces past k, past n or past m are zero-filled (their products are 0 and never stored).
  auto load_w = [&](int chunk, int stage) {
    unsigned char* dst = w_stage0 + stage * C::kWStage;
    constexpr int kPieces = C::KC / 16;
    for (int i = static_cast<int>(threadIdx.x); i < C::kRows * kPieces; i += kThreads) {
      const int row = i / kPieces, p = i - row * kPieces;
      const int gr = row0 + row, kk = chunk * C::KC + p * 16;
      const bool valid = gr < n && kk < k;
      fp8s_cp_async_16(dst + row * C::KC + w_piece<C::KC>(row, p) * 16,
                       valid ? wq + static_cast<int64_t>(gr) * k + kk : wq, valid);
    }
  };
  auto load_x = [&](int chunk, int stage) {
    unsigned char* dst = x_stage0 + stage * C::kXStage;
    constexpr int kPieces = C::KC / 8;
    for (int i = static_cast<int>(threadIdx.x); i < C::kTokens * kPieces; i += kThreads) {
      const int tok = i / kPieces, p = i - tok * kPieces;
      const int gt = tok0 + tok, kk = chunk * C::KC + p * 8;
      const bool valid = gt < m && kk < k;
      fp8s_cp_async_16(dst + tok * C::KC * 2 + x_piece(tok, p) * 16, valid ? a.x + static_cast<int64_t>(gt) * k + kk : a.x,
                       valid);
    }
  };

  float acc[C::RT][C::NT][4];
#pragma unroll
  for (int i = 0; i < C::RT; ++i)
#pragma unroll
    for (int j = 0; j < C::NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  // Prologue: the first stages' weights depend on no kernel and are issued before the PDL wait;
  // x after it. Stage s's cp.async group holds its x (group 0 also every prologue weight).
#pragma unroll
  for (int s = 0; s < C::STAGES - 1; ++s)
    if (s < count) load_w(c0 + s, s);
  pdl_wait();
#pragma unroll
  for (int s = 0; s < C::STAGES - 1; ++s) {
    if (s < count) load_x(c0 + s, s);
    cp_async_commit();
  }

  for (int i = 0; i < count; ++i) {
    cp_async_wait<C::STAGES - 2>();
    __syncthreads(); // chunk i is in shared memory for all, and every warp is done with chunk i - 1's stage
    {
      const int next = i + C::STAGES - 1;
      if (next < count) {
        load_w(c0 + next, next % C::STAGES);
        load_x(c0 + next, next % C::STAGES);
      }
      cp_async_commit();
    }
    const int stage = i % C::STAGES;
    const unsigned char* sw = w_stage0 + stage * C::kWStage;
    const unsigned char* sx = x_stage0 + stage * C::kXStage;
#pragma unroll
    for (int uu = 0; uu < C::kUnits / C::WK; ++uu) {
      const int u = uu * C::WK + wk;
      uint32_t af[C::RT][2][4]; // [row tile][k16 step][fragment register]
#pragma unroll
      for (int rt = 0; rt < C::RT; ++rt) {
        const int row = (wr * C::RT + rt) * 16 + g; // row + 8 has the same swizzle
        const int off = w_piece<C::KC>(row, 2 * u + (t >> 1)) * 16 + 8 * (t & 1);
        const uint2 rg = *reinterpret_cast<const uint2*>(sw + row * C::KC + off);
        const uint2 r8 = *reinterpret_cast<const uint2*>(sw + (row + 8) * C::KC + off);
        a_fragment(rg.x, r8.x, af[rt][0]);
        a_fragment(rg.y, r8.y, af[rt][1]);
      }
#pragma unroll
      for (int nt = 0; nt < C::NT; ++nt) {
        const int tok = (wm * C::NT + nt) * 8 + g;
        const uint4 xv = *reinterpret_cast<const uint4*>(sx + tok * C::KC * 2 + x_piece(tok, 4 * u + t) * 16);
#pragma unroll
        for (int rt = 0; rt < C::RT; ++rt) {
          mma_bf16_16816(acc[rt][nt], af[rt][0][0], af[rt][0][1], af[rt][0][2], af[rt][0][3], xv.x, xv.y);
          mma_bf16_16816(acc[rt][nt], af[rt][1][0], af[rt][1][1], af[rt][1][2], af[rt][1][3], xv.z, xv.w);
        }
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads(); // the pipeline's shared memory becomes the reduction's

  // Accumulator element e: weight row g (+8 for e >= 2), token 2t (+1 for odd e). The WK partial
  // sums are added in a fixed order, times the row's scale, into y (or this split's partials).
  float* red = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int rt = 0; rt < C::RT; ++rt)
#pragma unroll
    for (int nt = 0; nt < C::NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = (wr * C::RT + rt) * 16 + g + 8 * (e >> 1), tok = (wm * C::NT + nt) * 8 + 2 * t + (e & 1);
        red[(wk * C::kTokens + tok) * C::kRedStride + row] = acc[rt][nt][e];
      }
  __syncthreads();
  const float* scales = static_cast<const float*>(w.scales);
  const int live_tokens = min(C::kTokens, m - tok0);
  for (int i = static_cast<int>(threadIdx.x); i < live_tokens * C::kRows; i += kThreads) {
    const int tok = i / C::kRows, row = i - tok * C::kRows;
    const int gr = row0 + row, gt = tok0 + tok;
    if (gr >= n) continue;
    float s = 0.f;
#pragma unroll
    for (int p = 0; p < C::WK; ++p) s += red[(p * C::kTokens + tok) * C::kRedStride + row];
    s *= scales[static_cast<int64_t>(gr >> w.scale_index.row_shift) * w.scale_index.row_stride];
    if (splits == 1) a.y[static_cast<int64_t>(gt) * a.ldy + gr] = __float2bfloat16(s);
    else a.partials[(static_cast<int64_t>(split) * m + gt) * n + gr] = s;
  }
  if (splits == 1) return;
  FP8S_SHARED bool last;
  const int counter = static_cast<int>(blockIdx.y) * static_cast<int>(gridDim.x) + static_cast<int>(blockIdx.x);
  __threadfence(); // this CTA's partials are visible before its arrival is counted
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&a.counters[counter], 1) == splits - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  for (int i = static_cast<int>(threadIdx.x); i < live_tokens * C::kRows; i += kThreads) {
    const int tok = i / C::kRows, row = i - tok * C::kRows;
    const int gr = row0 + row, gt = tok0 + tok;
    if (gr >= n) continue;
    float s = 0.f;
    for (int p = 0; p < splits; ++p) s += __ldcg(a.partials + (static_cast<int64_t>(p) * m + gt) * n + gr);
    a.y[static_cast<int64_t>(gt) * a.ldy + gr] = __float2bfloat16(s);
  }
  if (threadIdx.x == 0) a.counters[counter] = 0; // ready for the next call (graphs replay this)
}

// The instantiations (index = what the bench and the plan call a config), launch bounds from the
// registers each needs (ptxas -v, sm_90a: 64, 60, 72, 98; no spills). A 128 x 128 tile (64
// accumulators a lane) spilled at the 128 registers two CTAs an SM allow, so m > 64 runs 64-token
// blocks of config 3 side by side.
using Cfg0 = Cfg<1, 1, 2, 1, 4, 256, 3, 4>; // 32 rows x 8 tokens, k split 4 ways in a CTA
using Cfg1 = Cfg<1, 2, 2, 1, 4, 256, 3, 4>; // 32 x 16
using Cfg2 = Cfg<1, 4, 4, 1, 2, 128, 4, 3>; // 64 x 32
using Cfg3 = Cfg<2, 4, 4, 2, 1, 128, 3, 2>; // 128 x 64
constexpr int kConfigs = 4;

struct CfgInfo {
  int rows, tokens, kc, smem;
};
inline CfgInfo cfg_info(int c) {
  switch (c) {
  case 0: return {Cfg0::kRows, Cfg0::kTokens, Cfg0::KC, Cfg0::kSmemBytes};
  case 1: return {Cfg1::kRows, Cfg1::kTokens, Cfg1::KC, Cfg1::kSmemBytes};
  case 2: return {Cfg2::kRows, Cfg2::kTokens, Cfg2::KC, Cfg2::kSmemBytes};
  default: return {Cfg3::kRows, Cfg3::kTokens, Cfg3::KC, Cfg3::kSmemBytes};
  }
}
using KernelFn = decltype(&fp8_skinny_kernel<Cfg0>);
inline KernelFn kernel_of(int c) {
  switch (c) {
  case 0: return &fp8_skinny_kernel<Cfg0>;
  case 1: return &fp8_skinny_kernel<Cfg1>;
  case 2: return &fp8_skinny_kernel<Cfg2>;
  default: return &fp8_skinny_kernel<Cfg3>;
  }
}
// The default config for m tokens: tiles with more weight rows as m grows, so x (re-read from L2
// by every row block) stays near the weight's bytes.
inline int default_config(int m) { return m <= 8 ? 0 : m <= 16 ? 1 : m <= 32 ? 2 : 3; }

// Plan of a call: the grid and the k splits. resident_ctas: CTAs of the config the GPU holds at
// once (occupancy x SMs, asked at load). Splits only where the tiles leave most slots idle, at
// least 2 chunks a split, chunks_per_split chosen so that no split is empty.
struct Plan {
  int config, token_blocks, row_blocks, splits, chunks_per_split;
};
inline Plan make_plan(int n, int k, int m, int config, int resident_ctas, int splits_override) {
  const CfgInfo ci = cfg_info(config);
  Plan p{};
  p.config = config;
  p.token_blocks = (m + ci.tokens - 1) / ci.tokens;
  p.row_blocks = (n + ci.rows - 1) / ci.rows;
  const int chunks = (k + ci.kc - 1) / ci.kc;
  const int ctas = p.token_blocks * p.row_blocks;
  int s = splits_override > 0 ? splits_override : resident_ctas / (ctas > 0 ? ctas : 1);
  const int most = splits_override > 0 ? chunks : chunks / 2;
  s = s < 1 ? 1 : s;
  s = s > most ? (most < 1 ? 1 : most) : s;
  s = s > kMaxSplits ? kMaxSplits : s;
  if (ctas > kMaxCounters) s = 1;
  p.chunks_per_split = (chunks + s - 1) / s;
  p.splits = (chunks + p.chunks_per_split - 1) / p.chunks_per_split;
  return p;
}
// Workspace: the counters, then [splits][m][n] f32 partials (256-byte aligned).
inline size_t workspace_bytes(const Plan& p, int n, int m) {
  return p.splits > 1 ? kCounterBytes + (static_cast<size_t>(p.splits) * m * n * sizeof(float) + 255) / 256 * 256
                      : kCounterBytes;
}

} // namespace pagoda::cuda::fp8skinny
