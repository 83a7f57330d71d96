// Checks fp8_skinny_gemm (the FP8 per-channel decode GEMM for m = 1..256) on the GPU against float64
// references of the wave2 README's dequantization: on odd shapes (row blocks that are not whole,
// k that is not a whole number of chunks) at every m from 1 to 256 against the host reference,
// every config with forced split counts, and on the Llama-3-8B shapes (qkv, o_proj, gate_up,
// down) at m 1..256 (odd m included) against a float64 GPU kernel that decodes e4m3 by its formula
// (sign, exponent, mantissa: not the kernel's bit trick). Also: y written into a wider output
// (ldy > n) touches nothing else, a second run is bit-identical (fixed-order split sums, counters
// back at zero), bad arguments fail. `fp8_skinny_test small` leaves the Llama shapes out.
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backend/cuda/quant_kernels.h"
#include "test_support.h"
#include "reference.h"
#include "quant_checkpoints.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr int kMaxM = 256;

__device__ double e4m3_by_formula(uint8_t c) {
  const int e = (c >> 3) & 15, mant = c & 7;
  const double v = e == 0 ? mant * 0x1p-9 : (1.0 + mant / 8.0) * ldexp(1.0, e - 7);
  return (c & 0x80) ? -v : v;
}

// ref[r][o] = scale[o] * sum_i x[r][i] * e4m3(q[o][i]) in float64, one thread an output (the
// threads of a warp share a weight row: its bytes are read once a warp).
__global__ void reference_kernel(const bf16* x, const uint8_t* q, const float* scale, double* ref, int m, int n, int k) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= int64_t(m) * n) return;
  const int o = static_cast<int>(i / m), r = static_cast<int>(i % m);
  double s = 0;
  for (int j = 0; j < k; ++j) s += double(__bfloat162float(x[int64_t(r) * k + j])) * e4m3_by_formula(q[int64_t(o) * k + j]);
  ref[int64_t(r) * n + o] = s * double(scale[o]);
}

struct Run {
  int config = -1, splits = 0;
};

// One weight at the given m (each with the plan's choice and the extra runs) against ref (m x n).
void check_weight(Checker& c, const std::string& name, const HostQuantizedWeight& host, const std::vector<float>* dequant,
                  const std::vector<int>& ms, const std::vector<Run>& extra, std::mt19937& rng) {
  DeviceQuantizedWeight dev(host);
  const QuantizedWeight& w = dev.view();
  fp8_skinny_prepare();
  const int n = w.n, k = w.k, ldy = n + 24; // y as a part of a wider fused output
  const auto x_all = random_bf16_values(size_t(kMaxM) * k, rng);
  auto d_x = upload_bf16(x_all);
  std::vector<double> ref_all;
  if (dequant) {
    ref_all = ref_linear(x_all, *dequant, kMaxM, n, k);
  } else {
    DeviceBuffer d_ref(size_t(kMaxM) * n * sizeof(double));
    const int64_t total = int64_t(kMaxM) * n;
    reference_kernel<<<unsigned((total + 255) / 256), 256>>>(d_x.as<bf16>(), static_cast<const uint8_t*>(w.packed),
                                                             static_cast<const float*>(w.scales), d_ref.as<double>(),
                                                             kMaxM, n, k);
    PAGODA_CUDA_CHECK_LAUNCH("reference_kernel");
    ref_all = download<double>(d_ref, size_t(total));
  }
  size_t ws_bytes = 0;
  for (int m : ms) {
    ws_bytes = std::max(ws_bytes, fp8_skinny_workspace_bytes(w, m));
    for (const Run& r : extra) ws_bytes = std::max(ws_bytes, fp8_skinny_workspace_bytes(w, m, r.config, r.splits));
  }
  DeviceBuffer d_ws(ws_bytes);
  PAGODA_CUDA_CHECK(cudaMemset(d_ws.data(), 0, ws_bytes));
  DeviceBuffer d_y(size_t(kMaxM) * ldy * 2 + 256);
  std::string splits_used;
  for (int m : ms) {
    const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * n);
    double ref_max = 0;
    for (double v : ref) ref_max = std::max(ref_max, std::fabs(v));
    // bf16 output: a half ulp is 2^-9 of the value; f32 sums add a little.
    const double abs_limit = 4e-3 * ref_max + 1e-6;
    std::vector<Run> runs = {Run{}};
    runs.insert(runs.end(), extra.begin(), extra.end());
    for (const Run& run : runs) {
      poison(d_y);
      fp8_skinny_gemm(d_x.as<bf16>(), w, d_y.as<bf16>(), ldy, m, d_ws.data(), d_ws.bytes(), 0, run.config, run.splits);
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
      const auto raw = download<uint16_t>(d_y, size_t(kMaxM) * ldy + 128);
      std::vector<float> y(size_t(m) * n);
      bool outside_intact = true, elementwise = true;
      for (size_t i = 0; i < raw.size(); ++i) {
        const size_t r = i / ldy, col = i % ldy;
        if (r < size_t(m) && col < size_t(n)) {
          uint32_t bits = uint32_t(raw[i]) << 16;
          std::memcpy(&y[r * n + col], &bits, 4);
          const double d = std::fabs(y[r * n + col] - ref[r * n + col]);
          if (!(d <= std::fabs(ref[r * n + col]) / 256 + 1e-5 * ref_max)) elementwise = false;
        } else {
          outside_intact = outside_intact && raw[i] == 0xFFFF;
        }
      }
      const std::string tag = name + " m " + std::to_string(m) +
                              (run.config < 0 ? "" : " config " + std::to_string(run.config)) +
                              (run.splits == 0 ? "" : " splits " + std::to_string(run.splits));
      c.expect(tag, compare(y, ref), 3e-3, abs_limit);
      c.expect_true(tag + ": every element within bf16 rounding, nothing written outside y's m x n",
                    elementwise && outside_intact);
      if (run.config < 0 && run.splits == 0) {
        splits_used += (splits_used.empty() ? "" : " ") + std::to_string(m) + ":" + std::to_string(fp8_skinny_splits(w, m));
        // A second run: bit-identical (a counter left non-zero would skip or repeat the reduction).
        fp8_skinny_gemm(d_x.as<bf16>(), w, d_y.as<bf16>(), ldy, m, d_ws.data(), d_ws.bytes(), 0);
        const auto again = download<uint16_t>(d_y, size_t(kMaxM) * ldy + 128);
        bool same = true;
        for (int r = 0; r < m; ++r)
          for (int col = 0; col < n; ++col) same = same && again[size_t(r) * ldy + col] == raw[size_t(r) * ldy + col];
        c.expect_true(tag + ": a second run is bit-identical", same);
      }
    }
  }
  std::printf("info %s: m:splits %s\n", name.c_str(), splits_used.c_str());
}

