// Runs fp8_skinny_gemm's kernel source (fp8_skinny_kernel.cuh) on the host, without a GPU, so its
// indexing, shared-memory swizzles, cp.async pipeline counts, split-K reduction and e4m3 -> bf16
// conversion are checked where no device is: each CTA's 256 threads are fibers (ucontext) that switch
// at __syncthreads and at every mma (modelled warp-wide from the PTX m16n8k16 fragment layouts, as in
// quant_gemv2_emulation_test). cp.async copies are deferred to the cp.async.wait_group that retires
// them, so reading a stage before its group is waited for reads stale bytes (shared memory starts as
// 0xFF: NaN). fp8 per-channel weights from quantized_repack.cpp are multiplied at m 1..256 with every
// config and several split counts, against the wave2 README's dequantization (float64); y is written
// into a wider output (ldy > n) that must stay untouched elsewhere, the split counters must be back at
// zero, nothing may be written past the dynamic shared memory (a guard). What it cannot show: timing,
// the real memory model, the hardware's own mma and conversions (fp8_skinny_test does that on the GPU).
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
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

namespace emu {
// cp.async groups per thread: copies wait in the open group until committed, and happen when a
// cp.async.wait_group retires their group.
struct Copy {
  void* dst;
  const void* src;
  bool valid;
};
struct AsyncGroups {
  std::vector<Copy> open;
  std::deque<std::vector<Copy>> committed;
};
AsyncGroups async_groups[kThreads];
void perform(const std::vector<Copy>& g) {
  for (const Copy& c : g) {
    if (c.valid) std::memcpy(c.dst, c.src, 16);
    else std::memset(c.dst, 0, 16);
  }
}
} // namespace emu

namespace pagoda::cuda::fp8skinny {
// Shadow CUDA's names for the kernel source below (unqualified lookup finds these first).
emu::Dim threadIdx, blockIdx, gridDim; // one OS thread runs every fiber
inline void __syncthreads() { emu::cta_barrier.wait(emu::kThreads); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
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
inline void fp8s_cp_async_16(void* dst, const void* src, bool valid) {
  emu::async_groups[threadIdx.x].open.push_back({dst, src, valid});
}
inline void cp_async_commit() {
  auto& a = emu::async_groups[threadIdx.x];
  a.committed.push_back(std::move(a.open));
  a.open.clear();
}
template <int N> void cp_async_wait() {
  auto& a = emu::async_groups[threadIdx.x];
  while (static_cast<int>(a.committed.size()) > N) {
    emu::perform(a.committed.front());
    a.committed.pop_front();
  }
}
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
} // namespace pagoda::cuda::fp8skinny

#define FP8S_DEVICE inline
#define FP8S_KERNEL(threads, min_blocks) void
#define FP8S_DYNAMIC_SMEM(name) unsigned char* name = emu::shared_memory
#define FP8S_SHARED static
#include "backend/cuda/fp8_skinny_kernel.cuh"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

fp8skinny::KernelFn g_kernel;
QuantizedWeight g_w;
fp8skinny::Args g_args;

void fiber_main() {
  g_kernel(g_w, g_args);
  emu::fibers[emu::current].done = true;
  ++emu::progress;
  swapcontext(&emu::fibers[emu::current].ctx, &emu::scheduler);
}

// One grid, CTA after CTA. Returns "" or what went wrong: a deadlock, a write past the dynamic
// shared memory (a guard after it), or cp.async copies never waited for.
constexpr size_t kGuardBytes = 4096;
std::string run_grid(fp8skinny::KernelFn kernel, const QuantizedWeight& w, const fp8skinny::Args& args, dim3 grid,
                     size_t smem) {
  std::vector<unsigned char> shared(smem + kGuardBytes);
  emu::shared_memory = shared.data();
  g_kernel = kernel;
  g_w = w;
  g_args = args;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::fill(shared.begin(), shared.begin() + smem, 0xFF); // unstaged shared memory reads as NaN
        std::fill(shared.begin() + smem, shared.end(), 0xAB);
        emu::cta_barrier = emu::Barrier{};
        for (auto& wm : emu::warps) wm.barrier = emu::Barrier{};
        for (int i = 0; i < emu::kThreads; ++i) {
          emu::async_groups[i] = emu::AsyncGroups{};
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
            fp8skinny::threadIdx = {unsigned(i), 0, 0};
            fp8skinny::blockIdx = {bx, by, bz};
            fp8skinny::gridDim = {grid.x, grid.y, grid.z};
            swapcontext(&emu::scheduler, &emu::fibers[i].ctx);
            if (!emu::fibers[i].done) ++live;
          }
          if (live > 0 && emu::progress == before) return "deadlock: threads left waiting at a barrier";
        }
        if (!std::all_of(shared.begin() + smem, shared.end(), [](unsigned char b) { return b == 0xAB; }))
          return "a write past the " + std::to_string(smem) + " bytes of dynamic shared memory";
        for (const auto& a : emu::async_groups)
          if (!a.open.empty() || !a.committed.empty()) return "cp.async copies left without a wait";
      }
  return "";
}

