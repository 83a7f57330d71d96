// The decode GEMM on wgmma (decode_gemm_wgmma.h): one CTA an SM, three warpgroups. Warpgroup 0's first thread is
// the producer: it copies each k iteration's operands with the bulk tensor copy into a ring of stages (the weight's
// 128 rows x 64 k and the tokens' NT rows x 64 k, both 128-byte swizzled, tokens past m zero-filled by the copy
// engine) and the stage's mbarrier counts the bytes. Warpgroups 1 and 2 each multiply 64 of the weight rows by the
// NT tokens (m64nNTk16, both operands from shared memory) and free the stage on a second mbarrier.
//
// The work is tiles x k iterations laid end to end and cut into equal ranges, one a unit (stream-K,
// decode_gemm_plan.h), so every SM streams the same bytes whatever the tile count. The later parts of a tile store
// their partial sums to the workspace and raise a flag; the tile's finisher adds them in unit order and writes y,
// clearing each flag it consumed, so the workspace is zero again after every call. Every CTA is resident at once
// (at most one an SM, which even the heavy kernels fit), so a wait on a flag always ends.
#include "backend/cuda/decode_gemm_wgmma.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/attention_prefill_wgmma_plan.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/decode_gemm_plan.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quant_kernels.h"
#include "backend/cuda/tensor_map.h"
#include "backend/cuda/wgmma.cuh"
#include "backend/cuda/wgmma_ss_n.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 384;       // the producer warpgroup, then two consumer warpgroups
constexpr int kTileRows = 128;      // weight rows a tile: 64 a consumer warpgroup
constexpr int kIterK = 64;          // k a stage: one 128-byte swizzled row of bf16
constexpr int kProducerRegs = 40;   // one thread issues copies
constexpr int kConsumerRegs = 232;  // NT / 2 accumulators (128 at NT 256) and addresses
static_assert(kProducerRegs * 128 + kConsumerRegs * 256 <= 65536, "the register file holds all three warpgroups");
constexpr int kWeightStageBytes = kTileRows * kIterK * 2;
constexpr size_t kSmemLimit = 232448; // 227 KB of dynamic shared memory an SM on sm_90
constexpr int kMaxStages = 8;

__host__ __device__ constexpr int stage_bytes(int nt) { return kWeightStageBytes + nt * kIterK * 2; }
// Light kernels (NT <= 48: 24 accumulators a consumer thread) take no register reallocation and at most 85 registers
// a thread, and half the shared memory, so two CTAs fit an SM: one of the next call can be resident beside the last
// CTA of the kernel before it and stream its first weights while that one finishes (programmatic dependent launch).
// Heavier ones need the whole register file.
__host__ __device__ constexpr bool light(int nt) { return nt <= 48; }
__host__ __device__ constexpr int ctas_an_sm(int nt) { return light(nt) ? 2 : 1; }
// As many stages as fit beside the 1 KB alignment slack and the barriers (in a CTA's share of the SM), at most
// kMaxStages.
__host__ __device__ constexpr int stages_for(int nt) {
  const int fit = static_cast<int>(((kSmemLimit - 1024 * ctas_an_sm(nt)) / ctas_an_sm(nt) - 1024 - 16 * kMaxStages) /
                                   stage_bytes(nt));
  return fit < kMaxStages ? fit : kMaxStages;
}
constexpr size_t smem_bytes(int nt) { return 1024 + size_t(stages_for(nt)) * stage_bytes(nt) + 16 * kMaxStages; }
static_assert(smem_bytes(48) * 2 + 2048 <= kSmemLimit + 1024, "two light CTAs an SM");

struct GemmMaps {
  CUtensorMap w; // [n, k], boxes of 128 rows x 64
  CUtensorMap x; // [m, k], boxes of NT rows x 64
};

struct GemmArgs {
  bf16* y;
  int m, n;
  int k_iters;           // k / 64
  int64_t total_iters;   // tiles x k_iters
  float* partials;       // [ctas][2][64 x NT] floats, a warpgroup's as float4 of registers 4q..4q+3, thread-minor
  unsigned* flags;       // [ctas][2]
};

