// The head_dim values the bf16 attention kernels are compiled for, in one place: every multiple
// of 16 from 32 to 256. The prefill and decode dispatches and the backend's load check read it.
#pragma once

#include <string>
#include <type_traits>

#include "error.h"

namespace pagoda::cuda {

// X(D) once for each head_dim the bf16 (and fp8 KV) attention kernels are instantiated for.
#define PAGODA_CUDA_HEAD_DIMS(X)                                                                             \
  X(32) X(48) X(64) X(80) X(96) X(112) X(128) X(144) X(160) X(176) X(192) X(208) X(224) X(240) X(256)

constexpr int kMinHeadDim = 32;
constexpr int kMaxHeadDim = 256;
constexpr int kHeadDimStep = 16; // one mma k-step (and one e4m3 16-byte chunk) per 16 dims

constexpr bool head_dim_supported(int d) { return d >= kMinHeadDim && d <= kMaxHeadDim && d % kHeadDimStep == 0; }

// Calls f(std::integral_constant<int, D>{}) for the listed D equal to head_dim; an Error
// naming `what` for any other.
template <typename F> void dispatch_head_dim(int head_dim, const char* what, F&& f) {
  switch (head_dim) {
#define PAGODA_HEAD_DIM_CASE(D)                                                                              \
  case D:                                                                                                    \
    f(std::integral_constant<int, D>{});                                                                     \
    return;
    PAGODA_CUDA_HEAD_DIMS(PAGODA_HEAD_DIM_CASE)
#undef PAGODA_HEAD_DIM_CASE
  default:
    throw Error(std::string(what) + ": head_dim " + std::to_string(head_dim) +
                " is not supported by the CUDA backend in bfloat16 (32 to 256 in steps of 16); run this model on "
                "the CPU backend or with dtype \"float32\"");
  }
}

// Every listed D is a supported one, and the list is every supported one (15 values).
#define PAGODA_HEAD_DIM_COUNT(D) +1
static_assert(0 PAGODA_CUDA_HEAD_DIMS(PAGODA_HEAD_DIM_COUNT) == (kMaxHeadDim - kMinHeadDim) / kHeadDimStep + 1,
              "PAGODA_CUDA_HEAD_DIMS lists every supported head_dim");
#undef PAGODA_HEAD_DIM_COUNT

} // namespace pagoda::cuda
