// What DRAM gives the int4 decode GEMV's access pattern, with no arithmetic in the way: quant_gemm_lean's
// loads (1,792 CTAs of four warps, a warp's groups of two 512-byte chunks through a register ring of D
// stages) over int4 gate_up's 58.7 MB, in the repacked layout as it is (tile-major: a CTA's 32 KB tile
// contiguous, so every resident CTA reads at the same offset of a 32 KB-aligned slice) and chunk-major
// (chunk c of every tile side by side, so resident CTAs read neighbouring KBs), beside a plain
// streaming read and the device-to-device copy measured in the same run. Optional busy work a group
// (dependent integer ops on the loaded words) stands in for the dequant + mma. Then a batch-1 step's int4
// GEMV reads as a chain (32 layers of qkv, o_proj, gate_up, down at their int4 bytes; kernels launched
// plainly or with programmatic dependent launch, each issuing its first stages before griddepcontrol.wait
// as the engine's GEMVs do) against one read of the same bytes: what each kernel boundary costs when
// nothing but reading happens; and the same chain as one persistent kernel (resident CTAs only, a grid-wide barrier
// between GEMVs, each CTA asking for its next tile's first stages before it arrives), the form a persistent decode
// layer would take. A measurement tool: it prints figures and asserts nothing.
// Build: nvcc -O3 -std=c++17 -arch=sm_90a read_pattern_bench.cu.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                                                  \
  do {                                                                                            \
    cudaError_t e_ = (x);                                                                         \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));   \
      std::exit(1);                                                                               \
    }                                                                                             \
  } while (0)

namespace {

constexpr int kTiles = 1792, kChunks = 64, kG = 2, kW = 4; // int4 gate_up 28,672 x 4,096: tiles of 16 rows
constexpr size_t kBytes = size_t(kTiles) * kChunks * 32 * 16;

__device__ __forceinline__ uint4 ldcs(const uint4* p) { return __ldcs(p); }

// Busy work standing in for a group's dequant and mma: Ops dependent integer ops on each word.
template <int Ops> __device__ __forceinline__ uint32_t consume(const uint4& v, uint32_t acc) {
  uint32_t a = acc ^ v.x ^ (v.y << 1) ^ (v.z << 2) ^ (v.w << 3);
#pragma unroll
  for (int i = 0; i < Ops; ++i) a = a * 0x9E3779B1u + (v.x >> (i & 7));
  return a;
}

// A warp's groups through its ring of D register stages, as quant_gemm_lean walks them: use stage d, then reload
// it with the group D ahead. The first D stages are loaded by the caller.
template <int D, int Ops, typename Load> __device__ __forceinline__ uint32_t drain_ring(uint4 (&ring)[D][kG], int count, Load& load) {
  uint32_t acc = 0;
  for (int j0 = 0; j0 < count; j0 += D) {
#pragma unroll
    for (int d = 0; d < D; ++d) {
      const int j = j0 + d;
      if (j >= count) break;
#pragma unroll
      for (int c = 0; c < kG; ++c) acc = consume<Ops>(ring[d][c], acc);
      if (j + D < count) load(ring[d]);
    }
  }
  return acc;
}

template <int D, bool ChunkMajor, int Ops, int MinBlocks>
__global__ void __launch_bounds__(kW * 32, MinBlocks) lean_pattern(const uint4* w, uint32_t* sink) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int groups = kChunks / kG, count = groups / kW;
  // Chunk c of tile t: tile-major (t * 64 + c) * 32 uint4, chunk-major (c * tiles + t) * 32.
  const int64_t c0 = int64_t(warp) * kG;
  const uint4* p = ChunkMajor ? w + (c0 * kTiles + blockIdx.x) * 32 + lane : w + (int64_t(blockIdx.x) * kChunks + c0) * 32 + lane;
  const int64_t chunk_step = ChunkMajor ? int64_t(kTiles) * 32 : 32;
  const int64_t group_step = kW * kG * chunk_step;
  uint4 ring[D][kG];
  auto load = [&](uint4 (&st)[kG]) {
#pragma unroll
    for (int c = 0; c < kG; ++c) st[c] = ldcs(p + c * chunk_step);
    p += group_step;
  };
#pragma unroll
  for (int d = 0; d < D; ++d)
    if (d < count) load(ring[d]);
  const uint32_t acc = drain_ring<D, Ops>(ring, count, load);
  if (acc == 0x12345678u) sink[blockIdx.x * blockDim.x + threadIdx.x] = acc; // keeps the loads
}

__global__ void stream_read(const uint4* w, size_t n, uint32_t* sink) {
  uint32_t acc = 0;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = ldcs(w + i), b = ldcs(w + i + stride), c = ldcs(w + i + 2 * stride), d = ldcs(w + i + 3 * stride);
    acc ^= a.x ^ b.y ^ c.z ^ d.w;
  }
  for (; i < n; i += stride) acc ^= ldcs(w + i).x;
  if (acc == 0x12345678u) sink[0] = acc;
}


