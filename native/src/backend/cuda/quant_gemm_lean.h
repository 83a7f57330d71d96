// The lean decode kernel behind quant_gemm for m <= 8 (quant_gemm_lean.cu), as quant_gemm.cu calls it
// once x is checked and, for act-order, gathered.
#pragma once

#include "backend/cuda/quant_kernels.h"

namespace pagoda::cuda {

// Launches quant_gemm_lean_kernel: m = 1..8, x already in the packed column order, arguments checked;
// deep as quant_gemm_lean's.
void launch_quant_gemm_lean(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, float beta,
                            cudaStream_t stream, int deep = -1);

} // namespace pagoda::cuda
