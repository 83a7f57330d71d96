// The wgmma decode GEMM's stream-K schedule as plain functions, shared by the kernel (decode_gemm_wgmma.cu) and a CPU
// test that walks it for many shapes and grids (tests/decode_gemm_plan_test.cpp): the tiles' k iterations laid end
// to end and cut into equal ranges, one a unit (a CTA); a tile is finished by the unit whose
// range holds its first iteration, from its own sums and the partial sums of the units after it whose ranges begin
// inside the tile. Each of those reaches the tile at the start of its range, so it stores its partial before it
// waits on anything, and it stores at most one.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define PAGODA_STREAM_K_HD __host__ __device__ __forceinline__
#else
#define PAGODA_STREAM_K_HD inline
#endif

namespace pagoda::cuda::stream_k {

// The first iteration of unit u's range (unit `units` gives the end of the last range).
PAGODA_STREAM_K_HD int64_t range_begin(int u, int units, int64_t total_iters) { return total_iters * u / units; }

// The units after u whose ranges begin before tile_end: the tile's later parts, which unit u (its finisher) adds.
PAGODA_STREAM_K_HD int later_parts(int u, int units, int64_t total_iters, int64_t tile_end) {
  int others = 0;
  while (u + 1 + others < units && range_begin(u + 1 + others, units, total_iters) < tile_end) ++others;
  return others;
}

} // namespace pagoda::cuda::stream_k