void check_errors(Checker& c, std::mt19937& rng) {
  fp8_skinny_prepare();
  const Fp8 f = make_fp8(256, 128, false, rng), fb = make_fp8(256, 128, true, rng);
  DeviceQuantizedWeight dev(fp8_per_channel("e", f.weight.data(), f.scale.data(), 128, 256));
  DeviceQuantizedWeight block(fp8_block128("b", fb.weight.data(), fb.scale.data(), 128, 256));
  DeviceBuffer d(1 << 20);
  PAGODA_CUDA_CHECK(cudaMemset(d.data(), 0, d.bytes()));
  expect_refused(c, "fp8_skinny_gemm: m 257 is refused",
                 [&] { fp8_skinny_gemm(d.as<bf16>(), dev.view(), d.as<bf16>(), 128, 257, d.data(), d.bytes(), 0); },
                 "m must be 1..256");
  expect_refused(c, "fp8_skinny_gemm: 128x128 block scales are refused",
                 [&] { fp8_skinny_gemm(d.as<bf16>(), block.view(), d.as<bf16>(), 128, 1, d.data(), d.bytes(), 0); },
                 "per-channel");
  expect_refused(c, "fp8_skinny_gemm: no workspace is refused",
                 [&] { fp8_skinny_gemm(d.as<bf16>(), dev.view(), d.as<bf16>(), 128, 1, nullptr, 0, 0); }, "workspace");
  expect_refused(c, "fp8_skinny_gemm: ldy shorter than a row is refused",
                 [&] { fp8_skinny_gemm(d.as<bf16>(), dev.view(), d.as<bf16>(), 64, 1, d.data(), d.bytes(), 0); },
                 "row stride");
}

} // namespace

int main(int argc, char** argv) {
  skip_without_device("fp8_skinny_test");
  const bool small = argc > 1 && std::strcmp(argv[1], "small") == 0;
  std::mt19937 rng(1518);
  Checker c;
  try {
    std::vector<int> every_m;
    for (int m = 1; m <= kMaxM; ++m) every_m.push_back(m);
    // Every config with the plan's splits, one split, 3 (uneven) and one chunk a split.
    std::vector<Run> forced;
    for (int config = 0; config < 4; ++config)
      for (int s : {1, 3, 1000}) forced.push_back(Run{config, s});
    struct Shape {
      int n, k;
    };
    // 272 x 640: 17 row tiles, 2.5 chunks of 256; 96 x 1152: 4.5 chunks; 1040 x 2048: many row blocks.
    for (const Shape s : {Shape{272, 640}, Shape{96, 1152}, Shape{1040, 2048}}) {
      const Fp8 f = make_fp8(s.k, s.n, false, rng);
      const std::string shape = std::to_string(s.n) + "x" + std::to_string(s.k);
      const auto host = fp8_per_channel("f", f.weight.data(), f.scale.data(), s.n, s.k);
      check_weight(c, "fp8 per-channel " + shape, host, &f.dequant, every_m, {}, rng);
      check_weight(c, "fp8 per-channel forced " + shape, host, &f.dequant, {1, 37, 256}, forced, rng);
    }
    if (!small) {
      const Shape llama[] = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}};
      const char* names[] = {"qkv", "o_proj", "gate_up", "down"};
      const std::vector<int> ms = {1, 2, 3, 4, 7, 8, 9, 16, 17, 32, 33, 63, 64, 65, 100, 128, 129, 200, 255, 256};
      for (int i = 0; i < 4; ++i) {
        const Fp8 f = make_fp8(llama[i].k, llama[i].n, false, rng);
        check_weight(c, std::string("fp8 per-channel ") + names[i],
                     fp8_per_channel("f", f.weight.data(), f.scale.data(), llama[i].n, llama[i].k), nullptr, ms, {}, rng);
      }
    }
    check_errors(c, rng);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("fp8_skinny_test");
}
