// One change to one logit before sampling, shared by the host Sampler and the CUDA sampling
// kernel so both apply vLLM's penalties and min_tokens masking by the same arithmetic.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define PAGODA_HOST_DEVICE __host__ __device__
#else
#define PAGODA_HOST_DEVICE
#endif

namespace pagoda {

// In this order: the repetition penalty (divide a positive logit, multiply a negative one;
// 1 leaves it), minus `subtract` (frequency * count + presence over output tokens, less logit_bias), then
// -inf when `masked` (an EOS or stop token before min_tokens are out).
struct LogitAdjustment {
  int32_t token = 0;
  float repetition = 1.0f;
  float subtract = 0.0f;
  int32_t masked = 0;
};

inline PAGODA_HOST_DEVICE float adjusted_logit(float logit, const LogitAdjustment& a) {
  if (a.repetition != 1.0f) logit = logit > 0.0f ? logit / a.repetition : logit * a.repetition;
  logit -= a.subtract;
  return a.masked ? -HUGE_VALF : logit; // HUGE_VALF: infinity in host and device code alike
}

} // namespace pagoda
