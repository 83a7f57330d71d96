// W8A8 fp8 decode GEMM on e4m3 tensor cores (`fp8_mma_gemm`, behind PAGODA_FP8_MMA=1, default off): for m = 1..8
// tokens, y = bf16(sum_k code_x code_w sx sw), x quantized inside the kernel exactly as fake_quantize_fp8_rows does.
//
// Why: quant_gemm_lean (the m <= 8 default) converts every e4m3 weight to bf16 in registers (~2.7 PTX instructions
// a weight) and is instruction-issue bound; mma.sync m16n8k32 e4m3 takes the weight bytes as loaded, so the hot
// loop is 4 16-byte weight loads, 2 16-byte shared loads of x codes, 4 mmas and 4 adds per 64 weights a lane. It is
// also the checkpoint's exact math (codes x codes x scales), and it quantizes x itself, so a W8A8 linear needs no
// fake_quantize kernel before it (o_proj: one kernel fewer a layer).
//
// Plan (plan_fp8_mma): a CTA of W = T x S warps computes T 16-row tiles at a time ("a pass"), S warps a tile, each
// taking every S-th 128-column group (S splits k where n alone gives too few warps: o_proj / down / qkv take S 8,
// gate_up S 2). CTAs run passes b, b + grid, ... with grid = one wave of resident CTAs, so a CTA quantizes x once
// for all its passes; a warp's ring of D stages streams its groups across pass boundaries without a gap. The weight
// loads of the first D stages are issued before pdl_wait(); x is read after it with coherent loads.
#include <cuda_fp8.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"

#define FP8MMA_DEVICE __device__ __forceinline__
#define FP8MMA_KERNEL __global__ void __launch_bounds__(512, 1)
#define FP8MMA_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#include "backend/cuda/fp8_mma_gemm_kernel.cuh"
#include "backend/cuda/quant_kernels.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

using fp8mma::Params;
using fp8mma::SmemLayout;
using Kernel = void (*)(const Params);

template <bool XG, bool WB> Kernel kernel_for(int depth) {
  return depth == 2 ? fp8mma::fp8_mma_gemm_kernel<XG, WB, 2> : fp8mma::fp8_mma_gemm_kernel<XG, WB, 4>;
}
Kernel kernel_for(bool x_group, bool w_block, int depth) {
  if (x_group) return w_block ? kernel_for<true, true>(depth) : kernel_for<true, false>(depth);
  return w_block ? kernel_for<false, true>(depth) : kernel_for<false, false>(depth);
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

int max_smem_optin() {
  static const int bytes = [] {
    int device = 0, b = 0;
    PAGODA_CUDA_CHECK(cudaGetDevice(&device));
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&b, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    return b;
  }();
  return bytes;
}

// Every instantiation may take the device's whole opt-in shared memory (set once, at load through
// fp8_mma_gemm_prepare, or at the first call).
void prepare_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (bool xg : {false, true})
      for (bool wb : {false, true})
        for (int d : {2, 4})
          PAGODA_CUDA_CHECK(
              cudaFuncSetAttribute(kernel_for(xg, wb, d), cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem_optin()));
  });
}

// Resident CTAs an SM for (kernel, threads, shared bytes), asked once per key.
int ctas_per_sm(Kernel kernel, int threads, int smem) {
  static std::mutex mutex;
  static std::map<std::tuple<Kernel, int, int>, int> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(kernel, threads, smem);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  int blocks = 0;
  PAGODA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, smem));
  cache[key] = blocks;
  return blocks;
}

// The plan and grid of one call (the occupancy asked once per kernel, block and shared bytes).
Fp8MmaPlan make_plan(const QuantizedWeight& w, int m, bool x_group, const Fp8MmaConfig* config) {
  prepare_once();
  static const Fp8MmaConfig env_config{env_int("PAGODA_FP8_MMA_SPLIT", 0), env_int("PAGODA_FP8_MMA_WARPS", 0),
                                       env_int("PAGODA_FP8_MMA_CTAS", 0), env_int("PAGODA_FP8_MMA_DEPTH", 0)};
  const Fp8MmaConfig& cfg = config != nullptr ? *config : env_config;
  Fp8MmaPlan plan = plan_fp8_mma(w.n, w.k, m, x_group, device_sm_count(), cfg);
  if (plan.smem > max_smem_optin())
    throw Error("fp8_mma_gemm: " + std::to_string(plan.smem) + " bytes of shared memory for m " + std::to_string(m) +
                ", k " + std::to_string(w.k) + " exceed the device's " + std::to_string(max_smem_optin()));
  const bool w_block = w.scale_index.group_stride != 0;
  int resident = ctas_per_sm(kernel_for(x_group, w_block, plan.depth), plan.warps * 32, plan.smem);
  if (resident < 1) throw Error("fp8_mma_gemm: the kernel does not fit an SM");
  if (cfg.ctas_per_sm > 0) resident = std::min(resident, cfg.ctas_per_sm);
  // One wave, then as even a number of passes per CTA as the wave allows.
  const int wave = device_sm_count() * resident;
  const int rounds = (plan.passes + wave - 1) / wave;
  plan.grid = (plan.passes + rounds - 1) / rounds;
  return plan;
}

} // namespace

