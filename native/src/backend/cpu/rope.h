// Rotary position embedding, neox style (rotate-half) as Hugging Face Llama/Qwen apply it,
// given frequencies from model/rope_frequencies.h (every scaling type).
#pragma once

#include <cstdint>
#include <vector>

namespace pagoda::cpu {

// cos/sin[i] = cos/sin(position · inv_freq[i]) for one token (the angle in float32).
void rope_cos_sin(const float* inv_freq, int64_t half, int32_t position, float* cos_out, float* sin_out);

// Rotates `heads` vectors of head_dim (contiguous) of one token in place:
// x[i] ← x[i]·cos[i] − x[i+half]·sin[i], x[i+half] ← x[i+half]·cos[i] + x[i]·sin[i].
void apply_rope(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);
void apply_rope_reference(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);

} // namespace pagoda::cpu
