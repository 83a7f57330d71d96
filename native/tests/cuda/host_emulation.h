// Runs a CUDA kernel's source on the host for the emulation tests (quant_gemm_lean_emulation_test;
// before session 9 also the bulk-copy GEMVs', before session 8 quant_gemv2's and fp8_skinny_gemm's): a CTA's threads as fibers, barriers
// (__syncthreads, __syncwarp, named), a warp-wide mma model, cp.async, mbarriers and 1D bulk copies.
//
// Each CTA's threads (256 unless run_grid is told otherwise) are fibers (ucontext) on one OS thread
// that switch at barriers and at every mma_bf16_16816, which is modelled warp-wide from the PTX
// m16n8k16 fragment layouts (bf16 in, f32 out). cp.async copies are deferred to the cp.async.wait_group
// that retires them, so reading a stage before its group is waited for reads stale bytes. Shared
// memory starts as 0xFF (NaN) and is followed by a guard that must stay untouched. A bulk copy lands
// at once and completes its bytes on the mbarrier; an mbarrier phase completes when its arrivals are
// in and its transaction bytes landed, and a wait yields until that parity's phase has completed.
//
// Define PAGODA_EMULATED_KERNEL_NS (the kernel source's namespace, e.g. pagoda::cuda::lean)
// before including: the CUDA names the kernel source calls are declared there so that unqualified
// lookup from the kernel finds them before anything of CUDA's own headers.
#pragma once

#ifndef PAGODA_EMULATED_KERNEL_NS
#error "define PAGODA_EMULATED_KERNEL_NS (the emulated kernel source's namespace) before host_emulation.h"
#endif

#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "backend/cuda/quantized_weight.h"

namespace emu {

struct Dim {
  unsigned x = 0, y = 0, z = 0;
};

constexpr int kThreads = 256;    // the default block
constexpr int kMaxThreads = 1024;
inline int block_threads = kThreads; // the block run_grid runs now

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done = false;
};

inline ucontext_t scheduler;
inline Fiber fibers[kMaxThreads];
inline int current = 0;
inline long progress = 0; // barriers completed and fibers finished: no change in a whole pass = deadlock

inline void yield() { swapcontext(&fibers[current].ctx, &scheduler); }

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
inline Barrier cta_barrier;

// One warp's m16n8k16 in flight: every lane deposits its fragments, the 32nd computes all lanes'.
struct WarpMma {
  Barrier barrier;
  uint32_t a[32][4], b[32][2];
  float c[32][4], d[32][4];
};
inline WarpMma warps[kMaxThreads / 32];
inline Barrier warp_sync[kMaxThreads / 32]; // __syncwarp
inline Barrier named_barriers[16];          // bar.sync id, threads

// An mbarrier (keyed by its shared-memory offset): arrivals left and transaction bytes owed in the
// current phase, and the phases completed.
struct MBarrier {
  int count = 0, pending = 0;
  int64_t tx = 0;
  long phase = 0;
};
inline std::map<uint32_t, MBarrier> mbarriers;
inline std::string fault; // the first misuse seen inside a CTA (run_grid reports it)
inline size_t shared_bytes = 0;
inline MBarrier& mbarrier_at(uint32_t bar) {
  auto it = mbarriers.find(bar);
  if (it == mbarriers.end()) {
    if (fault.empty()) fault = "an mbarrier used before mbarrier_init at shared offset " + std::to_string(bar);
    return mbarriers[bar];
  }
  return it->second;
}
inline void mbarrier_settle(MBarrier& b) {
  if (b.pending == 0 && b.tx == 0) {
    ++b.phase;
    b.pending = b.count;
    ++progress;
  }
}

inline unsigned char* shared_memory = nullptr;

