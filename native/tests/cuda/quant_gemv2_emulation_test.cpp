// Runs quant_gemv2's kernel source (quant_gemv2_kernel.cuh) on the host, without a GPU, so its
// indexing is checked where no device is: each CTA's 256 threads are fibers (ucontext) that switch
// at __syncthreads and at every mma, which is modelled warp-wide from the PTX fragment layouts of
// m16n8k16 (bf16 in, f32 out). The repacked GPTQ / AWQ / fp8 weights of quantized_repack.cpp are
// multiplied at m 1, 3, 8 with 2, 4 and 8 tiles a CTA and several split counts, and compared with the wave2 README's
// dequantization (host reference); y is written into a wider output (ldy > n) that must stay
// untouched elsewhere, the split counters must be back at zero, and nothing may be written past the
// dynamic shared memory the launch sizes (a guard). What it cannot show: timing,
// the real memory model, the hardware's own mma and conversions (quant_gemv2_test does that on the GPU).
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/quantized_weight.h"
#include "quant_checkpoints.h"
#include "test_support.h"
#include "reference.h"

// ---- the primitives the kernel source expects, on the host ----
namespace emu {

struct Dim {
  unsigned x = 0, y = 0, z = 0;
};

constexpr int kThreads = 256;

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done = false;
};

ucontext_t scheduler;
Fiber fibers[kThreads];
int current = 0;
long progress = 0; // barriers completed and fibers finished: no change in a whole pass = deadlock

void yield() { swapcontext(&fibers[current].ctx, &scheduler); }

struct Barrier {
  int arrived = 0;
  long generation = 0;
  void wait(int count) {
    const long g = generation;
    if (++arrived == count) {
      arrived = 0;
      ++generation;
      ++progress;
      return;
    }
    while (generation == g) yield();
  }
};
Barrier cta_barrier;

// One warp's m16n8k16 in flight: every lane deposits its fragments, the 32nd computes all lanes'.
struct WarpMma {
  Barrier barrier;
  uint32_t a[32][4], b[32][2];
  float c[32][4], d[32][4];
};
WarpMma warps[kThreads / 32];

unsigned char* shared_memory = nullptr;

float bf16_half(uint32_t v, int high) {
  const uint32_t bits = high ? (v & 0xFFFF0000u) : (v << 16);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// PTX m16n8k16 .bf16 fragments (lane = 4 group + t): A reg 0 (row g, k 2t..2t+1), 1 (row g+8,
// same k), 2 (row g, k 2t+8..), 3 (row g+8, k 2t+8..); B reg 0 (k 2t..2t+1, column g), 1 (k 2t+8..);
// C/D element e: row g + 8 (e >> 1), column 2t + (e & 1). The lower half of a register is the
// lower k.
void compute_mma(WarpMma& w) {
  auto A = [&](int row, int k) {
    const int lane = (row % 8) * 4 + (k % 8) / 2, reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
    return bf16_half(w.a[lane][reg], k % 2);
  };
  auto B = [&](int k, int col) {
    const int lane = col * 4 + (k % 8) / 2, reg = k >= 8 ? 1 : 0;
    return bf16_half(w.b[lane][reg], k % 2);
  };
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int e = 0; e < 4; ++e) {
      const int row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
      double s = w.c[lane][e];
      for (int k = 0; k < 16; ++k) s += double(A(row, k)) * double(B(k, col));
      w.d[lane][e] = static_cast<float>(s);
    }
  }
}

} // namespace emu