// One GEMV's weight read in the lean kernel's pattern at any shape: tiles of 16 rows, chunks of 64 k, a
// warp's groups of two chunks through a ring of D stages. Pdl: the first stages are asked for before
// griddepcontrol.wait (they depend on nothing), the rest after, as quant_gemm_lean does.
template <int D, bool Pdl>
__global__ void __launch_bounds__(kW * 32, 5) gemv_read(const uint4* w, int chunks, uint32_t* sink) {
  if constexpr (Pdl) asm volatile("griddepcontrol.launch_dependents;");
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int groups = chunks / kG, count = warp < groups ? (groups - warp + kW - 1) / kW : 0;
  const uint4* p = w + (int64_t(blockIdx.x) * chunks + warp * kG) * 32 + lane;
  uint4 ring[D][kG];
  auto load = [&](uint4 (&st)[kG]) {
#pragma unroll
    for (int c = 0; c < kG; ++c) st[c] = ldcs(p + c * 32);
    p += kW * kG * 32;
  };
#pragma unroll
  for (int d = 0; d < D; ++d)
    if (d < count) load(ring[d]);
  if constexpr (Pdl) asm volatile("griddepcontrol.wait;" ::: "memory");
  const uint32_t acc = drain_ring<D, 0>(ring, count, load);
  if (acc == 0x12345678u) sink[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}

// The chain's GEMVs as one persistent kernel: CTA b takes tiles b, b + grid, ... of each GEMV in turn. Before a GEMV's
// first tile (or, with no tile in it, anyway) the CTA loads that tile's first D stages and only then waits at the grid
// barrier that ends the previous GEMV: the stages depend on nothing, as the PDL chain's pre-wait loads. Barriers:
// kCounter, one counter every CTA adds to (release-ordered) and spins on (acquire); kGridSync, cooperative_groups'
// grid sync (a cooperative launch); kTree, 32 counters a CTA adds to by blockIdx % 32, whose last arriver adds to a
// top counter the grid spins on, so no one address takes every CTA's atomic. `done`: the barriers earlier launches
// passed (counters count up across launches; each configuration starts them at zero).
struct GemvShape { int tiles, chunks; int64_t offset; };
enum Barrier { kCounter, kGridSync, kTree };
constexpr int kTreeGroups = 32;

__device__ __forceinline__ unsigned ld_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// counters[0]: the flat / top counter; counters[1 + k]: tree group k's.
template <Barrier B> __device__ __forceinline__ void grid_barrier(unsigned* counters, unsigned number) {
  if constexpr (B == kGridSync) {
    cooperative_groups::this_grid().sync();
    return;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    unsigned target = number * gridDim.x;
    if constexpr (B == kTree) {
      const unsigned k = blockIdx.x % kTreeGroups;
      const unsigned size = gridDim.x / kTreeGroups + (k < gridDim.x % kTreeGroups ? 1 : 0);
      if (atomicAdd(&counters[1 + k], 1u) + 1 == number * size) {
        __threadfence();
        atomicAdd(&counters[0], 1u);
      }
      target = number * kTreeGroups;
    } else {
      atomicAdd(&counters[0], 1u);
    }
    while (ld_acquire(&counters[0]) < target) {
    }
  }
  __syncthreads();
}

template <int D, Barrier B>
__global__ void __launch_bounds__(kW * 32, 5) persistent_read(const uint4* base, const GemvShape* shapes, int n,
                                                              unsigned* counters, unsigned done, uint32_t* sink) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  uint32_t acc = 0;
  for (int g = 0; g < n; ++g) {
    const GemvShape s = shapes[g];
    const int groups = s.chunks / kG, count = warp < groups ? (groups - warp + kW - 1) / kW : 0;
    for (int tile = blockIdx.x, first = 1;; tile += gridDim.x, first = 0) {
      const bool has = tile < s.tiles;
      const uint4* p = base + s.offset + (int64_t(tile) * s.chunks + warp * kG) * 32 + lane;
      uint4 ring[D][kG];
      auto load = [&](uint4 (&st)[kG]) {
#pragma unroll
        for (int c = 0; c < kG; ++c) st[c] = ldcs(p + c * 32);
        p += kW * kG * 32;
      };
      if (has) {
#pragma unroll
        for (int d = 0; d < D; ++d)
          if (d < count) load(ring[d]);
      }
      if (first && g > 0) grid_barrier<B>(counters, done + unsigned(g));
      if (!has) break;
      acc ^= drain_ring<D, 0>(ring, count, load);
    }
  }
  if (acc == 0x12345678u) sink[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}

template <typename Kernel>
void launch(Kernel kernel, bool pdl, int tiles, const uint4* w, int chunks, uint32_t* sink) {
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = pdl ? 1 : 0;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(tiles);
  config.blockDim = dim3(kW * 32);
  config.attrs = &attr;
  config.numAttrs = 1;
  CHECK(cudaLaunchKernelEx(&config, kernel, w, chunks, sink));
}

struct Timer {
  cudaEvent_t a, b;
  Timer() { CHECK(cudaEventCreate(&a)); CHECK(cudaEventCreate(&b)); }
  template <typename F> double median_us(F run, int reps = 30) {
    for (int i = 0; i < 3; ++i) run(i);
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
      CHECK(cudaEventRecord(a));
      run(i + 3);
      CHECK(cudaEventRecord(b));
      CHECK(cudaEventSynchronize(b));
      float ms = 0;
      CHECK(cudaEventElapsedTime(&ms, a, b));
      t.push_back(ms * 1000.0);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  }
};

} // namespace