inline float bf16_half(uint32_t v, int high) {
  const uint32_t bits = high ? (v & 0xFFFF0000u) : (v << 16);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// PTX m16n8k16 .bf16 fragments (lane = 4 group + t): A reg 0 (row g, k 2t..2t+1), 1 (row g+8,
// same k), 2 (row g, k 2t+8..), 3 (row g+8, k 2t+8..); B reg 0 (k 2t..2t+1, column g), 1 (k 2t+8..);
// C/D element e: row g + 8 (e >> 1), column 2t + (e & 1). The lower half of a register is the
// lower k.
inline void compute_mma(WarpMma& w) {
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
inline AsyncGroups async_groups[kMaxThreads];
inline void perform(const std::vector<Copy>& g) {
  for (const Copy& c : g) {
    if (c.valid) std::memcpy(c.dst, c.src, 16);
    else std::memset(c.dst, 0, 16);
  }
}

// The QuantizedWeight view of a host weight: the emulated kernel reads host memory.
inline pagoda::cuda::QuantizedWeight host_view(const pagoda::cuda::HostQuantizedWeight& h) {
  pagoda::cuda::QuantizedWeight w;
  w.format = h.format;
  w.n = h.n;
  w.k = h.k;
  w.group_size = h.group_size;
  w.packed = h.packed.data();
  w.scales = h.format == pagoda::cuda::QuantFormat::kInt4 ? static_cast<const void*>(h.scales_f16.data())
                                                          : static_cast<const void*>(h.scales_f32.data());
  w.scale_index = h.scale_index;
  w.zeros = h.zeros.empty() ? nullptr : h.zeros.data();
  w.perm = h.perm.empty() ? nullptr : h.perm.data();
  return w;
}

// A weight as a test case: its name, the host weight the kernel reads and the README's
// dequantization ([n][k]) the reference multiplies.
struct Case {
  std::string name;
  pagoda::cuda::HostQuantizedWeight host;
  std::vector<float> dequant;
};

// The kernel's bf16 y: m rows of n at stride ldy (> n) and 64 elements more, all 0xFFFF at first,
// so that a write anywhere outside y's m x n is seen.
class WideOutput {
public:
  WideOutput(int m, int n, int ldy) : m_(m), n_(n), ldy_(ldy), bits_(size_t(m) * ldy + 64, 0xFFFF) {}
  void* data() { return bits_.data(); }
  // Sets y's m x n to y0's values (row-major), rounded to bf16.
  void fill(const std::vector<float>& y0) {
    for (int r = 0; r < m_; ++r)
      for (int col = 0; col < n_; ++col) {
        const __nv_bfloat16 v = __float2bfloat16(y0[size_t(r) * n_ + col]);
        std::memcpy(&bits_[size_t(r) * ldy_ + col], &v, 2);
      }
  }
  // y's m x n values, row-major.
  std::vector<float> values() const {
    std::vector<float> out(size_t(m_) * n_);
    for (int r = 0; r < m_; ++r)
      for (int col = 0; col < n_; ++col) out[size_t(r) * n_ + col] = bf16_half(bits_[size_t(r) * ldy_ + col], 0);
    return out;
  }
  // Whether every element outside y's m x n is still 0xFFFF.
  bool outside_untouched() const {
    for (size_t i = 0; i < bits_.size(); ++i) {
      const size_t r = i / ldy_, col = i % ldy_;
      if (!(r < size_t(m_) && col < size_t(n_)) && bits_[i] != 0xFFFF) return false;
    }
    return true;
  }

private:
  int m_, n_, ldy_;
  std::vector<uint16_t> bits_;
};

} // namespace emu

namespace PAGODA_EMULATED_KERNEL_NS {
// Shadow CUDA's names for the kernel source (unqualified lookup finds these first).
inline emu::Dim threadIdx, blockIdx, gridDim; // one OS thread runs every fiber
inline void __syncthreads() { emu::cta_barrier.wait(emu::block_threads); }
inline void __syncwarp(unsigned = 0xFFFFFFFFu) { emu::warp_sync[threadIdx.x / 32].wait(32); }
inline void named_barrier_sync(int id, int threads) { emu::named_barriers[id].wait(threads); }
template <typename T> T __ldg(const T* p) { return *p; }
// Shared memory addresses are offsets into the emulated dynamic shared memory.
inline uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(static_cast<const unsigned char*>(p) - emu::shared_memory);
}
inline void mbarrier_init(uint32_t bar, uint32_t count) {
  emu::mbarriers[bar] = emu::MBarrier{int(count), int(count), 0, 0};
}
inline void mbarrier_init_fence() {}
inline void mbarrier_arrive(uint32_t bar) {
  emu::MBarrier& b = emu::mbarrier_at(bar);
  if (--b.pending < 0 && emu::fault.empty()) emu::fault = "more mbarrier arrivals than its count";
  emu::mbarrier_settle(b);
}
inline void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  emu::MBarrier& b = emu::mbarrier_at(bar);
  b.tx += bytes;
  mbarrier_arrive(bar);
}
inline void mbarrier_wait(uint32_t bar, uint32_t parity) {
  while (true) {
    const emu::MBarrier& b = emu::mbarrier_at(bar);
    if (!emu::fault.empty() || uint32_t(b.phase & 1) != parity) return; // that parity's phase completed
    emu::yield();
  }
}
// The copy lands at once; its bytes count toward the barrier's transactions.
inline void bulk_copy_g2s(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar) {
  if ((dst % 16 || bytes % 16 || reinterpret_cast<uintptr_t>(src) % 16 || dst + size_t(bytes) > emu::shared_bytes) &&
      emu::fault.empty())
    emu::fault = "a bulk copy misaligned or past the shared memory: dst " + std::to_string(dst) + ", bytes " +
                 std::to_string(bytes);
  else std::memcpy(emu::shared_memory + dst, src, bytes);
  emu::MBarrier& b = emu::mbarrier_at(bar);
  b.tx -= bytes;
  emu::mbarrier_settle(b);
}
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
// A 16-byte cp.async (zero-filled when !valid) joins this thread's open group.
inline void emulated_cp_async_16(void* dst, const void* src, bool valid) {
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
// One lane's part of a warp-wide mma: every lane leaves its fragments, the last one in computes the
// warp's product with `compute` (the shape's model: compute_mma for bf16 m16n8k16), all take their c.
inline void warp_mma(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1,
                     void (*compute)(emu::WarpMma&)) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  emu::WarpMma& w = emu::warps[threadIdx.x / 32];
  const uint32_t a[4] = {a0, a1, a2, a3};
  for (int i = 0; i < 4; ++i) w.a[lane][i] = a[i], w.c[lane][i] = c[i];
  w.b[lane][0] = b0;
  w.b[lane][1] = b1;
  if (w.barrier.arrived + 1 == 32) compute(w);
  w.barrier.wait(32);
  for (int i = 0; i < 4; ++i) c[i] = w.d[lane][i];
}

