// The RoPE rotation, AVX2 and reference (frequencies: model/rope_frequencies.h).
#include "backend/cpu/rope.h"

#include <cmath>

#include "backend/cpu/simd.h"

namespace pagoda::cpu {

void rope_cos_sin(const float* inv_freq, int64_t half, int32_t position, float* cos_out, float* sin_out) {
  const float p = static_cast<float>(position);
  for (int64_t i = 0; i < half; ++i) {
    const float angle = p * inv_freq[i];
    cos_out[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
    sin_out[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
  }
}

void apply_rope(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float* a = x + h * head_dim;
    float* b = a + half;
    int64_t i = 0;
    for (; i + 8 <= half; i += 8) {
      const __m256 va = _mm256_loadu_ps(a + i), vb = _mm256_loadu_ps(b + i);
      const __m256 c = _mm256_loadu_ps(cos + i), s = _mm256_loadu_ps(sin + i);
      _mm256_storeu_ps(a + i, _mm256_fmsub_ps(va, c, _mm256_mul_ps(vb, s)));
      _mm256_storeu_ps(b + i, _mm256_fmadd_ps(vb, c, _mm256_mul_ps(va, s)));
    }
    for (; i < half; ++i) {
      const float va = a[i], vb = b[i];
      a[i] = va * cos[i] - vb * sin[i];
      b[i] = vb * cos[i] + va * sin[i];
    }
  }
}

void apply_rope_reference(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const double a = v[i], b = v[i + half];
      v[i] = static_cast<float>(a * cos[i] - b * sin[i]);
      v[i + half] = static_cast<float>(b * cos[i] + a * sin[i]);
    }
  }
}

} // namespace pagoda::cpu