namespace pagoda::cuda::gemv2 {
// Shadow CUDA's names for the kernel source below (unqualified lookup finds these first).
emu::Dim threadIdx, blockIdx, gridDim; // one OS thread runs every fiber
inline void __syncthreads() { emu::cta_barrier.wait(emu::kThreads); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
template <typename T> T __ldcs(const T* p) { return *p; }
template <typename T> T __ldcg(const T* p) { return *p; }
inline uint32_t __byte_perm(uint32_t x, uint32_t y, uint32_t s) {
  const uint64_t bytes = (uint64_t(y) << 32) | x;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= uint32_t((bytes >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
  return r;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline void pdl_wait() {}
inline void pdl_launch_dependents() {}
inline void mma_bf16_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  emu::WarpMma& w = emu::warps[threadIdx.x / 32];
  const uint32_t a[4] = {a0, a1, a2, a3};
  for (int i = 0; i < 4; ++i) w.a[lane][i] = a[i], w.c[lane][i] = c[i];
  w.b[lane][0] = b0;
  w.b[lane][1] = b1;
  if (w.barrier.arrived + 1 == 32) emu::compute_mma(w); // the last lane in computes for all
  w.barrier.wait(32);
  for (int i = 0; i < 4; ++i) c[i] = w.d[lane][i];
}
} // namespace pagoda::cuda::gemv2

#define GEMV2_DEVICE inline
#define GEMV2_KERNEL(threads, min_blocks) void
#define GEMV2_DYNAMIC_SMEM(name) unsigned char* name = emu::shared_memory
#define GEMV2_SHARED static
#include "backend/cuda/quant_gemv2_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

using KernelFn = void (*)(QuantizedWeight, gemv2::Gemv2Args);
KernelFn g_kernel;
float bf16_half_to_float(uint16_t bits) { return emu::bf16_half(bits, 0); }
QuantizedWeight g_w;
gemv2::Gemv2Args g_args;

void fiber_main() {
  g_kernel(g_w, g_args);
  emu::fibers[emu::current].done = true;
  ++emu::progress;
  swapcontext(&emu::fibers[emu::current].ctx, &emu::scheduler);
}

// One grid, CTA after CTA. Returns "" or what went wrong: a deadlock (a pass in which no fiber
// got anywhere) or a write past the dynamic shared memory the launch gives (a guard after it).
constexpr size_t kGuardBytes = 4096;
std::string run_grid(KernelFn kernel, const QuantizedWeight& w, const gemv2::Gemv2Args& args, int row_blocks, int splits,
                     size_t smem) {
  std::vector<unsigned char> shared(smem + kGuardBytes);
  emu::shared_memory = shared.data();
  g_kernel = kernel;
  g_w = w;
  g_args = args;
  for (int by = 0; by < splits; ++by)
    for (int bx = 0; bx < row_blocks; ++bx) {
      std::fill(shared.begin(), shared.begin() + smem, 0xFF); // unstaged shared memory reads as NaN
      std::fill(shared.begin() + smem, shared.end(), 0xAB);
      emu::cta_barrier = emu::Barrier{};
      for (auto& wm : emu::warps) wm.barrier = emu::Barrier{};
      for (int i = 0; i < emu::kThreads; ++i) {
        emu::Fiber& f = emu::fibers[i];
        f.stack.resize(256 * 1024);
        f.done = false;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack.data();
        f.ctx.uc_stack.ss_size = f.stack.size();
        f.ctx.uc_link = &emu::scheduler;
        makecontext(&f.ctx, fiber_main, 0);
      }
      int live = emu::kThreads;
      while (live > 0) {
        const long before = emu::progress;
        live = 0;
        for (int i = 0; i < emu::kThreads; ++i) {
          if (emu::fibers[i].done) continue;
          emu::current = i;
          gemv2::threadIdx = {unsigned(i), 0, 0};
          gemv2::blockIdx = {unsigned(bx), unsigned(by), 0};
          gemv2::gridDim = {unsigned(row_blocks), unsigned(splits), 1};
          swapcontext(&emu::scheduler, &emu::fibers[i].ctx);
          if (!emu::fibers[i].done) ++live;
        }
        if (live > 0 && emu::progress == before) return "deadlock: threads left waiting at a barrier";
      }
      if (!std::all_of(shared.begin() + smem, shared.end(), [](unsigned char b) { return b == 0xAB; }))
        return "a write past the " + std::to_string(smem) + " bytes of dynamic shared memory";
    }
  return "";
}

struct Case {
  std::string name;
  HostQuantizedWeight host;
  std::vector<float> dequant;
};

void check_case(Checker& c, const Case& cs, std::mt19937& rng) {
  const HostQuantizedWeight& h = cs.host;
  QuantizedWeight w;
  w.format = h.format;
  w.n = h.n;
  w.k = h.k;
  w.group_size = h.group_size;
  w.packed = h.packed.data();
  w.scales = h.format == QuantFormat::kInt4 ? static_cast<const void*>(h.scales_f16.data())
                                            : static_cast<const void*>(h.scales_f32.data());
  w.scale_index = h.scale_index;
  w.zeros = h.zeros.empty() ? nullptr : h.zeros.data();
  w.perm = h.perm.empty() ? nullptr : h.perm.data();
  const int n = w.n, k = w.k, ldy = n + 8, groups = k / w.group_size;
  const auto x_all = random_bf16_values(size_t(8) * k, rng);
  const auto ref_all = ref_linear(x_all, cs.dequant, 8, n, k);
  for (int m : {1, 3, 8}) {
    // x as the kernel reads it: bf16, in the packed column order (act-order: gathered by perm).
    std::vector<bf16> x(size_t(m) * k);
    for (int r = 0; r < m; ++r)
      for (int j = 0; j < k; ++j) x[size_t(r) * k + j] = __float2bfloat16(x_all[size_t(r) * k + (w.perm ? w.perm[j] : j)]);
    const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * n);
    double ref_max = 0;
    for (double v : ref) ref_max = std::max(ref_max, std::fabs(v));
    for (int tiles : {2, 4, 8})
    for (int splits = 1; splits <= groups; ++splits) {
      const int row_blocks = (n / 16 + tiles - 1) / tiles;
      const int cta_groups_max = (groups + splits - 1) / splits;
      const size_t smem = gemv2::gemv2_smem_bytes(w, m, cta_groups_max, tiles);
      if (smem > gemv2::kSmemLimit) continue;
      // Default tiles: splits 1, 2, 3 and the most (uneven and single-group splits); 2 and 8 tiles: 1 and 3.
      if (tiles == gemv2::kDefaultTiles ? (splits > 3 && splits != groups) : (splits != 1 && splits != 3)) continue;
      std::vector<int> counters(size_t(row_blocks), 0);
      std::vector<float> partials(size_t(splits) * m * n, std::nanf(""));
      std::vector<uint16_t> y(size_t(m) * ldy + 64, 0xFFFF);
      gemv2::Gemv2Args a{};
      a.x = x.data();
      a.y = reinterpret_cast<bf16*>(y.data());
      a.ldy = ldy;
      a.m = m;
      a.cta_groups_max = cta_groups_max;
      a.partials = partials.data();
      a.counters = counters.data();
      const std::string tag = cs.name + " m " + std::to_string(m) + " tiles " + std::to_string(tiles) + " splits " +
                              std::to_string(splits);
      const std::string fault = run_grid(gemv2::gemv2_kernel_for(w, tiles), w, a, row_blocks, splits, smem);
      if (!fault.empty()) {
        c.expect_true(tag + ": runs to the end within its shared memory", false, fault);
        continue;
      }
      std::vector<float> out(size_t(m) * n);
      bool outside = true;
      for (size_t i = 0; i < y.size(); ++i) {
        const size_t r = i / ldy, col = i % ldy;
        if (r < size_t(m) && col < size_t(n)) out[r * n + col] = bf16_half_to_float(y[i]);
        else outside = outside && y[i] == 0xFFFF;
      }
      c.expect(tag, compare(out, ref), 6e-3, 8e-3 * ref_max + 1e-3);
      c.expect_true(tag + ": nothing outside y's m x n written, counters back at 0",
                    outside && std::all_of(counters.begin(), counters.end(), [](int v) { return v == 0; }));
    }
  }
}

} // namespace

int main() {
  std::mt19937 rng(1517);
  Checker c;
  try {
    struct Shape { int n, k; };
    // 80 rows: a full 64-row block and one with a single live tile; 272 x 1152: 17 tiles, 9
    // groups of 128 (uneven splits) or 18 of 64.
    for (const Shape s : {Shape{80, 640}, Shape{272, 1152}}) {
      const std::string shape = " " + std::to_string(s.n) + "x" + std::to_string(s.k);
      std::vector<Case> cases;
      {
        const Gptq g = make_gptq(s.k, s.n, 128, false, false, rng);
        cases.push_back({"gptq g128" + shape, repack_gptq("g", g.qweight.data(), g.qzeros.data(), g.scales.data(), nullptr, s.k, s.n, 128), g.dequant});
      }
      {
        const Gptq g = make_gptq(s.k, s.n, 64, false, false, rng);
        cases.push_back({"gptq g64" + shape, repack_gptq("g", g.qweight.data(), g.qzeros.data(), g.scales.data(), nullptr, s.k, s.n, 64), g.dequant});
      }
      {
        const Gptq g = make_gptq(s.k, s.n, 128, true, true, rng);
        cases.push_back({"gptq act-order" + shape, repack_gptq("g", g.qweight.data(), g.qzeros.data(), g.scales.data(), g.g_idx.data(), s.k, s.n, 128), g.dequant});
      }
      {
        const Awq a = make_awq(s.k, s.n, 128, rng);
        cases.push_back({"awq" + shape, repack_awq("a", a.qweight.data(), a.qzeros.data(), a.scales.data(), s.k, s.n, 128), a.dequant});
      }
      for (bool block : {false, true}) {
        const Fp8 f = make_fp8(s.k, s.n, block, rng);
        cases.push_back({std::string(block ? "fp8 block128" : "fp8 per-channel") + shape,
                         block ? fp8_block128("f", f.weight.data(), f.scale.data(), s.n, s.k)
                               : fp8_per_channel("f", f.weight.data(), f.scale.data(), s.n, s.k),
                         f.dequant});
      }
      for (const Case& cs : cases) check_case(c, cs, rng);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("quant_gemv2_emulation_test");
}
