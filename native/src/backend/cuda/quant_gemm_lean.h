// The lean decode kernel behind quant_gemm for m <= 8 (quant_gemm_lean.cu), as quant_gemm.cu calls it
// once x is checked and, for act-order, gathered.
#pragma once

#include "backend/cuda/quant_kernels.h"

namespace pagoda::cuda {

// Launches quant_gemm_lean_kernel: m = 1..8, x already in the packed column order, arguments checked;
// deep as quant_gemm_lean's.
// norm: one side of a split norm (kernels.h SplitNorm), or none.
void launch_quant_gemm_lean(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta,
                            cudaStream_t stream, int deep = -1, const SplitNorm& norm = SplitNorm{});

// The same kernel on a gate_up weight interleaved by 8 (interleave_gate_up_rows; int4 or fp8 per channel),
// writing out[m, w.n / 2] = silu(gate) * up (row stride w.n / 2): the same warps a CTA as the plain launch for w,
// so the same bits as it followed by silu_mul on the un-interleaved columns. staged (fp8 only): out is float32
// staging of 8 * w.n / 2 + 8 * w.n / 16 floats, the products unrounded and each row's maxima a CTA after them
// (quant_gemm_lean_kernel's A); returns the CTAs a row (the maxima a row).
int launch_quant_gemm_lean_silu(const bf16* x, const QuantizedWeight& w, void* out, int m, cudaStream_t stream,
                                int deep = -1, bool staged = false, const SplitNorm& norm = SplitNorm{});

} // namespace pagoda::cuda
