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
#include "backend/cuda/quant_gemm_lean.h"

#include <cuda_fp16.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>

#include "backend/cuda/bf16x2_bits.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quant_kernels.h"
#include "error.h"

#define LEAN_DEVICE __device__ __forceinline__
#define LEAN_KERNEL(threads, min_blocks) __global__ void __launch_bounds__(threads, min_blocks)
#define LEAN_SHARED_PARTIAL(name, W) __shared__ float name[W][8][16 + 4]
#define LEAN_SHARED_NORM(name, W) __shared__ SplitNormPartials name
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

namespace {

// PAGODA_QUANT_GEMM_LEAN_DEEP: 1 every launch deep, 0 none; unset (-1) the default of deep_by_default.
int quant_gemm_lean_deep_switch() {
  static const int mode = [] {
    const char* v = std::getenv("PAGODA_QUANT_GEMM_LEAN_DEEP");
    if (v == nullptr || *v == 0) return -1;
    return std::strcmp(v, "1") == 0 ? 1 : 0;
  }();
  return mode;
}

// Deep by default: the plain int4 g128 launches, not the gate_up + SiLU one and not fp8. Session 13's kernel
// timeline of a batch-1 GPTQ step on the H200 (bench/results/h200-kernel-trace-gptq-int4-b1-deep-1-f56a001.txt): four stages
// a warp cut qkv 6.01 -> 5.70 us, o_proj 3.82 -> 3.38 and down 11.00 -> 10.81 a layer, and made gate_up + SiLU
// 21.0 -> 25.8 (its 1792 CTAs run 3.4 waves of four an SM instead of 2.7 of five).
bool deep_by_default(const QuantizedWeight& w, bool silu) {
  const int mode = quant_gemm_lean_deep_switch();
  if (mode >= 0) return mode == 1;
  return !silu && w.format == QuantFormat::kInt4 && w.group_size == 128;
}

// quant_gemm's rule for one n8 tile (it fixes the split of k, so the summation order): eight warps
// while the CTAs fit one wave of 16 warps an SM, else four. PAGODA_QUANT_GEMM_LEAN_WARPS=4 or 8 forces one
// (a measurement switch: another split of k is another summation order, no longer quant_gemm's bits).
bool eight_warps(const QuantizedWeight& w) {
  static const int forced = [] {
    const char* v = std::getenv("PAGODA_QUANT_GEMM_LEAN_WARPS");
    return v == nullptr ? 0 : std::atoi(v);
  }();
  if (forced == 4 || forced == 8) return forced == 8;
  return int64_t(w.n / 16) * 8 <= int64_t(device_sm_count()) * 16;
}

// The int4 kernels prefer all of an SM's unified L1 / shared memory as shared memory, the split the decode attention
// beside them takes; the driver would size theirs from their own ~13 KB, and an SM changes its split only once it is
// empty, which likely kept PDL from starting one kernel's blocks beside the other's. Batch-1 GPTQ 1.2-1.4% faster on
// three H100s, AWQ 0.6%; the fp8 kernels ran 5.7% slower that way, so they keep the driver's choice (NOTES "Session
// 43"). PAGODA_INT4_GEMV_CARVEOUT=P (0-100) asks for P% instead, "driver" for the driver's (measurement switches).
int int4_carveout() {
  static const int percent = [] {
    const char* v = std::getenv("PAGODA_INT4_GEMV_CARVEOUT");
    if (v == nullptr || *v == 0) return 100;
    if (std::strcmp(v, "driver") == 0) return -1;
    char* end = nullptr;
    const long p = std::strtol(v, &end, 10);
    if (*end != 0 || p < 0 || p > 100) throw Error("PAGODA_INT4_GEMV_CARVEOUT: a percentage 0-100 or \"driver\"");
    return static_cast<int>(p);
  }();
  return percent;
}
void prefer_carveout(const QuantizedWeight& w, lean::LeanKernel kernel) {
  const int percent = int4_carveout();
  if (w.format != QuantFormat::kInt4 || percent < 0 || kernel == nullptr) return;
  static std::mutex mutex;
  static std::unordered_set<const void*> done; // the attribute is the kernel's: set once
  const std::lock_guard<std::mutex> lock(mutex);
  if (!done.insert(reinterpret_cast<const void*>(kernel)).second) return;
  PAGODA_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                         cudaFuncAttributePreferredSharedMemoryCarveout, percent));
}

// Only the int4 kernels consume a split norm (the lean kernel's kConsumes: the fp8 ones compile it out).
void check_consumer(const char* who, const SplitNorm& norm, const QuantizedWeight& w) {
  if (norm.sums_in != nullptr && w.format != QuantFormat::kInt4)
    throw Error(std::string(who) + ": only int4 weights consume a split norm (fp8 kernels compile it out)");
}

} // namespace

