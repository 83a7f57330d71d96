// Runs fp8_mma_gemm's kernel source (fp8_mma_gemm_kernel.cuh) on the host, without a GPU (host_emulation.h: a CTA's
// threads as fibers), with a warp-wide model of mma.sync m16n8k32 e4m3 written from the PTX ISA's fragment layout
// and of __shfl_xor_sync: the x quantization into shared memory, the weight ring across passes, the k split and the
// cross-warp sums, against the float64 reference of the same codes and scales (fp8_mma_reference.h). Per-channel and
// 128x128 block weights, x per token and per 128 columns, m 1..8, plans of one to 16 warps, several passes a CTA,
// ldy > n; the identity weight reads every x code and scale back exactly (zeros of either sign alike), from raw x and
// from x fake-quantized first, with -0 codes planted in every row; the refusals, which come before any CUDA call.
// What it cannot show: timing, the hardware's accumulation, PDL (fp8_mma_gemm_test does those on the GPU).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::fp8mma
#include "host_emulation.h"
#include "emulation_checks.h"
#include "fp8_mma_reference.h"

#include "backend/cuda/quant_kernels.h"

namespace emu {
inline float xchg[kMaxThreads / 32][32];
// PTX "Matrix Fragments for mma.m16n8k32" (.e4m3): A register 0 row g k 4t..4t+3, 1 row g+8 same k, 2 row g
// k 16+4t.., 3 row g+8 k 16+4t..; B register 0 k 4t..4t+3 column g, 1 k 16+4t.. column g; byte j of a register is
// k + j; C/D element e: row g + 8 (e >> 1), column 2t + (e & 1).
inline void compute_mma_e4m3(WarpMma& w) {
  auto byte = [](uint32_t v, int j) { return uint8_t(v >> (8 * j)); };
  auto A = [&](int row, int k) {
    const int lane = (row % 8) * 4 + (k % 16) / 4, reg = (row >= 8 ? 1 : 0) + (k >= 16 ? 2 : 0);
    return pagoda::cuda::test::e4m3_value(byte(w.a[lane][reg], k % 4));
  };
  auto B = [&](int k, int col) {
    const int lane = col * 4 + (k % 16) / 4, reg = k >= 16 ? 1 : 0;
    return pagoda::cuda::test::e4m3_value(byte(w.b[lane][reg], k % 4));
  };
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int e = 0; e < 4; ++e) {
      const int row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
      double s = w.c[lane][e];
      for (int k = 0; k < 32; ++k) s += double(A(row, k)) * double(B(k, col));
      w.d[lane][e] = static_cast<float>(s);
    }
  }
}
} // namespace emu

namespace pagoda::cuda::fp8mma {
inline emu::Dim blockDim;
inline float __shfl_xor_sync(unsigned, float v, int o) {
  const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);
  emu::xchg[warp][lane] = v;
  emu::warp_sync[warp].wait(32);
  const float r = emu::xchg[warp][lane ^ o];
  emu::warp_sync[warp].wait(32); // nobody overwrites xchg before every lane has read
  return r;
}
inline void mma_e4m3(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  warp_mma(c, a0, a1, a2, a3, b0, b1, emu::compute_mma_e4m3);
}
} // namespace pagoda::cuda::fp8mma

#define FP8MMA_DEVICE inline
#define FP8MMA_KERNEL void
#define FP8MMA_SMEM(name) unsigned char* name = emu::shared_memory
#include "backend/cuda/fp8_mma_gemm_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

using Kernel = void (*)(const fp8mma::Params);
template <bool XG, bool WB> Kernel kernel_for(int depth) {
  return depth == 2 ? fp8mma::fp8_mma_gemm_kernel<XG, WB, 2> : fp8mma::fp8_mma_gemm_kernel<XG, WB, 4>;
}
Kernel kernel_for(bool xg, bool wb, int depth) {
  if (xg) return wb ? kernel_for<true, true>(depth) : kernel_for<true, false>(depth);
  return wb ? kernel_for<false, true>(depth) : kernel_for<false, false>(depth);
}

constexpr int kSms = 3; // an emulated device this small makes CTAs run several passes

// Runs the kernel as fp8_mma_gemm would with `resident` CTAs an SM; y is [m + 1][ldy] bf16 bits, 0xFFFF at first.
std::string run(const Fp8& w, const HostQuantizedWeight& h, const std::vector<bf16>& x, int m, int group, int ldy,
                const Fp8MmaConfig& cfg, int resident, std::vector<uint16_t>& y, Fp8MmaPlan& plan) {
  const bool xg = group == 128, wb = w.block;
  plan = plan_fp8_mma(w.out, w.in, m, xg, kSms, cfg);
  const int wave = kSms * resident, rounds = (plan.passes + wave - 1) / wave;
  plan.grid = (plan.passes + rounds - 1) / rounds;
  y.assign(size_t(m + 1) * ldy, 0xFFFF);
  fp8mma::Params p;
  p.x = x.data();
  p.w = h.packed.data();
  p.w_scales = h.scales_f32.data();
  p.scale_row_stride = h.scale_index.row_stride;
  p.y = reinterpret_cast<bf16*>(y.data());
  p.ldy = ldy;
  p.m = m;
  p.k = w.in;
  p.split = plan.split;
  p.tiles_per_pass = plan.tiles_per_pass;
  p.passes = plan.passes;
  fp8mma::blockDim = {unsigned(plan.warps * 32), 1, 1};
  const Kernel kernel = kernel_for(xg, wb, plan.depth);
  return emu::run_grid(dim3(plan.grid, 1, 1), size_t(plan.smem), [&] { kernel(p); }, plan.warps * 32);
}