__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void store_release(unsigned* p, unsigned v) {
  asm volatile("st.release.gpu.global.u32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
}

template <int NT>
__global__ void __launch_bounds__(kThreads, ctas_an_sm(NT))
    decode_gemm_wgmma_kernel(const __grid_constant__ GemmMaps maps, const GemmArgs args) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int S = stages_for(NT);
  constexpr int kStageBytes = stage_bytes(NT);
  constexpr int kAcc = NT / 2;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t base = (smem_u32(smem_raw) + 1023) & ~1023u;
  const uint32_t bars = base + S * kStageBytes;
  auto full_bar = [&](int s) { return bars + 8 * s; };
  auto empty_bar = [&](int s) { return bars + 8 * (kMaxStages + s); };
  auto weight_stage = [&](int s) { return base + s * kStageBytes; };
  auto token_stage = [&](int s) { return base + s * kStageBytes + kWeightStageBytes; };

  // Each CTA is a unit of the stream-K schedule.
  const int cta = blockIdx.x, unit = cta, units = gridDim.x;
  const int64_t begin = stream_k::range_begin(unit, units, args.total_iters);
  const int64_t end = stream_k::range_begin(unit + 1, units, args.total_iters);
  const int count = static_cast<int>(end - begin);

  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      mbarrier_init(full_bar(s), 1);
      mbarrier_init(empty_bar(s), 8); // every consumer warp, once its wgmma read the stage
    }
    mbarrier_init_fence();
  }
  __syncthreads();
  pdl_launch_dependents();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    if constexpr (!light(NT)) setmaxnreg_dec<kProducerRegs>();
    if (threadIdx.x == 0) {
      prefetch_tensor_map(&maps.w);
      prefetch_tensor_map(&maps.x);
      auto coords = [&](int i, int& kc, int& row) {
        const int64_t it = begin + i;
        kc = static_cast<int>(it % args.k_iters) * kIterK;
        row = static_cast<int>(it / args.k_iters) * kTileRows;
      };
      auto tokens = [&](int s, int kc) { tma_load_2d(token_stage(s), &maps.x, full_bar(s), kc, 0); };
      // The weights depend on no kernel: the first stages' weight copies go out before the wait, their tokens after.
      const int first = count < S ? count : S;
      for (int i = 0; i < first; ++i) {
        int kc, row;
        coords(i, kc, row);
        mbarrier_arrive_expect_tx(full_bar(i), kStageBytes);
        tma_load_2d<true>(weight_stage(i), &maps.w, full_bar(i), kc, row);
      }
      pdl_wait();
      for (int i = 0; i < first; ++i) {
        int kc, row;
        coords(i, kc, row);
        tokens(i, kc);
      }
      for (int i = first; i < count; ++i) {
        const int s = i % S;
        mbarrier_wait(empty_bar(s), ((i / S) - 1) & 1);
        int kc, row;
        coords(i, kc, row);
        mbarrier_arrive_expect_tx(full_bar(s), kStageBytes);
        tma_load_2d<true>(weight_stage(s), &maps.w, full_bar(s), kc, row);
        tokens(s, kc);
      }
    }
  } else {
    if constexpr (!light(NT)) setmaxnreg_inc<kConsumerRegs>();
    pdl_wait(); // y and the workspace: the kernels before this one are done with them
    const int cw = wg - 1, t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
    // A warp's wgmma have read stage s (wgmma_wait is warp-wide): one arrival on the stage's empty barrier.
    auto release = [&](int s) {
      __syncwarp();
      if (lane == 0) mbarrier_arrive(empty_bar(s));
    };
    float acc[kAcc];
#pragma unroll
    for (int r = 0; r < kAcc; ++r) acc[r] = 0.f;
    float* slot = args.partials + (int64_t(cta) * 2 + cw) * (64 * NT);
    int i = 0;
    int64_t it = begin;
    while (it < end) {
      const int64_t tile = it / args.k_iters, tile_first = tile * args.k_iters, tile_end = tile_first + args.k_iters;
      const int64_t stop = end < tile_end ? end : tile_end;
      const bool finisher = it == tile_first; // this CTA holds the tile's first iteration
      // One iteration's wgmma stay in flight while the next one's are issued; a stage is freed once the group that
      // read it is done.
      int reading = -1; // the stage the group in flight reads
      for (bool first_iter = true; it < stop; ++it, ++i, first_iter = false) {
        const int s = i % S;
        mbarrier_wait(full_bar(s), (i / S) & 1);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kIterK / 16; ++kk) {
          const uint64_t da = wgmma_prefill::k_major_descriptor(weight_stage(s) + cw * 64 * 128, 64, kk);
          const uint64_t db = wgmma_prefill::k_major_descriptor(token_stage(s), NT, kk);
          WgmmaSs<NT>::run(acc, da, db, first_iter && kk == 0 ? 0 : 1);
        }
        wgmma_commit();
        wgmma_wait<1>();
        if (reading >= 0) release(reading);
        reading = s;
      }
      wgmma_wait<0>();
#pragma unroll
      for (int r = 0; r < kAcc; ++r) wgmma_fence_operand(acc[r]);
      release(reading);
      const int bar_id = 1 + cw; // named barrier of this consumer warpgroup
      if (!finisher) {
        // A later part of a tile another CTA finishes: this warpgroup's 64 x NT partial sums, then its flag.
#pragma unroll
        for (int q = 0; q < kAcc / 4; ++q)
          __stcg(reinterpret_cast<float4*>(slot) + q * 128 + t,
                 make_float4(acc[4 * q], acc[4 * q + 1], acc[4 * q + 2], acc[4 * q + 3]));
        __threadfence();
        named_barrier_sync(bar_id, 128);
        if (t == 0) store_release(args.flags + 2 * cta + cw, 1u);
        continue;
      }
      // The tile's later parts, from the CTAs after this one whose ranges begin inside it (they reached them at the
      // start of their ranges, so their flags are mostly up already): thread j of the warpgroup waits for the j-th
      // one's flag and clears it for the next call, one barrier for all, then they are added in CTA order.
      const int others = stream_k::later_parts(unit, units, args.total_iters, tile_end);
      if (others > 0) {
        for (int j = t; j < others; j += 128) {
          unsigned* flag = args.flags + 2 * (cta + 1 + j) + cw;
          while (load_acquire(flag) == 0u) {
          }
          store_release(flag, 0u);
        }
        named_barrier_sync(bar_id, 128);
        for (int j = 0; j < others; ++j) {
          const float4* theirs =
              reinterpret_cast<const float4*>(args.partials + (int64_t(cta + 1 + j) * 2 + cw) * (64 * NT));
#pragma unroll
          for (int q = 0; q < kAcc / 4; ++q) {
            const float4 v = __ldcg(theirs + q * 128 + t);
            acc[4 * q] += v.x, acc[4 * q + 1] += v.y, acc[4 * q + 2] += v.z, acc[4 * q + 3] += v.w;
          }
        }
      }
      // Register r: weight row 16 warp + lane / 4 (+ 8 when bit 1 of r is set), token 8 (r / 4) + 2 (lane % 4) + r % 2.
      const int row = static_cast<int>(tile) * kTileRows + cw * 64 + 16 * warp + lane / 4;
#pragma unroll
      for (int r = 0; r < kAcc; ++r) {
        const int token = 8 * (r / 4) + 2 * (lane % 4) + (r % 2);
        if (token < args.m) args.y[int64_t(token) * args.n + row + 8 * ((r >> 1) & 1)] = __float2bfloat16(acc[r]);
      }
    }
  }
