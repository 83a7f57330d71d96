// A logit with its token index, and the order greedy sampling picks by: the larger value, the lower
// index among equal values (NaN never wins: it fails every comparison).
#pragma once

#include <cstdint>

namespace pagoda::cuda {
// Internal to each including file, as the kernels whose parameters name it are.
namespace {

struct ValueIndex {
  float value;
  int32_t index;
};

__device__ __forceinline__ ValueIndex better(ValueIndex a, ValueIndex b) {
  if (b.value > a.value || (b.value == a.value && b.index < a.index)) return b;
  return a;
}

} // namespace
} // namespace pagoda::cuda
