// AVX2/F16C helpers shared by the CPU kernels: load 8 weights of any storage dtype as
// float32 in registers, and horizontal sums.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "model/dtype.h"

namespace pagoda::cpu {

template <DType D> inline __m256 load8(const void* base, int64_t i);

template <> inline __m256 load8<DType::F32>(const void* base, int64_t i) {
  return _mm256_loadu_ps(static_cast<const float*>(base) + i);
}
template <> inline __m256 load8<DType::F16>(const void* base, int64_t i) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i)));
}
template <> inline __m256 load8<DType::BF16>(const void* base, int64_t i) {
  // bf16 is the top half of a float32: widen to 32 bits and shift into place.
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <DType D> inline float load1(const void* base, int64_t i);
template <> inline float load1<DType::F32>(const void* base, int64_t i) { return static_cast<const float*>(base)[i]; }
template <> inline float load1<DType::F16>(const void* base, int64_t i) { return _cvtsh_ss(static_cast<const uint16_t*>(base)[i]); }
template <> inline float load1<DType::BF16>(const void* base, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(base)[i]); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Element i of a tensor of any dtype as float32 (scalar; for references and tails).
inline float load_any(DType d, const void* base, int64_t i) {
  switch (d) {
  case DType::F32: return load1<DType::F32>(base, i);
  case DType::F16: return load1<DType::F16>(base, i);
  case DType::BF16: return load1<DType::BF16>(base, i);
  }
  return 0.0f;
}

} // namespace pagoda::cpu