#else
  (void)maps;
  (void)args;
#endif
}

// Token rows a launch is compiled for: m rounded up to 16.
int token_tile(int m) { return (m + 15) / 16 * 16; }

bool device_is_sm90() {
  static const bool yes = [] {
    int device = 0, major = 0;
    PAGODA_CUDA_CHECK(cudaGetDevice(&device));
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    return major == 9;
  }();
  return yes;
}

size_t partial_bytes() { return size_t(device_sm_count()) * 2 * 64 * kDecodeGemmMaxRows * sizeof(float); }

template <int NT> void launch(const GemmMaps& maps, const GemmArgs& args, int ctas, cudaStream_t stream) {
  static const bool configured = [] {
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(decode_gemm_wgmma_kernel<NT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem_bytes(NT))));
    return true;
  }();
  (void)configured;
  const int grid = static_cast<int>(std::min<int64_t>(ctas, args.total_iters));
  launch_pdl("decode_gemm_wgmma_kernel", decode_gemm_wgmma_kernel<NT>, dim3(grid), dim3(kThreads), smem_bytes(NT),
             stream, maps, args);
}

} // namespace

bool decode_gemm_wgmma_supports(int m, int n, int k, const void* x, const void* w, const void* y) {
#if defined(PAGODA_CUDA_SM90A)
  auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return m >= 1 && m <= kDecodeGemmMaxRows && n > 0 && n % kTileRows == 0 && k > 0 && k % kIterK == 0 &&
         aligned(x) && aligned(w) && aligned(y) && device_is_sm90();
#else
  (void)m, (void)n, (void)k, (void)x, (void)w, (void)y;
  return false;
#endif
}

