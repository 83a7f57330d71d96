// float8_e4m3fn (1 sign, 4 exponent bits with bias 7, 3 mantissa bits, no infinities, 0x7F /
// 0xFF NaN, max 448): decoding and round-to-nearest-even encoding, as torch casts.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace pagoda {

constexpr float kFp8E4m3Max = 448.0f;

inline float fp8_e4m3_to_f32(uint8_t code) {
  const int e = (code >> 3) & 15, m = code & 7;
  float v;
  if ((code & 0x7f) == 0x7f) v = NAN;
  else if (e == 0) v = std::ldexp(static_cast<float>(m), -9);
  else v = std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
  return (code & 0x80) ? -v : v;
}

// Saturates to +-448 (what the engine wants: inputs are already scaled into range); NaN -> 0x7f.
inline uint8_t f32_to_fp8_e4m3(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80);
  const float a = std::fabs(f);
  if (std::isnan(f)) return 0x7f;
  if (a >= kFp8E4m3Max) return sign | 0x7e;
  if (a < std::ldexp(1.0f, -6)) {
    // Subnormals: multiples of 2^-9, rounded to nearest even.
    const float q = a * 512.0f;
    float r = std::nearbyint(q); // the default rounding mode rounds half to even
    return sign | static_cast<uint8_t>(r);
  }
  int exp = 0;
  const float mant = std::frexp(a, &exp); // a = mant * 2^exp, mant in [0.5, 1)
  // a = (1 + m/8) * 2^(exp - 1): scale the fraction to 3 bits and round half to even.
  const float scaled = (mant * 2.0f - 1.0f) * 8.0f;
  int m = static_cast<int>(std::nearbyint(scaled));
  int e = exp - 1 + 7;
  if (m == 8) {
    m = 0;
    ++e;
  }
  if (e > 15 || (e == 15 && m == 7)) return sign | 0x7e;
  return sign | static_cast<uint8_t>((e << 3) | m);
}

} // namespace pagoda