bool fp8_mma_gemm_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_FP8_MMA");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

Fp8MmaPlan plan_fp8_mma(int n, int k, int m, bool x_group, int sm_count, const Fp8MmaConfig& cfg) {
  Fp8MmaPlan p;
  const int tiles = n / 16, groups = k / 128;
  const int warps = cfg.warps > 0 ? cfg.warps : 8;
  // S: the smallest power of two that gives ~16 warps an SM (n / 16 tiles x S), at most the CTA's warps.
  int split = cfg.split;
  if (split <= 0) {
    split = 1;
    while (split < warps && int64_t(tiles) * split < int64_t(sm_count) * 16) split *= 2;
  }
  while (split > 1 && groups % split != 0) split /= 2; // every warp of a tile takes as many groups
  int per_pass = std::max(1, warps / split);
  while (per_pass > 1 && tiles % per_pass != 0) per_pass /= 2; // whole passes only
  p.split = split;
  p.tiles_per_pass = per_pass;
  p.warps = split * per_pass;
  p.passes = tiles / per_pass;
  p.depth = cfg.depth == 2 ? 2 : 4;
  p.smem = SmemLayout(p.warps, split, m, k, x_group).total;
  p.grid = 0; // the launcher sets it from the occupancy
  return p;
}


// At load: the kernels' shared-memory limit and every m's occupancy query for this weight, so that no CUDA call but
// the launch happens inside a graph capture.
void fp8_mma_gemm_prepare(const QuantizedWeight& w, int act_group) {
  for (int m = 1; m <= kFp8MmaMaxRows; ++m) make_plan(w, m, act_group == 128 && w.k != 128, nullptr);
}

void fp8_mma_gemm(const bf16* x, const QuantizedWeight& w, bf16* y, int ldy, int m, int act_group, cudaStream_t stream,
                  const Fp8MmaConfig* config, Fp8MmaPlan* plan_out) {
  if (w.format != QuantFormat::kFp8) throw Error("fp8_mma_gemm: the weight is not fp8");
  if (m < 1 || m > kFp8MmaMaxRows)
    throw Error("fp8_mma_gemm: m " + std::to_string(m) + " outside 1.." + std::to_string(kFp8MmaMaxRows));
  if (w.k % 128 != 0 || w.n % 16 != 0 || w.n < 16)
    throw Error("fp8_mma_gemm: k " + std::to_string(w.k) + " must be a multiple of 128 and n " + std::to_string(w.n) +
                " of 16");
  if (ldy < w.n) throw Error("fp8_mma_gemm: ldy below n");
  if (act_group != w.k && act_group != 128) throw Error("fp8_mma_gemm: activation groups must be k or 128");
  const bool w_block = w.scale_index.group_stride != 0;
  if (w_block && (w.scale_index.group_stride != 1 || w.scale_index.row_shift != 7))
    throw Error("fp8_mma_gemm: block scales must be 128x128");
  if (!w_block && (w.scale_index.row_shift != 0 || w.scale_index.row_stride != 1))
    throw Error("fp8_mma_gemm: per-channel scales must be one float a row");
  const bool x_group = act_group == 128 && w.k != 128;
  const Fp8MmaPlan plan = make_plan(w, m, x_group, config);
  if (plan_out != nullptr) *plan_out = plan;
  const Kernel kernel = kernel_for(x_group, w_block, plan.depth);
  Params p;
  p.x = x;
  p.w = static_cast<const uint8_t*>(w.packed);
  p.w_scales = static_cast<const float*>(w.scales);
  p.scale_row_stride = w.scale_index.row_stride;
  p.y = y;
  p.ldy = ldy;
  p.m = m;
  p.k = w.k;
  p.split = plan.split;
  p.tiles_per_pass = plan.tiles_per_pass;
  p.passes = plan.passes;
  launch_pdl("fp8_mma_gemm_kernel", kernel, dim3(plan.grid), dim3(plan.warps * 32), size_t(plan.smem), stream, p);
}

} // namespace pagoda::cuda