std::vector<float> values(const std::vector<uint16_t>& bits) {
  std::vector<float> v(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) {
    const uint32_t b = uint32_t(bits[i]) << 16;
    std::memcpy(&v[i], &b, 4);
  }
  return v;
}

HostQuantizedWeight host_weight(const Fp8& w) {
  return w.block ? fp8_block128("w", w.weight.data(), w.scale.data(), w.out, w.in)
                 : fp8_per_channel("w", w.weight.data(), w.scale.data(), w.out, w.in);
}

void check_case(Checker& c, const std::string& name, const Fp8& w, const std::vector<float>& xf, int m, int group,
                const Fp8MmaConfig& cfg, int resident, int ldy) {
  const HostQuantizedWeight h = host_weight(w);
  std::vector<uint8_t> qx;
  std::vector<float> sx;
  ref_codes(xf, m, w.in, group, qx, sx);
  std::vector<double> ref, mag;
  reference(w, qx, sx, m, group, ref, mag);
  std::vector<uint16_t> y;
  Fp8MmaPlan plan;
  const std::string fault = run(w, h, to_bf16(xf), m, group, ldy, cfg, resident, y, plan);
  const std::string tag = name + " m " + std::to_string(m) + (group == 128 ? " x/128" : " x/token") + " S " +
                          std::to_string(plan.split) + " T " + std::to_string(plan.tiles_per_pass) + " D " +
                          std::to_string(plan.depth) + " grid " + std::to_string(plan.grid) + " passes " +
                          std::to_string(plan.passes);
  if (!ran(c, tag, ": runs to the end", fault)) return;
  int bad = 0;
  const double worst = worst_ratio(values(y), ldy, 0, ref, mag, m, w.out, &bad);
  c.expect_true(tag, bad == 0, "worst error / limit " + std::to_string(worst) + ", " + std::to_string(bad) + " outside");
  const size_t touched = written_outside(y, m + 1, ldy, m, w.out);
  c.expect_true(tag + ": nothing written outside y", touched == 0, std::to_string(touched) + " elements");
}

void check_codes(Checker& c, std::mt19937& rng) {
  const int k = 256, m = 8;
  for (bool block : {false, true})
    for (int group : {k, 128}) {
      const Fp8 w = identity_weight(k, block);
      const HostQuantizedWeight h = host_weight(w);
      std::vector<float> x = make_x(m, k, rng);
      plant_zero_codes(x, m, k);
      const std::vector<float> xf = fake_quantized(x, m, k, group);
      std::vector<uint8_t> q;
      std::vector<float> s;
      ref_codes(x, m, k, group, q, s);
      for (int input = 0; input < 2; ++input) {
        std::vector<uint8_t> qq;
        std::vector<float> ss;
        ref_codes(input ? xf : x, m, k, group, qq, ss);
        std::vector<uint16_t> y;
        Fp8MmaPlan plan;
        const std::string tag = std::string("identity weight ") + (block ? "block128" : "per-channel") +
                                (group == 128 ? " x/128" : " x/token") + (input ? ", x fake-quantized first" : ", raw x");
        const std::string fault = run(w, h, to_bf16(input ? xf : x), m, group, k, Fp8MmaConfig{}, 2, y, plan);
        if (!ran(c, tag, ": runs to the end", fault)) continue;
        std::string first;
        size_t neg_zero = 0, codes_moved = 0;
        const size_t wrong = identity_mismatches(y, k, qq, ss, m, k, group, &first, &neg_zero);
        for (size_t i = 0; i < q.size(); ++i) codes_moved += qq[i] != q[i];
        c.expect_true(tag + ": every x code and scale read back exactly", wrong == 0,
                      std::to_string(wrong) + " of " + std::to_string(m * k) + " differ" + first);
        c.expect_true(tag + ": x holds -0 codes (read back as zeros)", neg_zero > 0,
                      std::to_string(neg_zero) + " codes 0x80");
        if (input) c.expect_true(tag + ": the codes of x", codes_moved == 0, std::to_string(codes_moved) + " moved");
      }
    }
}

