// GEMM for few rows (decode): y[m, n] = x[m, k] · w[n, k]^T with m <= 16, on tensor cores.
// Reading the weight once at full bandwidth is the whole cost, so one kernel streams it for
// every m: mma.sync m16n8k16 (bf16 -> f32) with the weight rows as the M side and the m input
// rows as N (one n8 tile for m <= 8, two for m <= 16). A dot product does not care about the
// order of k as long as both operands use the same one, so each lane loads 16 contiguous bytes
// of a weight row and of an input row and uses them as its fragments of two k-steps: operands
// come straight from coalesced 16-byte loads, no shared memory. A CTA owns 16 weight rows;
// its 8 warps split k, each keeping a group of chunks in flight while it multiplies the
// previous one, and the partial tiles meet in shared memory for the epilogue. Launched with
// PDL: the first weight loads depend on nothing, so they are issued before waiting for the
// kernel that writes x. Output bf16 or f32, optionally y = result + beta * y.
#include "backend/cuda/kernels.h"

#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/qkv_rope.cuh"
#include "backend/cuda/split_norm.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kWarps = 8;      // warps of a CTA, each over its own slice of k
constexpr int kChunk = 32;     // k elements per warp-wide load step: 4 lanes x 8 bf16 per row

__device__ __forceinline__ void store_out(bf16* y, float v, float beta) {
  if (beta != 0.f) v += beta * __bfloat162float(*y);
  *y = __float2bfloat16(v);
}
__device__ __forceinline__ void store_out(float* y, float v, float beta) {
  if (beta != 0.f) v += beta * *y;
  *y = v;
}

} // namespace

