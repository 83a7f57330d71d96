// The small per-element steps of a layer: residual add and the SwiGLU gate.
#pragma once

#include <cstdint>

namespace pagoda::cpu {

// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t n);
void add_inplace_reference(float* x, const float* y, int64_t n);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g). out may alias gate.
void silu_mul(const float* gate, const float* up, int64_t n, float* out);
void silu_mul_reference(const float* gate, const float* up, int64_t n, float* out);

} // namespace pagoda::cpu