size_t decode_gemm_wgmma_workspace_bytes() { return partial_bytes() + size_t(device_sm_count()) * 2 * sizeof(unsigned); }

void decode_gemm_wgmma(const bf16* x, const bf16* w, bf16* y, int m, int n, int k, void* workspace,
                       cudaStream_t stream, int ctas) {
  if (!decode_gemm_wgmma_supports(m, n, k, x, w, y))
    throw Error("decode_gemm_wgmma: unsupported shape m " + std::to_string(m) + " n " + std::to_string(n) + " k " +
                std::to_string(k) + " (or not an sm_90a build and device)");
  if (workspace == nullptr) throw Error("decode_gemm_wgmma: no workspace");
  const int nt = token_tile(m);
  GemmMaps maps;
  maps.w = bf16_matrix_tensor_map(w, n, k, kTileRows, kIterK);
  maps.x = bf16_matrix_tensor_map(x, m, k, nt, kIterK);
  GemmArgs args;
  args.y = y;
  args.m = m;
  args.n = n;
  args.k_iters = k / kIterK;
  args.total_iters = int64_t(n / kTileRows) * args.k_iters;
  args.partials = static_cast<float*>(workspace);
  args.flags = reinterpret_cast<unsigned*>(static_cast<char*>(workspace) + partial_bytes());
  const int sms = device_sm_count();
  const int grid = ctas > 0 ? std::min(ctas, sms) : sms;
  switch (nt) {
#define PAGODA_DECODE_GEMM_CASE(N) \
  case N: launch<N>(maps, args, grid, stream); break;
    PAGODA_DECODE_GEMM_CASE(16)
    PAGODA_DECODE_GEMM_CASE(32)
    PAGODA_DECODE_GEMM_CASE(48)
    PAGODA_DECODE_GEMM_CASE(64)
    PAGODA_DECODE_GEMM_CASE(80)
    PAGODA_DECODE_GEMM_CASE(96)
    PAGODA_DECODE_GEMM_CASE(112)
    PAGODA_DECODE_GEMM_CASE(128)
    PAGODA_DECODE_GEMM_CASE(144)
    PAGODA_DECODE_GEMM_CASE(160)
    PAGODA_DECODE_GEMM_CASE(176)
    PAGODA_DECODE_GEMM_CASE(192)
    PAGODA_DECODE_GEMM_CASE(208)
    PAGODA_DECODE_GEMM_CASE(224)
    PAGODA_DECODE_GEMM_CASE(240)
    PAGODA_DECODE_GEMM_CASE(256)
#undef PAGODA_DECODE_GEMM_CASE
    default: throw Error("decode_gemm_wgmma: no kernel for " + std::to_string(nt) + " token rows");
  }
}

} // namespace pagoda::cuda
