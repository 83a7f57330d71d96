// bf16 pairs held in one 32-bit word, as mma fragments take them: subtract, multiply, int4 nibbles and e4m3 codes
// to an exact bf16 pair. Host and device, so kernel sources that also run in a host emulation share them.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>

#if defined(__CUDACC__)
#define PAGODA_BF16X2_FN __host__ __device__ __forceinline__
#else
#define PAGODA_BF16X2_FN inline
#endif

namespace pagoda::cuda {

PAGODA_BF16X2_FN uint32_t bf16x2_sub(uint32_t a, uint32_t b) {
  const __nv_bfloat162 r = __hsub2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}
PAGODA_BF16X2_FN uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
  const __nv_bfloat162 r = __hmul2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}

// Nibbles 0 and 4 of w (bits 0..3 and 16..19) as the bf16 pair 128 + q: one LOP3 computing (w & 0x000F000F) |
// 0x43004300. Written as and + or, ptxas emits two LOP3s (each takes one immediate); lop3.b32 with both
// constants makes it keep one in a register and emit one.
PAGODA_BF16X2_FN uint32_t int4_pair_biased(uint32_t w) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(w), "n"(0x000F000F), "n"(0x43004300)); // (a & b) | c
  return d;
#else
  return (w & 0x000F000Fu) | 0x43004300u;
#endif
}

// e4m3 bytes 0 and 2 (even) or 1 and 3 (odd) of w as a bf16 pair: the sign to bit 15 and the other 7
// bits to bits 10..4 give the value times 2^-120, which bf16 holds exactly (subnormals too); the
// multiply by 2^120 is exact as well.
constexpr uint32_t kBf16Pow2_120 = 0x7B807B80u;
PAGODA_BF16X2_FN uint32_t e4m3_even(uint32_t w) {
  return bf16x2_mul(((w << 8) & 0x80008000u) | ((w << 4) & 0x07F007F0u), kBf16Pow2_120);
}
PAGODA_BF16X2_FN uint32_t e4m3_odd(uint32_t w) {
  return bf16x2_mul((w & 0x80008000u) | ((w >> 4) & 0x07F007F0u), kBf16Pow2_120);
}

} // namespace pagoda::cuda
