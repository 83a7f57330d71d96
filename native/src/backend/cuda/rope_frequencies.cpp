// Host computation of rotary inverse frequencies (default, linear, dynamic NTK, llama3).
#include "backend/cuda/rope_frequencies.h"

#include <cmath>

#include "error.h"

namespace pagoda::cuda {

namespace {

std::vector<double> default_inv_freq(double theta, int rotary_dim) {
  std::vector<double> inv(rotary_dim / 2);
  for (int i = 0; i < rotary_dim / 2; ++i)
    inv[i] = 1.0 / std::pow(theta, static_cast<double>(2 * i) / rotary_dim);
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
      const double smooth = (old_len / wavelen - spec.low_freq_factor) /
                            (spec.high_freq_factor - spec.low_freq_factor);
      f = (1.0 - smooth) * f / spec.factor + smooth * f;
    }
  }
}

} // namespace

std::vector<float> rope_inv_freq(const RopeSpec& spec, int context_len) {
  if (spec.rotary_dim <= 0 || spec.rotary_dim % 2 != 0)
    throw Error("rope: rotary dimension " + std::to_string(spec.rotary_dim) +
                " must be a positive even number");
  double theta = spec.theta;
  if (spec.type == "dynamic") {
    if (spec.original_max_position <= 0)
      throw Error("rope_scaling dynamic needs max_position_embeddings > 0");
    if (context_len > spec.original_max_position) {
      const double d = spec.rotary_dim;
      theta *= std::pow(spec.factor * context_len / spec.original_max_position - (spec.factor - 1.0),
                        d / (d - 2.0));
    }
  }
  std::vector<double> inv = default_inv_freq(theta, spec.rotary_dim);
  if (spec.type == "linear") {
    for (double& f : inv) f /= spec.factor;
  } else if (spec.type == "llama3") {
    if (spec.original_max_position <= 0 || spec.high_freq_factor == spec.low_freq_factor)
      throw Error("rope_scaling llama3 needs original_max_position_embeddings > 0 and "
                  "high_freq_factor != low_freq_factor");
    apply_llama3(inv, spec);
  } else if (spec.type != "default" && spec.type != "dynamic") {
    throw Error("rope_scaling type '" + spec.type +
                "' is not supported by the CUDA backend (default, linear, dynamic, llama3)");
  }
  return std::vector<float>(inv.begin(), inv.end());
}

} // namespace pagoda::cuda
