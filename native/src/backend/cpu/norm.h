// RMSNorm as Llama/Qwen apply it: x · rsqrt(mean(x²) + eps) · weight, in float32.
#pragma once

#include <cstdint>

namespace pagoda::cpu {

// rows × dim: out[r] = rmsnorm(x[r]) * weight. out may alias x. (Per-head q/k norm is the
// same call with rows = tokens × heads and dim = head_dim.)
void rms_norm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out);
void rms_norm_reference(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out);

} // namespace pagoda::cpu