struct Case {
  std::string name;
  HostQuantizedWeight host;
  std::vector<float> dequant;
};

// resident: the resident-CTA count the plan assumes (the GPU's occupancy x SMs at load).
void run_one(Checker& c, const Case& cs, const std::vector<float>& x_all, const std::vector<double>& ref_all, int m,
             int config, int splits_arg, int resident) {
  const HostQuantizedWeight& h = cs.host;
  QuantizedWeight w;
  w.format = h.format;
  w.n = h.n;
  w.k = h.k;
  w.group_size = h.group_size;
  w.packed = h.packed.data();
  w.scales = h.scales_f32.data();
  w.scale_index = h.scale_index;
  const int n = w.n, k = w.k, ldy = n + 8;
  const fp8skinny::Plan p = fp8skinny::make_plan(n, k, m, config, resident, splits_arg);
  const fp8skinny::CfgInfo ci = fp8skinny::cfg_info(config);
  std::vector<bf16> x(size_t(m) * k);
  for (size_t i = 0; i < x.size(); ++i) x[i] = __float2bfloat16(x_all[i]);
  const std::vector<double> ref(ref_all.begin(), ref_all.begin() + size_t(m) * n);
  double ref_max = 0;
  for (double v : ref) ref_max = std::max(ref_max, std::fabs(v));
  std::vector<int> counters(size_t(p.token_blocks) * p.row_blocks, 0);
  std::vector<float> partials(size_t(p.splits) * m * n, std::nanf(""));
  std::vector<uint16_t> y(size_t(m) * ldy + 64, 0xFFFF);
  fp8skinny::Args a{};
  a.x = x.data();
  a.y = reinterpret_cast<bf16*>(y.data());
  a.ldy = ldy;
  a.m = m;
  a.splits = p.splits;
  a.chunks_per_split = p.chunks_per_split;
  a.partials = p.splits > 1 ? partials.data() : nullptr;
  a.counters = counters.data();
  const std::string tag = cs.name + " m " + std::to_string(m) + " config " + std::to_string(config) + " splits " +
                          std::to_string(p.splits);
  const std::string fault = run_grid(fp8skinny::kernel_of(config), w, a, dim3(p.token_blocks, p.row_blocks, p.splits),
                                     size_t(ci.smem));
  if (!fault.empty()) {
    c.expect_true(tag + ": runs to the end within its shared memory", false, fault);
    return;
  }
  std::vector<float> out(size_t(m) * n);
  bool outside = true;
  for (size_t i = 0; i < y.size(); ++i) {
    const size_t r = i / ldy, col = i % ldy;
    if (r < size_t(m) && col < size_t(n)) out[r * n + col] = emu::bf16_half(y[i], 0);
    else outside = outside && y[i] == 0xFFFF;
  }
  // f32 accumulation and one bf16 rounding of the output: each element within 2^-8 of |ref| plus a
  // little (the f32 sums), and the whole within bf16's rounding in L2.
  bool elementwise = true;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::fabs(out[i] - ref[i]) <= std::fabs(ref[i]) * (1.0 / 256) + 1e-5 * ref_max)) elementwise = false;
  c.expect(tag, compare(out, ref), 3e-3, 4e-3 * ref_max + 1e-6);
  c.expect_true(tag + ": every element within bf16 rounding, nothing outside y's m x n written, counters back at 0",
                elementwise && outside && std::all_of(counters.begin(), counters.end(), [](int v) { return v == 0; }));
}

} // namespace

int main() {
  std::mt19937 rng(1515);
  Checker c;
  try {
    struct Shape {
      int n, k;
    };
    // 272 x 640: 17 row tiles of 16 (no config's row block is whole at the end), k 2.5 chunks of
    // 256 and 5 of 128; 96 x 1152: 4.5 chunks of 256, 9 of 128.
    for (const Shape s : {Shape{272, 640}, Shape{96, 1152}}) {
      const Fp8 f = make_fp8(s.k, s.n, false, rng);
      const Case cs{"fp8 per-channel " + std::to_string(s.n) + "x" + std::to_string(s.k),
                    fp8_per_channel("f", f.weight.data(), f.scale.data(), s.n, s.k), f.dequant};
      const int mmax = 256;
      const auto x_all = random_bf16_values(size_t(mmax) * s.k, rng);
      const auto ref_all = ref_linear(x_all, cs.dequant, mmax, s.n, s.k);
      // The default config of every m class, at its edges and odd sizes, with the plan's splits
      // (resident CTAs as an H200's 132 SMs x 4 would give: splits wherever the tiles are few).
      for (int m : {1, 3, 8, 9, 16, 17, 31, 32, 33, 63, 64, 65, 130, 256})
        run_one(c, cs, x_all, ref_all, m, fp8skinny::default_config(m), 0, 132 * 4);
      // Every config at a few m, with forced splits 1, 2, 3 (uneven) and one chunk a split.
      for (int config = 0; config < fp8skinny::kConfigs; ++config)
        for (int m : {5, 40})
          for (int splits : {1, 2, 3, 64}) run_one(c, cs, x_all, ref_all, m, config, splits, 0);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("fp8_skinny_emulation_test");
}
