// Tensor maps for the bulk tensor copy (TMA): the driver's cuTensorMapEncodeTiled, reached through the runtime's
// driver entry point (the build links no libcuda), and the 2-d bf16 map the decode GEMM reads its operands with.
#pragma once

#include <cuda.h> // CUtensorMap and its enums only
#include <cudaTypedefs.h>
#include <cuda_bf16.h>

#include <cstdint>

namespace pagoda::cuda {

// The driver's encoder; throws pagoda::Error when the driver has none.
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder();

// A row-major bf16 matrix [rows, cols] (cols contiguous, rows `cols` apart) as a 2-d map of boxes of box_rows x
// box_cols with the 128-byte swizzle (box_cols x 2 bytes must be 128). Rows past `rows` read as zeros.
CUtensorMap bf16_matrix_tensor_map(const __nv_bfloat16* base, int64_t rows, int64_t cols, int box_rows, int box_cols);

} // namespace pagoda::cuda
