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
// 1 leaves it), minus frequency * count + presence (when count > 0) - bias, then -inf when
// `masked` (an EOS or stop token before min_tokens are out). An entry keeps the count rather
// than the sum so the newest token, when only the device knows it, can be merged in exactly.
struct LogitAdjustment {
  // < 0: -1 - r, the sequence's newest token, which row r of the step launched before samples
  // (a step launched ahead): the row's last entry, resolved on the device (with_newest).
  int32_t token = 0;
  float repetition = 1.0f; // the repetition penalty where the token is among the sequence's tokens
  float frequency = 0.0f;  // the sequence's frequency and presence penalties, over its output tokens
  float presence = 0.0f;
  float bias = 0.0f;       // logit_bias
  int32_t count = 0;       // occurrences among the output tokens
  int32_t masked = 0;
};

// x * y rounded on its own, never fused with the add after it, in host and device code alike.
inline PAGODA_HOST_DEVICE float product_unfused(float x, float y) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(x, y); // nvcc never contracts it into an FMA
#else
  volatile float product = x * y; // stored, so g++ with -mfma cannot fuse it either
  return product;
#endif
}

inline PAGODA_HOST_DEVICE float adjusted_logit(float logit, const LogitAdjustment& a) {
  if (a.repetition != 1.0f) logit = logit > 0.0f ? logit / a.repetition : product_unfused(logit, a.repetition);
  // The product in double is exact, so a compiler fusing it with the add (nvcc does; g++ may with -mfma) rounds
  // as one that does not: the host and the device get the same bits.
  const double counted =
      static_cast<double>(a.frequency) * a.count + (a.count > 0 ? static_cast<double>(a.presence) : 0.0);
  const float subtract = static_cast<float>(counted) - a.bias;
  logit -= subtract;
  return a.masked ? -HUGE_VALF : logit; // HUGE_VALF: infinity in host and device code alike
}

// The row's entry for `known` (the newest token's id, once sampled) with the newest token's
// entry merged in: one more output occurrence, and the repetition penalty now applies. The
// result equals the entry built on the host with that token known.
inline PAGODA_HOST_DEVICE LogitAdjustment with_newest(LogitAdjustment known, const LogitAdjustment& newest) {
  known.count += newest.count;
  if (newest.repetition != 1.0f) known.repetition = newest.repetition;
  known.frequency = newest.frequency;
  known.presence = newest.presence;
  return known;
}

} // namespace pagoda
