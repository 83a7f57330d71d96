// Storage element types of checkpoint tensors and their conversions to float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace pagoda {

// F8E4M3 and I32 appear only in quantized linear layers' tensors (see models/).
enum class DType { F32, F16, BF16, F8E4M3, I32 };

const char* dtype_name(DType dtype);      // "float32" | "float16" | "bfloat16" | "float8_e4m3fn" | "int32"
size_t dtype_size(DType dtype);           // bytes per element
// Accepts torch / config spellings ("float32", "bfloat16", "float16", "half", "float",
// "bf16", "fp16", "fp32"); throws pagoda::Error listing what is accepted.
DType parse_dtype(const std::string& name);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round to nearest even, NaN kept quiet.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

} // namespace pagoda