int main() {
  constexpr int kCopies = 6; // 352 MB: each timed call reads data past L2
  std::vector<uint4*> bufs(kCopies);
  for (auto& b : bufs) {
    CHECK(cudaMalloc(&b, kBytes));
    CHECK(cudaMemset(b, 0x5a, kBytes));
  }
  uint32_t* sink = nullptr;
  CHECK(cudaMalloc(&sink, size_t(kTiles) * 256 * 4));
  uint4* dst = nullptr;
  CHECK(cudaMalloc(&dst, kBytes));
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  Timer timer;
  const double gb = kBytes / 1e9;
  auto report = [&](const char* name, double us) {
    std::printf("%-44s %8.2f us  %6.0f GB/s read\n", name, us, gb / (us * 1e-6));
  };
  const double copy_us = timer.median_us([&](int i) { CHECK(cudaMemcpyAsync(dst, bufs[i % kCopies], kBytes, cudaMemcpyDeviceToDevice)); });
  std::printf("%-44s %8.2f us  %6.0f GB/s (read + write) / time\n", "device-to-device copy, 58.7 MB", copy_us, 2 * gb / (copy_us * 1e-6));
  for (int per_sm : {4, 8, 16}) {
    const double us = timer.median_us([&](int i) { stream_read<<<sms * per_sm, 256>>>(bufs[i % kCopies], kBytes / 16, sink); });
    char name[64];
    std::snprintf(name, sizeof name, "stream read, %d CTAs of 256 an SM", per_sm);
    report(name, us);
  }
  auto lean = [&](const char* layout, int d, int ops, int mb, auto kernel) {
    char name[96];
    std::snprintf(name, sizeof name, "lean pattern %s D=%d ops=%d ctas/sm<=%d", layout, d, ops, mb);
    report(name, timer.median_us([&](int i) { kernel<<<kTiles, kW * 32>>>(bufs[i % kCopies], sink); }));
  };
#define RUN(D, OPS, MB)                                                  \
  lean("tile-major ", D, OPS, MB, lean_pattern<D, false, OPS, MB>);     \
  lean("chunk-major", D, OPS, MB, lean_pattern<D, true, OPS, MB>)
  RUN(2, 0, 5);
  RUN(4, 0, 5);
  RUN(8, 0, 5);
  RUN(2, 24, 5);
  RUN(2, 64, 5);
  RUN(4, 64, 4);
  RUN(2, 0, 8);
#undef RUN
  // A batch-1 step's int4 GEMVs at Llama-3-8B's shapes (tiles of 16 rows x chunks of 64 k), 32 layers, from one
  // 3.6 GB buffer (past L2), against a single read of as many bytes.
  struct Gemv { const char* name; int tiles, chunks; };
  const Gemv layer[] = {{"qkv", 6144 / 16, 4096 / 64}, {"o_proj", 4096 / 16, 4096 / 64},
                        {"gate_up", 28672 / 16, 4096 / 64}, {"down", 4096 / 16, 14336 / 64}};
  size_t layer_bytes = 0;
  for (const Gemv& g : layer) layer_bytes += size_t(g.tiles) * g.chunks * 512;
  constexpr int kLayers = 32;
  uint4* step = nullptr;
  CHECK(cudaMalloc(&step, layer_bytes * kLayers));
  CHECK(cudaMemset(step, 0x3c, layer_bytes * kLayers));
  const double step_gb = layer_bytes * kLayers / 1e9;
  const double one_us = timer.median_us([&](int) {
    stream_read<<<sms * 8, 256>>>(step, layer_bytes * kLayers / 16, sink);
  }, 10);
  std::printf("%-44s %8.2f us  %6.0f GB/s read (%.3f GB, one kernel)\n", "int4 step's GEMV bytes, one read", one_us,
              step_gb / (one_us * 1e-6), step_gb);
  auto chain = [&](const char* name, auto kernel, bool pdl) {
    const double us = timer.median_us([&](int) {
      const uint4* w = step;
      for (int l = 0; l < kLayers; ++l)
        for (const Gemv& g : layer) {
          launch(kernel, pdl, g.tiles, w, g.chunks, sink);
          w += size_t(g.tiles) * g.chunks * 32;
        }
    }, 10);
    std::printf("%-44s %8.2f us  %6.0f GB/s read; %.2f us a kernel more than the one read\n", name, us,
                step_gb / (us * 1e-6), (us - one_us) / (kLayers * 4));
  };
  chain("chain of 128 GEMV reads, D=2, plain", gemv_read<2, false>, false);
  chain("chain of 128 GEMV reads, D=2, PDL", gemv_read<2, true>, true);
  chain("chain of 128 GEMV reads, D=4, PDL", gemv_read<4, true>, true);
  {
    int fit2 = 0, fit4 = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit2, gemv_read<2, true>, kW * 32, 0));
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit4, gemv_read<4, true>, kW * 32, 0));
    std::printf("  (the chain's kernels fit %d (D=2) and %d (D=4) CTAs an SM)\n", fit2, fit4);
  }
  // The same 128 GEMVs as one persistent kernel of resident CTAs, grid barriers between them.
  std::vector<GemvShape> shapes;
  {
    int64_t off = 0;
    for (int l = 0; l < kLayers; ++l)
      for (const Gemv& g : layer) {
        shapes.push_back({g.tiles, g.chunks, off});
        off += int64_t(g.tiles) * g.chunks * 32;
      }
  }
  GemvShape* shapes_dev = nullptr;
  CHECK(cudaMalloc(&shapes_dev, shapes.size() * sizeof(GemvShape)));
  CHECK(cudaMemcpy(shapes_dev, shapes.data(), shapes.size() * sizeof(GemvShape), cudaMemcpyHostToDevice));
  unsigned* counters = nullptr;
  CHECK(cudaMalloc(&counters, (1 + kTreeGroups) * sizeof(unsigned)));
  const int n_gemv = int(shapes.size());
  auto persistent = [&](const char* name, auto kernel, bool coop, int per_sm) {
    int fit = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit, kernel, kW * 32, 0));
    per_sm = std::min(per_sm, fit);
    const int grid = sms * per_sm;
    CHECK(cudaMemset(counters, 0, (1 + kTreeGroups) * sizeof(unsigned))); // each configuration counts from zero
    unsigned done = 0; // barriers passed by the earlier launches
    const double us = timer.median_us([&](int) {
      const uint4* b = step;
      if (coop) {
        void* args[] = {&b, (void*)&shapes_dev, (void*)&n_gemv, &counters, &done, &sink};
        CHECK(cudaLaunchCooperativeKernel((const void*)kernel, dim3(grid), dim3(kW * 32), args, 0, nullptr));
      } else {
        kernel<<<grid, kW * 32>>>(b, shapes_dev, n_gemv, counters, done, sink);
        CHECK(cudaGetLastError());
      }
      done += unsigned(n_gemv - 1);
    }, 10);
    std::printf("%-44s %8.2f us  %6.0f GB/s read; %.2f us a GEMV more than the one read (%d CTAs an SM)\n", name, us,
                step_gb / (us * 1e-6), (us - one_us) / (kLayers * 4), per_sm);
  };
  // 16: as many as fit (the chain's kernels run at their own occupancy, not the lean kernels' five).
  for (int per_sm : {16, 8, 5}) {
    persistent("persistent, D=2, counter barrier", persistent_read<2, kCounter>, false, per_sm);
    persistent("persistent, D=4, counter barrier", persistent_read<4, kCounter>, false, per_sm);
    persistent("persistent, D=2, grid sync", persistent_read<2, kGridSync>, true, per_sm);
    persistent("persistent, D=4, grid sync", persistent_read<4, kGridSync>, true, per_sm);
    persistent("persistent, D=2, tree barrier", persistent_read<2, kTree>, false, per_sm);
    persistent("persistent, D=4, tree barrier", persistent_read<4, kTree>, false, per_sm);
  }
  // Each GEMV alone, as a kernel of the chain would take with nothing before it.
  for (const Gemv& g : layer) {
    const double us = timer.median_us([&](int i) {
      launch(gemv_read<2, false>, false, g.tiles, step + size_t(i % kLayers) * (layer_bytes / 16), g.chunks, sink);
    });
    const double gb = size_t(g.tiles) * g.chunks * 512 / 1e9;
    std::printf("  %-42s %8.2f us  %6.0f GB/s read (%.1f MB)\n", g.name, us, gb / (us * 1e-6), gb * 1e3);
  }
  CHECK(cudaDeviceSynchronize());
  return 0;
}
