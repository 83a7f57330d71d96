// quant_gemm's decode kernel for m <= 8 on fewer instructions a weight (the default; PAGODA_QUANT_GEMM_LEAN=0 off):
// the same weight layouts, fragments, per-group f32 partials and summation order, so its output is bit-identical.
//
// What differs from quant_gemm_kernel<NT = 1> is only how the loop gets there:
//   - a warp's groups stream through a ring of D stages (weights, scales, zero points) indexed by
//     compile-time constants (the loop is unrolled by D), so no `cur = next` register copies, and
//     its x fragments through a ring of two (D is even, so a group's x slot is its parity);
//   - every address is a pointer bumped by a constant stride per group (no int64 multiply, no
//     clamp of the group index), and a stage is only loaded for a live group (a warp-uniform
//     branch), never as a zero-select;
//   - x rows past m read row 0 instead of a predicated zero: an mma column only feeds its own
//     output column, and columns past m are never stored;
//   - scales stay in registers for the whole call where they do not change with the group (fp8
//     per-channel), and the zero points are a constant where the weight has none (GPTQ sym);
//   - e4m3 pairs come from one prmt that sign-extends each byte to 16 bits (the sign lands on bit
//     11 and on bit 15 after the 4-bit shift), then one mask and the exact multiply by 2^120: the
//     same bf16 bits as e4m3_even / e4m3_odd in four instructions instead of five.
// PAGODA_INT4_FOLD=1 (default off) takes int4 weights through the kernel's FOLD variants instead: no HSUB2 a pair,
// the zero point subtracted by a second mma on x (not bit-identical; quant_gemm_lean_kernel.cuh, NOTES.md).
#include "backend/cuda/quant_gemm_lean.h"

#include <cuda_fp16.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quant_kernels.h"
#include "error.h"

#define LEAN_DEVICE __device__ __forceinline__
#define LEAN_KERNEL(threads, min_blocks) __global__ void __launch_bounds__(threads, min_blocks)
#define LEAN_SHARED_PARTIAL(name, W) __shared__ float name[W][8][16 + 4]
#include "backend/cuda/quant_gemm_lean_kernel.cuh"

namespace pagoda::cuda {

// On by default (session 9: batch-1 GPTQ 2.023 -> 1.640x the copy floor, AWQ 2.023 -> 1.743, FP8 1.736 -> 1.408,
// bit-identical to quant_gemm once x stopped being read through ld.global.nc); PAGODA_QUANT_GEMM_LEAN=0 turns it off.
bool quant_gemm_lean_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_QUANT_GEMM_LEAN");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return on;
}

bool quant_gemm_lean_deep_default() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_QUANT_GEMM_LEAN_DEEP");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

// Off by default (wt/int4v2, not yet measured on a GPU): PAGODA_INT4_FOLD=1 runs int4 weights through the FOLD
// variants of the kernel (no HSUB2 a pair; see quant_gemm_lean_kernel.cuh). Off = the kernels and bits of before.
bool int4_fold_default() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_INT4_FOLD");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

// PAGODA_INT4_FOLD_WARPS=1|2|4|8: the fold's warps a CTA for every shape (unset: quant_gemm's rule), read once.
int int4_fold_warps_default() {
  static const int warps = [] {
    const char* v = std::getenv("PAGODA_INT4_FOLD_WARPS");
    const int n = v != nullptr ? std::atoi(v) : 0;
    return n == 1 || n == 2 || n == 4 || n == 8 ? n : 0;
  }();
  return warps;
}

// PAGODA_INT4_FOLD_TILES=2: the fold's CTAs take two 16-row tiles (n a multiple of 32), read once.
int int4_fold_tiles_default() {
  static const int tiles = [] {
    const char* v = std::getenv("PAGODA_INT4_FOLD_TILES");
    return v != nullptr && std::strcmp(v, "2") == 0 ? 2 : 1;
  }();
  return tiles;
}

void launch_quant_gemm_lean(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta,
                            cudaStream_t stream, int deep, int fold, int warps, int tiles) {
  const bool d = deep < 0 ? quant_gemm_lean_deep_default() : deep != 0;
  const bool f = w.format == QuantFormat::kInt4 && (fold < 0 ? int4_fold_default() : fold != 0);
  // quant_gemm's rule for one n8 tile (it fixes the split of k, so the summation order): eight warps
  // while the CTAs fit one wave of 16 warps an SM, else four. warps forces 4 or 8, and with the fold also 1 or 2
  // (the int4fold bench; PAGODA_INT4_FOLD_WARPS for the engine).
  if (warps == 0 && f) warps = int4_fold_warps_default();
  if (warps == 0) warps = int64_t(w.n / 16) * 8 <= int64_t(device_sm_count()) * 16 ? 8 : 4;
  if ((warps == 1 || warps == 2) && !f) throw Error("quant_gemm_lean: 1 or 2 warps a CTA need the int4 fold");
  if (tiles == 0) tiles = f && w.n % 32 == 0 ? int4_fold_tiles_default() : 1;
  if (tiles == 2 && (!f || w.n % 32 != 0))
    throw Error("quant_gemm_lean: two row tiles a CTA need the int4 fold and n a multiple of 32");
  if (tiles != 1 && tiles != 2) throw Error("quant_gemm_lean: tiles " + std::to_string(tiles) + " (1 or 2)");
  lean::LeanKernel kernel = nullptr;
  switch (warps) {
  case 1: kernel = lean::lean_fold_kernel_for<1>(w, d, tiles); break;
  case 2: kernel = lean::lean_fold_kernel_for<2>(w, d, tiles); break;
  case 4: kernel = f ? lean::lean_fold_kernel_for<4>(w, d, tiles) : lean::lean_kernel_for<4>(w, d); break;
  case 8: kernel = f ? lean::lean_fold_kernel_for<8>(w, d, tiles) : lean::lean_kernel_for<8>(w, d); break;
  default: throw Error("quant_gemm_lean: warps " + std::to_string(warps) + " (1, 2, 4 or 8)");
  }
  launch_pdl("quant_gemm_lean_kernel", kernel, dim3(w.n / (16 * tiles)), dim3(warps * 32), 0, stream, x, w, y, ldy, m,
             beta);
}

} // namespace pagoda::cuda
