// A kernel under test run right after a producer of its input in a PDL chain (pdl_chain_test, quant_gemm_test):
// a slow producer kernel and the check that the kernel never reads the input the producer has not written yet.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/pdl.cuh"
#include "test_support.h"

namespace pagoda::cuda {

// Lets its dependent start at once, then spins about `cycles` before it writes dst, so a dependent that reads
// dst before (or around) its griddepcontrol.wait sees the old data.
static __global__ void slow_producer_kernel(const __nv_bfloat16* src, __nv_bfloat16* dst, int64_t count,
                                            long long cycles) {
  pdl_launch_dependents();
  pdl_wait();
  const long long t0 = clock64();
  while (clock64() - t0 < cycles) {
  }
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

namespace test {

using ChainRun = std::function<void(const __nv_bfloat16*, cudaStream_t)>;

// run(x) / reference(x) launch a kernel on x (bf16, in_count elements) into out (out_bytes). reference on a new x,
// with nothing overlapping, gives the expected bytes; then each of 12 reps runs `run` on an old x (its lines in
// the SMs' caches), the slow producer writes the new x, and `run` again in the PDL chain: out must equal the
// expected bytes every rep. `what` names the check.
inline void expect_pdl_chain_equal(Checker& c, const std::string& what, size_t in_count, const DeviceBuffer& out,
                                   size_t out_bytes, const ChainRun& run, const ChainRun& reference,
                                   std::mt19937& rng, cudaStream_t stream) {
  auto d_new = upload_bf16(random_bf16_values(in_count, rng));
  const std::vector<__nv_bfloat16> old_x = to_bf16(random_bf16_values(in_count, rng));
  DeviceBuffer d_x(in_count * 2);
  reference(d_new.as<__nv_bfloat16>(), stream);
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
  const auto base = download<uint8_t>(out, out_bytes);
  constexpr int kReps = 12;
  int stale = 0;
  size_t worst = 0;
  for (int rep = 0; rep < kReps; ++rep) {
    PAGODA_CUDA_CHECK(cudaMemcpyAsync(d_x.data(), old_x.data(), in_count * 2, cudaMemcpyHostToDevice, stream));
    run(d_x.as<__nv_bfloat16>(), stream);
    launch_pdl("slow_producer_kernel", slow_producer_kernel, dim3(4), dim3(256), 0, stream,
               d_new.as<__nv_bfloat16>(), d_x.as<__nv_bfloat16>(), int64_t(in_count),
               (long long)(20000 + 20000 * (rep % 4)));
    run(d_x.as<__nv_bfloat16>(), stream);
    PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
    const auto got = download<uint8_t>(out, out_bytes);
    size_t differ = 0;
    for (size_t i = 0; i < out_bytes; ++i) differ += got[i] != base[i];
    stale += differ != 0;
    worst = std::max(worst, differ);
  }
  c.expect_true(what, stale == 0,
                std::to_string(stale) + " of " + std::to_string(kReps) + " reps read stale input (up to " +
                    std::to_string(worst) + " of " + std::to_string(out_bytes) + " output bytes differ)");
}

} // namespace test
} // namespace pagoda::cuda