// NT: n8 tiles of input rows (1 for m <= 8, 2 for m <= 16); U: chunks per load group.
//
// Lane (g = lane / 4, t = lane % 4) loads 8 bf16 at k offset 8t of a 32-wide chunk from weight
// rows g and g+8 and from input row g; elements 0-3 are its fragment of k-step 0 (positions
// 2t, 2t+1 and 2t+8, 2t+9) and elements 4-7 that of k-step 1. A and B agree on the order,
// so the sum is the plain dot product over the chunk.
//
// Group j of warp v is chunks [(8j + v) U, (8j + v + 1) U): the CTA's 8 warps read one
// contiguous 8 x U x 64 bytes of each of its 16 rows at a time (2 KB at U 4); measured 1-4%
// faster than giving each warp a contiguous eighth of k.
// kSilu (gate_up with its rows interleaved by 8, see skinny_gemm_silu): the CTA's rows 0-7 are
// gate rows and 8-15 the up rows of the same 8 outputs, so the epilogue writes
// silu(gate) * up, n / 2 outputs a row, and the SiLU·mul kernel after the GEMM is not needed.
// kRope (the fused qkv weight, see qkv_rope.cuh): the CTA takes its q / k rows in RoPE pairs, and the epilogue
// rotates them and writes k and v to the KV cache, so rope_neox_kv_write after the GEMM is not needed.
// norm (SplitNorm, m <= 8): as a consumer, every output of input row i times row i's 1 / rms (before the SiLU and
// RoPE, which take normalized inputs); as a producer (the plain epilogue, bf16 out, beta 0), the residual add, the
// scaled row and the tile's sums instead of y.
template <int NT, int U, typename Out, bool kSilu = false, bool kRope = false>
__global__ void __launch_bounds__(kWarps * 32, 2)
    skinny_gemm_kernel(const bf16* x, const bf16* w, Out* __restrict__ y, int m, int n,
                       int k, float beta, const QkvRope rope, const SplitNorm norm) {
  constexpr int kRows = 16;            // weight rows of this CTA
  constexpr int kStride = kRows + 4;   // shared row pitch: the 4 t-lanes' stores land on distinct banks
  __shared__ float partial[kWarps][16][kStride];
  __shared__ SplitNormPartials norm_part;
  // A split norm serves m <= 8 with bf16 out only: compiled out elsewhere (NT 2 spilled with it at 128 registers).
  constexpr bool kNorm = NT == 1 && std::is_same_v<Out, bf16>;
  constexpr bool kProduces = kNorm && !kSilu && !kRope;
  auto norm_scale = [&](int i) { return kNorm ? split_norm_scale(norm, norm_part, i) : 1.f; };

  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * kRows;
  const int koff = 8 * t;
  const int chunks = (k + kChunk - 1) / kChunk;
  // Groups of this warp, and the first chunk of group j.
  const int groups = warp * U < chunks ? (chunks - warp * U + kWarps * U - 1) / (kWarps * U) : 0;
  auto group_chunk = [&](int j) { return (j * kWarps + warp) * U; };

  // Rows past n read row n-1 (valid memory) and are never stored.
  const QkvTile tile = kRope ? qkv_tile(blockIdx.x, rope) : QkvTile{{row0, row0 + 8}, false};
  const bf16* wrow[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) wrow[h] = w + static_cast<int64_t>(min(tile.base[h] + g, n - 1)) * k + koff;

  // Chunks past this warp's share and lanes past k (the k % 32 tail) read zeros, which add
  // nothing: every load is predicated, nothing branches, so all of a group's loads issue at once.
  auto load_w = [&](uint4 (&dst)[U][2], int c0) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + u;
      const bool valid = c < chunks && c * kChunk + koff < k;
#pragma unroll
      for (int h = 0; h < 2; ++h)
        dst[u][h] = valid ? __ldcs(reinterpret_cast<const uint4*>(wrow[h] + c * kChunk)) // read once
                          : make_uint4(0, 0, 0, 0);
    }
  };

  uint4 cur[U][2];
  if (groups > 0) load_w(cur, group_chunk(0)); // before the wait: the weights depend on no kernel
  QkvRopeLane rope_lane; // step inputs only, so also before the wait, behind the first weight loads
  if constexpr (kRope) rope_lane = qkv_rope_angle(rope, tile, threadIdx.x, m);
  pdl_wait();
  SplitNormOperands norm_ops;
  if constexpr (kProduces) norm_ops = split_norm_preload(norm, m, threadIdx.x, row0);

  float acc[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[nt][e] = 0.f;

  const bf16* xrow[NT];
  bool xlive[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    xlive[nt] = nt * 8 + g < m;
    xrow[nt] = x + static_cast<int64_t>(xlive[nt] ? nt * 8 + g : 0) * k + koff;
  }

  for (int j = 0; j < groups; ++j) {
    const int c0 = group_chunk(j);
    uint4 next[U][2];
    const bool more = j + 1 < groups;
    if (more) load_w(next, group_chunk(j + 1)); // in flight while this group is multiplied
    // All of the group's x fragments at once (L1 / L2 hits), so their latency is paid once.
    uint4 b[U][NT];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + u;
      const bool valid = c < chunks && c * kChunk + koff < k;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
        b[u][nt] = xlive[nt] && valid ? *reinterpret_cast<const uint4*>(xrow[nt] + c * kChunk) : make_uint4(0, 0, 0, 0);
    }
    if (kNorm && j == 0) split_norm_gather(norm, m, threadIdx.x, kWarps * 32, norm_part);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const uint4 lo = cur[u][0], hi = cur[u][1]; // rows g and g+8
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        mma_bf16_16816(acc[nt], lo.x, hi.x, lo.y, hi.y, b[u][nt].x, b[u][nt].y); // k-step 0
        mma_bf16_16816(acc[nt], lo.z, hi.z, lo.w, hi.w, b[u][nt].z, b[u][nt].w); // k-step 1
      }
    }
    if (more) {
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int h = 0; h < 2; ++h) cur[u][h] = next[u][h];
    }
  }

  // Accumulator element e of lane (g, t): weight row g (+8 for e >= 2), input row 2t (+1 for
  // odd e) of the n8 tile.
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) partial[warp][nt * 8 + 2 * t + (e & 1)][g + (e >> 1) * 8] = acc[nt][e];
  if (kNorm && groups == 0) split_norm_gather(norm, m, threadIdx.x, kWarps * 32, norm_part);
  __syncthreads();
  if constexpr (kSilu) {
    // Bit for bit what skinny_gemm + silu_mul compute: gate and up rounded to bf16 as the GEMM
    // stores them, then silu_mul's float32 arithmetic and one rounding.
    constexpr int kHalf = kRows / 2;
    for (int idx = threadIdx.x; idx < m * kHalf; idx += kWarps * 32) {
      const int i = idx / kHalf, r = idx % kHalf;
      float gs = 0.f, us = 0.f;
#pragma unroll
      for (int v = 0; v < kWarps; ++v) {
        gs += partial[v][i][r];
        us += partial[v][i][r + kHalf];
      }
      const float scale = norm_scale(i);
      gs *= scale;
      us *= scale;
      const float g = __bfloat162float(__float2bfloat16(gs)), u = __bfloat162float(__float2bfloat16(us));
      y[static_cast<int64_t>(i) * (n / 2) + row0 / 2 + r] = __float2bfloat16(g / (1.f + __expf(-g)) * u);
    }
    return;
  }
  if constexpr (kRope) {
    static_assert(NT == 1 && std::is_same_v<Out, bf16>, "qkv + RoPE: bf16 out, m <= 8 (m * 8 <= the CTA's threads)");
    qkv_rope_epilogue(rope, tile, m, y, n, rope_lane, threadIdx.x, kWarps * 32, [&](int i, int r) {
      float s = 0.f;
#pragma unroll
      for (int v = 0; v < kWarps; ++v) s += partial[v][i][r];
      return s * norm_scale(i);
    });
  } else {
    for (int idx = threadIdx.x; idx < m * kRows; idx += kWarps * 32) {
      const int i = idx / kRows, r = idx % kRows;
      if (row0 + r >= n) continue;
      float s = 0.f;
#pragma unroll
      for (int v = 0; v < kWarps; ++v) s += partial[v][i][r];
      s *= norm_scale(i);
      if (kProduces && norm.residual != nullptr)
        norm_part[i][r] = split_norm_add(norm, i, row0 + r, s, norm_ops); // idx == tid
      else
        store_out(y + static_cast<int64_t>(i) * n + row0 + r, s, beta);
    }
    if (kProduces && norm.residual != nullptr) {
      __syncthreads();
      split_norm_store_sums(norm, m, threadIdx.x, blockIdx.x, norm_part);
    }
  }
}

