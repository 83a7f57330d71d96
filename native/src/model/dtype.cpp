// dtype names and IEEE half conversions (scalar; SIMD kernels use F16C).
#include "model/dtype.h"

#include <cmath>

#include "error.h"

namespace pagoda {

const char* dtype_name(DType dtype) {
  switch (dtype) {
  case DType::F32: return "float32";
  case DType::F16: return "float16";
  case DType::BF16: return "bfloat16";
  case DType::F8E4M3: return "float8_e4m3fn";
  case DType::I32: return "int32";
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
  case DType::F32:
  case DType::I32: return 4;
  case DType::F16:
  case DType::BF16: return 2;
  case DType::F8E4M3: return 1;
  }
  return 0;
}

DType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "float" || name == "fp32" || name == "F32") return DType::F32;
  if (name == "float16" || name == "half" || name == "fp16" || name == "F16") return DType::F16;
  if (name == "bfloat16" || name == "bf16" || name == "BF16") return DType::BF16;
  throw Error("unsupported dtype \"" + name + "\"; supported: float32, float16, bfloat16");
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1u;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  float value;
  if (exp == 0) {
    value = std::ldexp(static_cast<float>(mant), -24); // subnormal (or zero)
  } else if (exp == 31) {
    value = mant ? NAN : INFINITY;
  } else {
    value = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  }
  return sign ? -value : value;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00u;
  if (a >= 65520.0f) return sign | 0x7c00u; // rounds to infinity
  if (a < 6.103515625e-05f) {
    // Subnormal: units of 2^-24, round to nearest even.
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));
  }
  int e;
  float m = std::frexp(a, &e); // a = m * 2^e, m in [0.5, 1)
  // 11 significant bits: mantissa in units of 2^(e-11).
  uint32_t q = static_cast<uint32_t>(std::nearbyint(std::ldexp(m, 11)));
  if (q == 2048) {
    q = 1024;
    ++e;
  }
  const uint32_t exp = static_cast<uint32_t>(e - 1 + 15);
  if (exp >= 31) return sign | 0x7c00u;
  return sign | static_cast<uint16_t>((exp << 10) | (q & 0x3ffu));
}

} // namespace pagoda
