// Checks the host rotary frequencies for each scaling type against the definitions used by
// Hugging Face transformers (runs without a GPU).
#include <cmath>
#include <cstdio>
#include <string>

#include "model/rope_frequencies.h"
#include "error.h"

using pagoda::RopeSpec;
using pagoda::rope_inv_freq;

namespace {

int failures = 0, passes = 0;

void expect_close(const std::string& what, double got, double want, double rel = 1e-6) {
  const bool ok = std::fabs(got - want) <= rel * std::fabs(want);
  if (!ok) std::printf("FAIL %s: got %.9g, want %.9g\n", what.c_str(), got, want);
  ok ? ++passes : ++failures;
}

} // namespace

int main() {
  const double pi = 3.14159265358979323846;
  RopeSpec spec;
  spec.theta = 500000.0;
  spec.rotary_dim = 128;

  const auto plain = rope_inv_freq(spec, 100);
  for (int i = 0; i < 64; ++i)
    expect_close("default[" + std::to_string(i) + "]", plain[i], std::pow(500000.0, -2.0 * i / 128));

  RopeSpec linear = spec;
  linear.type = "linear";
  linear.factor = 4.0;
  const auto lin = rope_inv_freq(linear, 100);
  for (int i = 0; i < 64; ++i) expect_close("linear[" + std::to_string(i) + "]", lin[i], plain[i] / 4.0);

  // Llama 3.1 (factor 8, low 1, high 4, original 8192): wavelengths under 2048 kept, over
  // 8192 divided by 8, in between blended by (8192 / wavelen - 1) / 3.
  RopeSpec l3 = spec;
  l3.type = "llama3";
  l3.factor = 8.0;
  l3.low_freq_factor = 1.0;
  l3.high_freq_factor = 4.0;
  l3.original_max_position = 8192;
  const auto llama3 = rope_inv_freq(l3, 100);
  int kept = 0, divided = 0, blended = 0;
  for (int i = 0; i < 64; ++i) {
    const double f = std::pow(500000.0, -2.0 * i / 128);
    const double wavelen = 2 * pi / f;
    double want;
    if (wavelen < 8192.0 / 4.0) {
      want = f;
      ++kept;
    } else if (wavelen > 8192.0) {
      want = f / 8.0;
      ++divided;
    } else {
      const double smooth = (8192.0 / wavelen - 1.0) / 3.0;
      want = (1 - smooth) * f / 8.0 + smooth * f;
      ++blended;
    }
    expect_close("llama3[" + std::to_string(i) + "]", llama3[i], want);
  }
  if (kept == 0 || divided == 0 || blended == 0) {
    std::printf("FAIL llama3 case does not reach all three bands (%d/%d/%d)\n", kept, divided, blended);
    ++failures;
  }

  // Dynamic NTK: default frequencies up to the original length, a larger base beyond it.
  RopeSpec dyn = spec;
  dyn.type = "dynamic";
  dyn.factor = 2.0;
  dyn.original_max_position = 4096;
  const auto short_ctx = rope_inv_freq(dyn, 4096);
  for (int i = 0; i < 64; ++i) expect_close("dynamic short[" + std::to_string(i) + "]", short_ctx[i], plain[i]);
  const int len = 10000;
  const double grown = 500000.0 * std::pow(2.0 * len / 4096 - 1.0, 128.0 / 126.0);
  const auto long_ctx = rope_inv_freq(dyn, len);
  for (int i = 0; i < 64; ++i)
    expect_close("dynamic long[" + std::to_string(i) + "]", long_ctx[i], std::pow(grown, -2.0 * i / 128));

  RopeSpec bad = spec;
  bad.type = "yarn-unknown";
  try {
    rope_inv_freq(bad, 10);
    std::printf("FAIL unknown rope type accepted\n");
    ++failures;
  } catch (const pagoda::Error& e) {
    ++passes;
  }
  std::printf("rope_frequencies_test: %d passed, %d failed\n", passes, failures);
  return failures == 0 ? 0 : 1;
}
