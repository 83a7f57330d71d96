// RoPE frequencies (every scaling type) and the rotation, AVX2 and reference.
#include "backend/cpu/rope.h"

#include <cmath>

#include "backend/cpu/simd.h"
#include "error.h"
#include "model/model_config.h"

namespace pagoda::cpu {

std::vector<float> rope_inv_freq(const ModelConfig& config, int64_t context_len) {
  const RopeScaling& s = config.rope_scaling;
  const int64_t dim = config.head_dim, half = dim / 2;
  double base = config.rope_theta;
  if (s.type == "dynamic" && context_len > s.original_max_position_embeddings) {
    const double ratio = s.factor * static_cast<double>(context_len) / s.original_max_position_embeddings - (s.factor - 1.0);
    base *= std::pow(ratio, static_cast<double>(dim) / static_cast<double>(dim - 2));
  }
  std::vector<float> inv(half);
  for (int64_t i = 0; i < half; ++i) {
    // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[i] = static_cast<float>(1.0 / std::pow(base, static_cast<double>(exponent)));
  }
  if (s.type == "linear") {
    for (float& f : inv) f = static_cast<float>(f / s.factor);
  } else if (s.type == "llama3") {
    const double pi = 3.141592653589793;
    const double old_len = s.original_max_position_embeddings;
    const double low_wavelen = old_len / s.low_freq_factor;
    const double high_wavelen = old_len / s.high_freq_factor;
    for (float& f : inv) {
      const double wavelen = 2.0 * pi / f;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / s.factor); // long wavelengths: fully scaled
      } else if (wavelen >= high_wavelen) {
        // in between: blend scaled and unscaled
        const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = static_cast<float>((1.0 - smooth) * f / s.factor + smooth * f);
      }
    }
  } else if (s.type != "default" && s.type != "dynamic") {
    throw Error("rope scaling type \"" + s.type + "\" is not supported");
  }
  return inv;
}

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
