// Host launchers of the kernels for quantized checkpoints (GPTQ / AWQ int4, fp8 e4m3): the
// weight-streaming GEMM, weight dequantization, fp8 quantization of activations and of bf16
// weights, and the fp8 KV cache write. Each checks its arguments and throws pagoda::Error.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/kernels.h"
#include "backend/cuda/quantized_weight.h"

namespace pagoda::cuda {

using bf16 = __nv_bfloat16;

// y[m, n] = x[m, k] · dequant(w)^T (+ beta · y), y bf16 with rows ldy apart (>= n: a part of
// a fused output). Streams the quantized weight once
// per 32 input rows on tensor cores (dequantized in registers to bf16, group scales applied
// to f32 partial sums): the decode path, near the weight-bytes floor for m <= 32; any m is
// served. An act-order weight (w.perm) first gathers x's columns into `workspace`
// (quant_gemm_workspace_bytes), else workspace may be null.
size_t quant_gemm_workspace_bytes(const QuantizedWeight& w, int m);
void quant_gemm(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, void* workspace,
                size_t workspace_bytes, cudaStream_t stream);

// quant_gemm's lean variant for m = 1..8 (quant_gemm_lean.cu): the same layouts, fragments and
// summation order, so the same bits, on fewer instructions a weight. quant_gemm takes it for m <= 8
// unless PAGODA_QUANT_GEMM_LEAN=0 (quant_gemm_lean_enabled, read once); quant_gemm_lean runs it
// whatever the switch says (tests, benchmarks) and throws for m > 8. deep (int4 g128, fp8): 1 streams four
// stages a warp at 128 registers, 0 two at 96 (the same bits either way); -1: PAGODA_QUANT_GEMM_LEAN_DEEP (read
// once: 1 deep, 0 not), unset deep for int4 g128 and not for fp8 or the gate_up + SiLU launch.
bool quant_gemm_lean_enabled();
// norm: one side of a split norm (kernels.h SplitNorm): a consumer (sums_in) or a producer (residual; beta 0, ldy
// w.n, y unwritten), or none.
void quant_gemm_lean(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream, int deep = -1, const SplitNorm& norm = SplitNorm{});

// quant_gemm_lean of the fused qkv weight (fp8 per channel or blocks; int4 without act-order where
// qkv_rope_cluster(head_dim) allows, in clusters of a head's tiles; m = 1..8), then rope_neox_kv_write, in one
// launch (kernels.h QkvRope): qkv[m, w.n] the rotated q and k and v, the cache the rotated k and v at each
// token's slot; the bits of the pair it replaces.
void quant_gemm_lean_qkv_rope(const bf16* x, const QuantizedWeight& w, bf16* qkv, int m, const QkvRope& rope,
                              cudaStream_t stream, int deep = -1, const SplitNorm& norm = SplitNorm{});
// Whether quant_gemm_lean_qkv_rope serves w at head_dim: fp8, or int4 without act-order where qkv_rope_cluster
// pairs the tiles.
bool quant_gemm_lean_qkv_rope_serves(const QuantizedWeight& w, int head_dim);

// gate_up and SiLU·mul in one launch of quant_gemm_lean's kernel (m = 1..8; int4 or fp8 per channel): w is a
// gate_up weight whose rows interleave_gate_up_rows reordered, out[m, w.n / 2] = silu(gate) * up, the bits of
// quant_gemm_lean on the un-interleaved weight followed by silu_mul (each of gate and up rounded to bf16 first).
// Act-order weights gather x into workspace as quant_gemm does. Throws for m > 8 or fp8 blocks.
void quant_gemm_silu(const bf16* x, const QuantizedWeight& w, bf16* out, int m, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream, int deep = -1, const SplitNorm& norm = SplitNorm{});
// The same for a W8A8 per-token down projection (fp8 per channel): out = silu(gate) * up fake-quantized per
// token, the bits of quant_gemm_lean + silu_mul(..., Fp8Fuse::kPerToken). Two launches: the GEMM writes the
// float32 products and per-CTA row maxima into staging (quant_gemm_silu_fp8_staging_bytes(w), 16-byte
// aligned), then silu_mul_fp8_finish quantizes on many blocks (the one-block silu_mul_fp8 was latency-bound).
size_t quant_gemm_silu_fp8_staging_bytes(const QuantizedWeight& w);
void quant_gemm_silu_fp8(const bf16* x, const QuantizedWeight& w, bf16* out, int m, void* staging,
                         size_t staging_bytes, cudaStream_t stream, int deep = -1);

// out[m, k] = x[r, perm[j]]: an act-order weight's input columns in its packed order (both GEMMs
// gather x so first). preload_gather_columns loads the kernel's code at load time, so its first
// launch never happens inside a CUDA graph capture.
void gather_columns(const bf16* x, const int32_t* perm, bf16* out, int m, int k, cudaStream_t stream);
void preload_gather_columns();
// The current device's SM count (asked once).
int device_sm_count();

// out[n, k] = dequant(w) in bf16, columns in the checkpoint's input order (act-order undone):
// for large m, where a bf16 GEMM on tensor cores beats streaming.
void dequantize_weight(const QuantizedWeight& w, bf16* out, cudaStream_t stream);
// The same in float32: exactly the checkpoint's dequantization (the float32 compute path).
void dequantize_weight(const QuantizedWeight& w, float* out, cudaStream_t stream);

// Dynamic fp8 activation quantization (what W8A8 checkpoints ask for): per row of x and per
// group of `group` consecutive columns (group = k: per token; 128: DeepSeek / Qwen3-FP8),
// s = max(max|x|, 1e-12) / 448 in f32, q = e4m3(clamp(x / s, -448, 448)). Scales are written
// [m][k / group] (token_major) or [k / group][m] (what cuBLASLt's 128-wide block scaling reads).
void quantize_fp8_rows(const bf16* x, uint8_t* q, float* scales, int m, int k, int group, bool token_major,
                       cudaStream_t stream);

// The same quantization written back as values: out = e4m3(x / s) * s in x's type (float32
// exactly; bf16 rounded once from the exact product). What a W8A8 linear feeds a GEMM that takes
// bf16 or float32 activations (the decode-sized quant_gemm, the dequantized-weight GEMMs).
void fake_quantize_fp8_rows(const bf16* x, bf16* out, int m, int k, int group, cudaStream_t stream);
void fake_quantize_fp8_rows(const float* x, float* out, int m, int k, int group, cudaStream_t stream);

// In place after an fp8 GEMM run with unit scales: y[i, j] *= x_scales[i] * w_scales[j] (the
// per-token and per-channel scales, where cuBLASLt has no outer-vector scale mode).
void scale_fp8_gemm_output(bf16* y, const float* x_scales, const float* w_scales, int m, int n, cudaStream_t stream);

// `--quantization fp8` on a bf16 checkpoint: per output row, scale = max|w| / 448 (1 for an
// all-zero row), q = e4m3(w / scale), at load.
void quantize_fp8_weight_per_channel(const bf16* w, uint8_t* q, float* scales, int n, int k, cudaStream_t stream);

} // namespace pagoda::cuda