namespace {

template <int NT, int U, typename Out, bool kSilu = false, bool kRope = false>
void launch(const bf16* x, const bf16* w, Out* y, int m, int n, int k, float beta, cudaStream_t stream,
            const QkvRope& rope = QkvRope{}, const SplitNorm& norm = SplitNorm{}) {
  launch_pdl("skinny_gemm_kernel", skinny_gemm_kernel<NT, U, Out, kSilu, kRope>, dim3((n + 15) / 16),
             dim3(kWarps * 32), 0, stream, x, w, y, m, n, k, beta, rope, norm);
}

// One n8 tile of input rows up to m 8, two up to 16 (x reads, registers and MMAs grow with it).
template <typename Out>
void dispatch(const bf16* x, const bf16* w, Out* y, int m, int n, int k, float beta, cudaStream_t stream) {
  if (m <= 8) return launch<1, 4>(x, w, y, m, n, k, beta, stream);
  return launch<2, 4>(x, w, y, m, n, k, beta, stream);
}

} // namespace

bool skinny_gemm_supports(int m, int k, const void* x, const void* w) {
  return m >= 1 && m <= kSkinnyGemmMaxRows && k % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

void skinny_gemm(const bf16* x, const bf16* w, void* y, bool out_f32, int m, int n, int k, float beta,
                 cudaStream_t stream) {
  if (!skinny_gemm_supports(m, k, x, w))
    throw Error("skinny_gemm: needs 1 <= m <= " + std::to_string(kSkinnyGemmMaxRows) +
                ", k a multiple of 8 and 16-byte aligned x and w (m " + std::to_string(m) + ", k " +
                std::to_string(k) + ")");
  if (n == 0) return;
  if (out_f32) dispatch(x, w, static_cast<float*>(y), m, n, k, beta, stream);
  else dispatch(x, w, static_cast<bf16*>(y), m, n, k, beta, stream);
}

void skinny_gemm_silu(const bf16* x, const bf16* w_interleaved, bf16* out, int m, int intermediate, int k,
                      cudaStream_t stream, const SplitNorm& norm) {
  if (!skinny_gemm_supports(m, k, x, w_interleaved) || intermediate % 8 != 0)
    throw Error("skinny_gemm_silu: needs 1 <= m <= " + std::to_string(kSkinnyGemmMaxRows) +
                ", k and the intermediate size multiples of 8, 16-byte aligned x and w (m " + std::to_string(m) +
                ", k " + std::to_string(k) + ", intermediate " + std::to_string(intermediate) + ")");
  if (intermediate == 0) return;
  const int n = 2 * intermediate;
  check_split_norm("skinny_gemm_silu", norm, m, k, false);
  if (m <= 8) launch<1, 4, bf16, true>(x, w_interleaved, out, m, n, k, 0.f, stream, QkvRope{}, norm);
  else launch<2, 4, bf16, true>(x, w_interleaved, out, m, n, k, 0.f, stream);
}

void skinny_gemm_qkv_rope(const bf16* x, const bf16* w, bf16* qkv, int m, int n, int k, const QkvRope& rope,
                          cudaStream_t stream, const SplitNorm& norm) {
  check_qkv_rope("skinny_gemm_qkv_rope", m, n, rope);
  if (!skinny_gemm_supports(m, k, x, w))
    throw Error("skinny_gemm_qkv_rope: needs k a multiple of 8 and 16-byte aligned x and w (k " + std::to_string(k) + ")");
  static_assert(kQkvRopeMaxRows <= 8, "one n8 tile of input rows");
  check_split_norm("skinny_gemm_qkv_rope", norm, m, k, false);
  launch<1, 4, bf16, false, true>(x, w, qkv, m, n, k, 0.f, stream, rope, norm);
}

void skinny_gemm_split_norm(const bf16* x, const bf16* w, bf16* y, int m, int n, int k, const SplitNorm& norm,
                            cudaStream_t stream) {
  if (!skinny_gemm_supports(m, k, x, w))
    throw Error("skinny_gemm_split_norm: needs k a multiple of 8 and 16-byte aligned x and w (k " + std::to_string(k) +
                ")");
  const bool producer = norm.residual != nullptr;
  check_split_norm("skinny_gemm_split_norm", norm, m, producer ? n : k, producer);
  if (n == 0) return;
  launch<1, 4, bf16>(x, w, y, m, n, k, 0.f, stream, QkvRope{}, norm);
}

} // namespace pagoda::cuda
