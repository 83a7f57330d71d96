// Host computation of rotary inverse frequencies (default, linear, dynamic NTK, llama3).
#include "model/rope_frequencies.h"

#include <cmath>

#include "error.h"
#include "model/model_config.h"

namespace pagoda {

namespace {

// transformers: 1 / base ** (arange(0, dim, 2).float() / dim) — the exponent is float32.
std::vector<double> default_inv_freq(double base, int rotary_dim) {
  std::vector<double> inv(rotary_dim / 2);
  for (int i = 0; i < rotary_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(rotary_dim);
    inv[i] = 1.0 / std::pow(base, static_cast<double>(exponent));
  }
  return inv;
}

// Llama 3.1: long wavelengths divided by factor, short ones kept, a smooth blend between.
void apply_llama3(std::vector<double>& inv, const RopeSpec& spec) {
  const double pi = 3.14159265358979323846;
  const double old_len = spec.original_max_position;
  const double low_wavelen = old_len / spec.low_freq_factor;
  const double high_wavelen = old_len / spec.high_freq_factor;
  for (double& f : inv) {
    const double wavelen = 2.0 * pi / f;
    if (wavelen > low_wavelen) {
      f = f / spec.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (old_len / wavelen - spec.low_freq_factor) / (spec.high_freq_factor - spec.low_freq_factor);
      f = (1.0 - smooth) * f / spec.factor + smooth * f;
    }
  }
}

} // namespace

RopeSpec rope_spec(const ModelConfig& c) {
  RopeSpec s;
  s.type = c.rope_scaling.type;
  s.theta = c.rope_theta;
  s.rotary_dim = c.head_dim;
  s.factor = c.rope_scaling.factor;
  s.low_freq_factor = c.rope_scaling.low_freq_factor;
  s.high_freq_factor = c.rope_scaling.high_freq_factor;
  s.original_max_position = c.rope_scaling.original_max_position_embeddings > 0
                                ? c.rope_scaling.original_max_position_embeddings
                                : c.max_position_embeddings;
  return s;
}

std::vector<float> rope_inv_freq(const RopeSpec& spec, int64_t context_len) {
  if (spec.rotary_dim <= 0 || spec.rotary_dim % 2 != 0)
    throw Error("rope: rotary dimension " + std::to_string(spec.rotary_dim) + " must be a positive even number");
  double base = spec.theta;
  if (spec.type == "dynamic") {
    if (spec.original_max_position <= 0) throw Error("rope_scaling dynamic needs max_position_embeddings > 0");
    if (context_len > spec.original_max_position) {
      const double d = spec.rotary_dim;
      base *= std::pow(spec.factor * static_cast<double>(context_len) / spec.original_max_position - (spec.factor - 1.0),
                       d / (d - 2.0));
    }
  }
  std::vector<double> inv = default_inv_freq(base, spec.rotary_dim);
  if (spec.type == "linear") {
    for (double& f : inv) f /= spec.factor;
  } else if (spec.type == "llama3") {
    if (spec.original_max_position <= 0 || spec.high_freq_factor == spec.low_freq_factor)
      throw Error("rope_scaling llama3 needs original_max_position_embeddings > 0 and high_freq_factor != low_freq_factor");
    apply_llama3(inv, spec);
  } else if (spec.type != "default" && spec.type != "dynamic") {
    throw Error("rope_scaling type '" + spec.type + "' is not supported (default, linear, dynamic, llama3)");
  }
  return std::vector<float>(inv.begin(), inv.end());
}

} // namespace pagoda