inline void mma_bf16_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  warp_mma(c, a0, a1, a2, a3, b0, b1, emu::compute_mma);
}
} // namespace PAGODA_EMULATED_KERNEL_NS

namespace emu {

// What each fiber runs: set by run_grid for the grid it runs.
inline const std::function<void()>* fiber_body = nullptr;

inline void fiber_main() {
  (*fiber_body)();
  fibers[current].done = true;
  ++progress;
  swapcontext(&fibers[current].ctx, &scheduler);
}

// Runs body (one thread's kernel call) for every thread of grid, CTA after CTA, with smem bytes of
// dynamic shared memory. Returns "" or what went wrong: a deadlock (a pass in which no fiber got
// anywhere), a write past the dynamic shared memory (a guard after it), or cp.async copies never
// waited for.
constexpr size_t kGuardBytes = 4096;
inline std::string run_grid(dim3 grid, size_t smem, const std::function<void()>& body, int threads = kThreads) {
  namespace kernel_ns = PAGODA_EMULATED_KERNEL_NS;
  if (threads < 32 || threads > kMaxThreads || threads % 32) return "a block of " + std::to_string(threads) + " threads";
  block_threads = threads;
  std::vector<unsigned char> shared(smem + kGuardBytes);
  shared_memory = shared.data();
  shared_bytes = smem;
  fiber_body = &body;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::fill(shared.begin(), shared.begin() + smem, 0xFF); // unstaged shared memory reads as NaN
        std::fill(shared.begin() + smem, shared.end(), 0xAB);
        cta_barrier = Barrier{};
        for (auto& wm : warps) wm.barrier = Barrier{};
        for (auto& b : warp_sync) b = Barrier{};
        for (auto& b : named_barriers) b = Barrier{};
        mbarriers.clear();
        fault.clear();
        for (int i = 0; i < threads; ++i) {
          async_groups[i] = AsyncGroups{};
          Fiber& f = fibers[i];
          f.stack.resize(256 * 1024);
          f.done = false;
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack.data();
          f.ctx.uc_stack.ss_size = f.stack.size();
          f.ctx.uc_link = &scheduler;
          makecontext(&f.ctx, fiber_main, 0);
        }
        int live = threads;
        while (live > 0) {
          const long before = progress;
          live = 0;
          for (int i = 0; i < threads; ++i) {
            if (fibers[i].done) continue;
            current = i;
            kernel_ns::threadIdx = {unsigned(i), 0, 0};
            kernel_ns::blockIdx = {bx, by, bz};
            kernel_ns::gridDim = {grid.x, grid.y, grid.z};
            swapcontext(&scheduler, &fibers[i].ctx);
            if (!fibers[i].done) ++live;
          }
          if (live > 0 && progress == before) return "deadlock: threads left waiting at a barrier";
        }
        if (!fault.empty()) return fault;
        for (const auto& [offset, b] : mbarriers)
          if (b.tx != 0 || b.pending != b.count)
            return "an mbarrier left mid-phase at shared offset " + std::to_string(offset);
        if (!std::all_of(shared.begin() + smem, shared.end(), [](unsigned char b) { return b == 0xAB; }))
          return "a write past the " + std::to_string(smem) + " bytes of dynamic shared memory";
        for (const auto& a : async_groups)
          if (!a.open.empty() || !a.committed.empty()) return "cp.async copies left without a wait";
      }
  return "";
}

} // namespace emu
