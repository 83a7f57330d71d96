// The decode GEMM on Hopper's warpgroup MMA: y[m, n] (bf16) = x[m, k] · w[n, k]^T for the batch sizes of decode
// steps past skinny_gemm's (17..256 rows). The weight's rows are the MMA's 64-row side and the step's tokens its N
// side, m rounded up to 16 only, so no tile computes rows the step does not have (cuBLASLt's tiles round a
// 136-row batch up to 192 or 256 rows of work); the tiles' k iterations are split evenly over one CTA an SM
// (stream-K), so a shape of 32 tiles keeps every SM streaming. decode_gemm_wgmma.cu says how.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace pagoda::cuda {

constexpr int kDecodeGemmMaxRows = 256;

// Whether this build and device run it for the shape: sm_90a, m in 1..kDecodeGemmMaxRows, n a multiple of 128,
// k a multiple of 64, x, w and y 16-byte aligned.
bool decode_gemm_wgmma_supports(int m, int n, int k, const void* x, const void* w, const void* y);

// The workspace a call needs (stream-K partial sums and their flags): what decode_gemm_wgmma_workspace_bytes()
// says, zeroed once before the first call and left zeroed by every call after (so one workspace serves every
// call on one stream, CUDA graphs included).
size_t decode_gemm_wgmma_workspace_bytes();

// y = x · w^T (bf16 out, f32 accumulation). ctas: the persistent grid's bound (0: one CTA an SM; tests pass fewer
// to make every tile span several CTAs). Launched with programmatic dependent launch.
void decode_gemm_wgmma(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int m, int n, int k,
                       void* workspace, cudaStream_t stream, int ctas = 0);

} // namespace pagoda::cuda
