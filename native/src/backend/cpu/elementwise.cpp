// Residual add and SiLU·mul, AVX2 and reference. SiLU uses expf per element: it is a
// small share of a layer's time and keeps the result within an ulp of the reference.
#include "backend/cpu/elementwise.h"

#include <cmath>

#include "backend/cpu/simd.h"

namespace pagoda::cpu {

void add_inplace(float* x, const float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) x[i] += y[i];
}

void add_inplace_reference(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] + y[i];
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  float sig[8];
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) sig[j] = 1.0f / (1.0f + std::exp(-gate[i + j]));
    const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(sig));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] * (1.0f / (1.0f + std::exp(-gate[i]))) * up[i];
}

void silu_mul_reference(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

} // namespace pagoda::cpu