void launch_quant_gemm_lean(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta,
                            cudaStream_t stream, int deep, const SplitNorm& norm) {
  const bool producer = norm.residual != nullptr;
  check_split_norm("quant_gemm_lean", norm, m, producer ? w.n : w.k, producer);
  if (producer && (beta != 0.f || ldy != w.n)) throw Error("quant_gemm_lean: a split norm's producer writes no y");
  check_consumer("quant_gemm_lean", norm, w);
  const bool d = deep < 0 ? deep_by_default(w, false) : deep != 0;
  const bool eight = eight_warps(w);
  const lean::LeanKernel kernel = eight ? lean::lean_kernel_for<8>(w, d) : lean::lean_kernel_for<4>(w, d);
  prefer_carveout(w, kernel);
  launch_pdl("quant_gemm_lean_kernel", kernel, dim3(w.n / 16), dim3(eight ? 256 : 128), 0, stream, x, w, y, ldy, m,
             beta, QkvRope{}, norm);
}

bool quant_gemm_lean_qkv_rope_serves(const QuantizedWeight& w, int head_dim) {
  if (w.format == QuantFormat::kFp8) return true;
  return w.format == QuantFormat::kInt4 && w.perm == nullptr && qkv_rope_cluster(head_dim) != 0;
}

void quant_gemm_lean_qkv_rope(const bf16* x, const QuantizedWeight& w, bf16* qkv, int m, const QkvRope& rope,
                              cudaStream_t stream, int deep, const SplitNorm& norm) {
  check_qkv_rope("quant_gemm_lean_qkv_rope", m, w.n, rope);
  check_split_norm("quant_gemm_lean_qkv_rope", norm, m, w.k, false);
  const bool d = deep < 0 ? deep_by_default(w, false) : deep != 0;
  const bool eight = eight_warps(w);
  const int threads = eight ? 256 : 128;
  if (!quant_gemm_lean_qkv_rope_serves(w, rope.head_dim))
    throw Error("quant_gemm_lean_qkv_rope: fp8, or int4 with head_dim a multiple of 32 up to 128 and no act-order "
                "permutation (head_dim " + std::to_string(rope.head_dim) + ")");
  if (w.format == QuantFormat::kInt4) {
    // int4 tiles hold 16 consecutive rows: RoPE pairs meet across a cluster of a head's tiles (qkv_rope.cuh).
    const lean::LeanKernel kernel = eight ? lean::lean_kernel_for<8, false, false, false, true>(w, d)
                                          : lean::lean_kernel_for<4, false, false, false, true>(w, d);
    prefer_carveout(w, kernel);
    launch_pdl_cluster("quant_gemm_lean_kernel", kernel, dim3(w.n / 16), dim3(threads), 0, stream,
                       qkv_rope_cluster(rope.head_dim), x, w, qkv, w.n, m, 0.f, rope, norm);
    return;
  }
  check_consumer("quant_gemm_lean_qkv_rope", norm, w);
  const lean::LeanKernel kernel =
      eight ? lean::lean_kernel_for<8, false, false, true>(w, d) : lean::lean_kernel_for<4, false, false, true>(w, d);
  launch_pdl("quant_gemm_lean_kernel", kernel, dim3(w.n / 16), dim3(threads), 0, stream, x, w, qkv, w.n, m, 0.f,
             rope, norm);
}

int launch_quant_gemm_lean_silu(const bf16* x, const QuantizedWeight& w, void* out, int m, cudaStream_t stream,
                                int deep, bool staged, const SplitNorm& norm) {
  check_split_norm("quant_gemm_silu", norm, m, w.k, false);
  if (staged && norm.sums_in != nullptr) throw Error("quant_gemm_silu_fp8: no split norm with the float32 staging");
  check_consumer("quant_gemm_silu", norm, w);
  const bool d = deep < 0 ? deep_by_default(w, true) : deep != 0;
  const bool eight = eight_warps(w); // w.n counts gate and up rows, as the plain launch's
  lean::LeanKernel kernel = nullptr;
  if (staged) kernel = eight ? lean::lean_kernel_for<8, true, true>(w, d) : lean::lean_kernel_for<4, true, true>(w, d);
  else kernel = eight ? lean::lean_kernel_for<8, true>(w, d) : lean::lean_kernel_for<4, true>(w, d);
  if (kernel == nullptr)
    throw Error(staged ? "quant_gemm_silu_fp8: fp8 per-channel weights only"
                       : "quant_gemm_silu: int4 or fp8 per-channel weights only");
  const int ctas = w.n / 16;
  prefer_carveout(w, kernel);
  launch_pdl("quant_gemm_lean_kernel", kernel, dim3(ctas), dim3(eight ? 256 : 128), 0, stream, x, w,
             static_cast<bf16*>(out), w.n / 2, m, 0.f, QkvRope{}, norm);
  return ctas;
}

} // namespace pagoda::cuda
