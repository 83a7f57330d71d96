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
#include "pdl_chain.cuh"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

// run(x) launches the kernel under test on x (bf16, in_count elements) into out (out_bytes); the same kernel with
// nothing overlapping is the reference.
void check_chain(Checker& c, const std::string& name, size_t in_count, const DeviceBuffer& out, size_t out_bytes,
                 const ChainRun& run, std::mt19937& rng) {
  cudaStream_t stream;
  PAGODA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  expect_pdl_chain_equal(c, name + ": PDL chain after a producer that writes its input: equal to no overlap, every rep",
                         in_count, out, out_bytes, run, run, rng, stream);
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
