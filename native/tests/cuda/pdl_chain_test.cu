// The engine's PDL chain for kernels other than the quantized GEMMs (quant_gemm_test has those): a slow
// producer writes the input while the PDL-launched kernel under test may already run; its output must
// equal the same kernel's on that input with no overlap, bit for bit, every rep. Skips with no GPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/kernels.h"
#include "backend/cuda/pdl.cuh"
#include "slow_producer.cuh"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

// run(x) launches the kernel under test on x (bf16, in_count elements) into out (out_bytes). Each rep runs it
// on the old x first (its lines in the SMs' caches), then the slow producer writes the new x, then run again.
void check_chain(Checker& c, const std::string& name, size_t in_count, const DeviceBuffer& out, size_t out_bytes,
                 const std::function<void(const bf16*, cudaStream_t)>& run, std::mt19937& rng) {
  cudaStream_t stream;
  PAGODA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto d_new = upload_bf16(random_bf16_values(in_count, rng));
  const std::vector<bf16> old_x = to_bf16(random_bf16_values(in_count, rng));
  DeviceBuffer d_x(in_count * 2);
  run(d_new.as<bf16>(), stream);
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
  const auto base = download<uint8_t>(out, out_bytes);
  constexpr int kReps = 12;
  int stale = 0;
  size_t worst = 0;
  for (int rep = 0; rep < kReps; ++rep) {
    PAGODA_CUDA_CHECK(cudaMemcpyAsync(d_x.data(), old_x.data(), in_count * 2, cudaMemcpyHostToDevice, stream));
    run(d_x.as<bf16>(), stream);
    launch_pdl("slow_producer_kernel", slow_producer_kernel, dim3(4), dim3(256), 0, stream, d_new.as<bf16>(),
               d_x.as<bf16>(), int64_t(in_count), (long long)(20000 + 20000 * (rep % 4)));
    run(d_x.as<bf16>(), stream);
    PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
    const auto got = download<uint8_t>(out, out_bytes);
    size_t differ = 0;
    for (size_t i = 0; i < out_bytes; ++i) differ += got[i] != base[i];
    stale += differ != 0;
    worst = std::max(worst, differ);
  }
  c.expect_true(name + ": PDL chain after a producer that writes its input: equal to no overlap, every rep",
                stale == 0,
                std::to_string(stale) + " of " + std::to_string(kReps) + " reps read stale input (up to " +
                    std::to_string(worst) + " of " + std::to_string(out_bytes) + " output bytes differ)");
  PAGODA_CUDA_CHECK(cudaStreamDestroy(stream));
}

} // namespace

int main() {
  skip_without_device("pdl_chain_test");
  std::mt19937 rng(2026);
  Checker c;
  if (!pdl_enabled()) {
    std::printf("SKIP pdl_chain_test: PAGODA_CUDA_PDL=0\n");
    return 0;
  }
  try {
    for (int rows : {1, 8, 64}) {
      const int hidden = 4096, inter = 14336;
      const std::string r = " rows " + std::to_string(rows);
      auto weight = upload_bf16(random_bf16_values(hidden, rng));
      DeviceBuffer out(size_t(rows) * hidden * 2);
      check_chain(c, "rms_norm bf16" + r, size_t(rows) * hidden, out, out.bytes(),
                  [&](const bf16* x, cudaStream_t s) {
                    rms_norm(x, weight.as<bf16>(), out.as<bf16>(), rows, hidden, 1e-5f, s);
                  }, rng);
      DeviceBuffer act(size_t(rows) * inter * 2);
      check_chain(c, "silu_mul bf16" + r, size_t(rows) * inter * 2, act, act.bytes(),
                  [&](const bf16* gate_up, cudaStream_t s) { silu_mul(gate_up, act.as<bf16>(), rows, inter, s); },
                  rng);
      if (rows <= kSkinnyGemmMaxRows) {
        const int n = 1024;
        auto w = upload_bf16(random_bf16_values(size_t(n) * hidden, rng, 0.05f));
        DeviceBuffer y(size_t(rows) * n * 4);
        check_chain(c, "skinny_gemm f32 out" + r, size_t(rows) * hidden, y, y.bytes(),
                    [&](const bf16* x, cudaStream_t s) {
                      skinny_gemm(x, w.as<bf16>(), y.data(), true, rows, n, hidden, 0.f, s);
                    }, rng);
      }
    }
  } catch (const std::exception& e) {
    std::printf("FAIL pdl_chain_test: %s\n", e.what());
    return 1;
  }
  return c.finish("pdl_chain_test");
}
