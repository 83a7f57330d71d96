// Weight prefetch into L2 for the decode GEMVs: while the small kernels before a GEMV run (a norm, attention),
// DRAM idles; the GEMV's CTAs that are already resident (PDL launched them early) ask L2 for the next bytes of
// their weight slices before they wait on their input, so those bytes arrive inside that window.
#pragma once

#include <cstdint>

namespace pagoda::cuda {

// CTAs [0, ctas) each prefetch up to `bytes` of every contiguous weight run they read, from just past what their
// register prologue loads; ctas 0 turns it off.
struct L2Prefetch {
  int ctas = 0;
  uint32_t bytes = 0;
};

#ifdef __CUDACC__
#define PAGODA_L2_PREFETCH_FN __host__ __device__ __forceinline__
// Fire and forget: cp.async.bulk.prefetch asks L2 for [p, p + bytes) and completes nothing the thread waits on.
// p 16-byte aligned, bytes a multiple of 16.
__device__ __forceinline__ void l2_prefetch(const void* p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (bytes != 0) asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
#endif
}
#else
#define PAGODA_L2_PREFETCH_FN inline
// The host emulations of the kernels (tests/cuda) have no L2 to warm; a test may watch the requests.
inline void (*l2_prefetch_hook)(const void* p, uint32_t bytes) = nullptr;
inline void l2_prefetch(const void* p, uint32_t bytes) {
  if (l2_prefetch_hook != nullptr && bytes != 0) l2_prefetch_hook(p, bytes);
}
#endif

// The bytes CTA `cta` prefetches from a run of run_bytes whose first skip bytes its prologue loads.
PAGODA_L2_PREFETCH_FN uint32_t l2_prefetch_length(const L2Prefetch& pf, int cta, int64_t run_bytes, int64_t skip) {
  if (cta >= pf.ctas || run_bytes <= skip) return 0;
  const int64_t left = run_bytes - skip;
  return static_cast<uint32_t>(left < int64_t(pf.bytes) ? left : int64_t(pf.bytes)) & ~15u;
}

// The plan for a launch of `grid` CTAs of `kernel` with `threads` a CTA, each reading `runs` contiguous runs of
// run_bytes: the CTAs resident at once (the first wave, the ones that start before the wait) split a budget of
// PAGODA_L2_PREFETCH_MB (default kL2PrefetchDefaultMb; 0 off). PAGODA_L2_PREFETCH_ALL=1: every CTA prefetches the
// rest of its runs, a measurement switch (L2 as a deeper load ring than the registers hold).
L2Prefetch plan_l2_prefetch(const void* kernel, int threads, int grid, int runs, int64_t run_bytes);

} // namespace pagoda::cuda