// The refusals, none of which reaches the device (fp8_mma_gemm checks its arguments before any CUDA call): the fp8
// weight constructors refuse k 192, so fp8_mma_gemm's own k / n checks are reached through views no constructor
// makes (fp8_mma_gemm_test on the H200 died when it built such a weight outside the refusal check).
void check_refusals(Checker& c, std::mt19937& rng) {
  const Fp8 odd = make_fp8(192, 64, false, rng), odd_block = make_fp8(192, 64, true, rng);
  expect_refused(c, "fp8 per-channel weight: k 192 refused at construction",
                 [&] { fp8_per_channel("o", odd.weight.data(), odd.scale.data(), 64, 192); }, "multiple of 128");
  expect_refused(c, "fp8 block128 weight: k 192 refused at construction",
                 [&] { fp8_block128("o", odd_block.weight.data(), odd_block.scale.data(), 64, 192); },
                 "multiple of 128");
  const Fp8 w = make_fp8(256, 64, false, rng);
  const HostQuantizedWeight h = host_weight(w);
  QuantizedWeight v;
  v.format = h.format;
  v.n = h.n;
  v.k = h.k;
  v.packed = h.packed.data();
  v.scales = h.scales_f32.data();
  v.scale_index = h.scale_index;
  std::vector<bf16> buf(size_t(16) * 256);
  auto call = [&](const QuantizedWeight& q, int ldy, int m, int group) {
    fp8_mma_gemm(buf.data(), q, buf.data(), ldy, m, group, 0);
  };
  QuantizedWeight k192 = v, n40 = v, int4 = v;
  k192.k = 192;
  n40.n = 40;
  int4.format = QuantFormat::kInt4;
  expect_refused(c, "fp8_mma_gemm: a view with k 192 fails", [&] { call(k192, 64, 1, 192); }, "k 192 must be");
  expect_refused(c, "fp8_mma_gemm: a view with n 40 fails", [&] { call(n40, 64, 1, 256); }, "n 40 of 16");
  expect_refused(c, "fp8_mma_gemm: m 9 fails", [&] { call(v, 64, 9, 256); }, "m 9");
  expect_refused(c, "fp8_mma_gemm: ldy below n fails", [&] { call(v, 32, 1, 256); }, "ldy");
  expect_refused(c, "fp8_mma_gemm: activation groups of 64 fail", [&] { call(v, 64, 1, 64); }, "activation groups");
  expect_refused(c, "fp8_mma_gemm: an int4 weight fails", [&] { call(int4, 64, 1, 256); }, "not fp8");
}

} // namespace

int main() {
  return run_checks("fp8_mma_gemm_emulation_test", 1551, [](Checker& c, std::mt19937& rng) {
    struct Shape {
      int n, k;
      std::vector<int> ms;
    };
    const std::vector<Shape> shapes = {{16, 256, {1, 3, 8}}, {48, 384, {2, 8}}, {256, 512, {1, 5, 8}}};
    for (const Shape& s : shapes)
      for (bool block : {false, true}) {
        const Fp8 w = make_fp8(s.k, s.n, block, rng);
        const std::string name = std::string(block ? "block128 " : "per-channel ") + std::to_string(s.n) + "x" +
                                 std::to_string(s.k);
        for (int m : s.ms) {
          const std::vector<float> x = make_x(m, s.k, rng);
          for (int group : {s.k, 128}) check_case(c, name, w, x, m, group, Fp8MmaConfig{}, 2, s.n + (m == 3 ? 24 : 0));
        }
      }
    // Every plan shape on one weight (96 tiles over 3 emulated SMs): several passes a CTA with one warp a tile
    // (direct stores) and with the cross-warp sum's two buffers, 16 warps, depth 2 and 4, a ring longer than a pass.
    for (bool block : {false, true}) {
      const Fp8 w = make_fp8(512, 1536, block, rng);
      const std::vector<float> x = make_x(6, 512, rng);
      const std::string name = std::string(block ? "block128 " : "per-channel ") + "1536x512";
      for (const Fp8MmaConfig cfg : {Fp8MmaConfig{1, 1, 1, 4}, Fp8MmaConfig{1, 4, 1, 2}, Fp8MmaConfig{2, 2, 1, 2},
                                     Fp8MmaConfig{2, 8, 1, 4}, Fp8MmaConfig{4, 16, 1, 4}, Fp8MmaConfig{4, 4, 2, 4}})
        check_case(c, name, w, x, 6, block ? 128 : 512, cfg, cfg.ctas_per_sm, 1536);
    }
    // A long row over few threads: the x quantization's batches of 4 loads a thread, several rounds and a tail.
    for (bool block : {false, true}) {
      const Fp8 w = make_fp8(2176, 32, block, rng); // 17 groups of 128
      const std::vector<float> x = make_x(3, 2176, rng);
      const std::string name = std::string(block ? "block128 " : "per-channel ") + "32x2176";
      for (int group : {2176, 128})
        for (const Fp8MmaConfig cfg : {Fp8MmaConfig{1, 1, 1, 4}, Fp8MmaConfig{1, 2, 1, 2}})
          check_case(c, name, w, x, 3, group, cfg, 1, 40);
    }
    check_codes(c, rng);
    check_refusals(c, rng);
  });
}
