// GEMMs through cuBLASLt, loaded with dlopen at run time (the build machine has no cuBLAS):
// y[m, n] = x[m, k] · w[n, k]^T, f32 accumulation; bf16 inputs with output bf16 or f32, or
// all float32 (the float32 compute path: CUBLAS_COMPUTE_32F, no TF32). A bf16 shape tuned for
// its bucket of m runs the fastest of skinny_gemm and cuBLASLt's candidates as timed by
// tune(); an untuned one takes the heuristic's first algorithm (cached per m, n, k, types) and, for
// decode-sized m, its first call times skinny_gemm against it. The workspace is owned here.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/cuda/device_buffer.h"

namespace pagoda::cuda {

struct CublasLtApi; // the resolved entry points (cublaslt.cpp)

enum class GemmOutput { kBf16, kF32 };

// How the fp8 GEMM's scales apply (cuBLASLt 12.9+ scale modes on sm_90):
//   kPerChannel: w_scales[n] per weight row, x_scales[m] per input row (outer vectors);
//   kBlock128: w_scales [ceil(n/128)][k/128] per 128x128 weight block (row-major, as the
//     checkpoints ship it), x_scales [k/128][m] per input row and 128 columns.
enum class Fp8Scaling { kPerChannel, kBlock128 };

// Which cuBLASLt candidates CublasLt::tune times: the heuristic's first kTuneCandidates, or every configuration the
// library accepts for the shape (search()'s list: ~250 for Llama-3-8B's GEMMs), each first timed coarsely (host
// launches, two runs, within a budget), the fastest eight then as the heuristic's are. A timing is named
// "cuBLASLt #i" (i: the candidate's place in the list), " (coarse)" added for the first pass.
enum class TuneCandidates { kHeuristic, kEveryConfiguration };

// One candidate timed by CublasLt::tune: "skinny" or "cuBLASLt #i" (the heuristic's i-th).
struct GemmTiming {
  std::string kernel;
  float ms = 0.f;
};

class CublasLt {
public:
  explicit CublasLt(size_t workspace_bytes = 32u << 20);
  ~CublasLt();
  CublasLt(const CublasLt&) = delete;
  CublasLt& operator=(const CublasLt&) = delete;

  // x: [m, k] row-major bf16; w: [n, k] row-major bf16 (a PyTorch Linear weight);
  // y: [m, n] row-major, bf16 or f32 as `output` says. beta = 1 adds into y.
  void linear(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput output, int m,
              int n, int k, cudaStream_t stream, float beta = 0.f);
  // The same with x, w and y all float32, in full float32 arithmetic (cuBLASLt only).
  void linear(const float* x, const float* w, float* y, int m, int n, int k, cudaStream_t stream,
              float beta = 0.f);

  // W8A8: y[m, n] (bf16) = (x_q * x_scales) · (w_q * w_scales)^T with x_q [m, k] and w_q
  // [n, k] e4m3 row-major, f32 accumulation on the fp8 tensor cores. Throws when the loaded
  // cuBLASLt has no algorithm for the scale mode (older than 12.9).
  void linear_fp8(const uint8_t* x_q, const float* x_scales, const uint8_t* w_q, const float* w_scales,
                  __nv_bfloat16* y, Fp8Scaling scaling, int m, int n, int k, cudaStream_t stream);

  // Times skinny_gemm (where it applies) and up to kTuneCandidates of cuBLASLt's algorithms (or the fastest of every
  // configuration it accepts in a coarse first pass of at most budget_s: `candidates`) at
  // m rounded up to its bucket (tune_bucket), each over `weights` in turn (same-shaped copies,
  // e.g. every layer's, so the timing reads DRAM as a step does and not L2), and keeps the
  // fastest for every m of the bucket. x and y must hold the bucket's rows; y is overwritten.
  // Not during graph capture. Returns every candidate's time, the heuristic's order.
  std::vector<GemmTiming> tune(const __nv_bfloat16* x, const std::vector<const __nv_bfloat16*>& weights, void* y,
                               GemmOutput output, int m, int n, int k, cudaStream_t stream,
                               TuneCandidates candidates = TuneCandidates::kHeuristic, double budget_s = 0.5);
  // The same for a W8A8 fp8 GEMM with per-channel x per-token scales (linear_fp8): the library's scale-mode
  // algorithms and its unit-scale ones followed by scale_fp8_gemm_output (timed together), up to kTuneCandidates of
  // each over `weights` (codes, scales) in turn at m's bucket; the fastest is kept for every m of the bucket. With
  // the scale modes cuBLASLt 13 offers one algorithm, 32 CTAs of 128 x 128 for Llama-3-8B's o_proj and down at
  // m 64 on the H200. x_q / x_scales / y hold the bucket's rows. Returns every candidate's time.
  std::vector<GemmTiming> tune_fp8(const uint8_t* x_q, const float* x_scales,
                                   const std::vector<std::pair<const uint8_t*, const float*>>& weights,
                                   __nv_bfloat16* y, int m, int n, int k, cudaStream_t stream);
  // The kernel bench's look past the heuristic: every configuration cuBLASLt accepts for a bf16 GEMM of exactly m
  // (its 64 heuristic choices, then each algorithm id x tile x stages x swizzle x split-K 1 / 2 / 4), each timed as
  // tune() times its candidates, until budget_s has passed. Keeps nothing; returns the timings, unsorted.
  std::vector<GemmTiming> search(const __nv_bfloat16* x, const std::vector<const __nv_bfloat16*>& weights, void* y,
                                 int m, int n, int k, cudaStream_t stream, double budget_s);
  // The m a tuned choice is timed at and shared by: decode sizes 1, 2, 4, 8, then multiples
  // of 8 to 256, of 32 to 2048 (prompt steps: the tiles the heuristic names there span 64-256 rows of m, multiples
  // of 32, so every m of a bucket runs the tile count it was timed at), of 512 beyond.
  static int tune_bucket(int m);

  // cublasLtMatmulAlgo_t's layout (an opaque 64 bytes).
  struct Algo {
    uint64_t data[8];
  };

  // Which kernel serves a shape already seen: 0 not timed yet, 1 cuBLASLt, 2 skinny_gemm;
  // -1 for a shape never seen (benchmarks print it).
  int kernel_choice(int m, int n, int k, GemmOutput output) const;

  size_t workspace_bytes() const { return workspace_.bytes(); }

  // The SMs this instance's bf16 GEMMs may spread over (CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET; 0: every SM), so
  // another stream's kernels find SMs free beside them. For shapes first seen afterwards: call it before any GEMM.
  void set_sm_count_target(int sms) { sm_count_target_ = sms; }

  // Makes the bf16 plan of exactly m ahead of the step that needs it: a new m's plan is a heuristic search (~0.15 ms
  // of host time, while an eager step's device waits for the launch behind it), and cuBLASLt loads a kernel on its
  // first launch. So the plan's algorithm also runs once here where no plan of the same configuration has run yet
  // (x: m rows, y: m rows of the output, overwritten). For m past skinny_gemm's sizes. Not during graph capture.
  void prepare(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput output, int m, int n, int k,
               cudaStream_t stream);
  // Distinct cuBLASLt configurations prepare() has run.
  size_t prepared_kernels() const { return prepared_algos_.size(); }

  // Plans made so far (one a new m, n, k, output, input type) and the host seconds making them took.
  int64_t plans_made() const { return plans_made_; }
  double plan_host_seconds() const { return plan_host_seconds_; }

  // Where the library came from (for logs): the path or name dlopen accepted.
  static const char* library_name();

private:
  static constexpr int kTuneCandidates = 8;
  static constexpr int kTuneRuns = 4;
  struct Plan;
  struct Tuned {
    bool skinny = false;
    Algo algo{};
  };
  void describe(Plan& plan, int m, int n, int k, GemmOutput output, bool f32_inputs) const;
  // An fp8 GEMM's descriptors: with the scale modes (scale pointers set) or for a unit-scale GEMM.
  void describe_fp8(Plan& plan, int m, int n, int k, Fp8Scaling scaling, const float* x_scales,
                    const float* w_scales, bool scale_modes) const;
  struct Fp8Tuned {
    bool unit_scales = false;
    Algo algo{};
  };
  std::vector<Algo> heuristics(const Plan& plan, int count, const char* what) const;
  std::vector<std::pair<std::string, Algo>> configurations(const Plan& plan, const std::string& what, bool report) const;
  bool accepts(const Plan& plan, const Algo& algo) const;
  Plan& plan_for(int m, int n, int k, GemmOutput output, bool f32_inputs = false);
  void run_cublaslt(const Plan& plan, const void* x, const void* w, void* y, cudaStream_t stream, float beta);
  bool try_matmul(const Plan& plan, const Algo& algo, const void* x, const void* w, void* y, cudaStream_t stream);
  bool skinny_is_faster(const Plan& plan, const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput output,
                        int m, int n, int k, cudaStream_t stream);

  const CublasLtApi& api_;
  void* handle_ = nullptr;
  DeviceBuffer workspace_;
  int sm_count_target_ = 0;
  int64_t plans_made_ = 0;
  double plan_host_seconds_ = 0.0;
  std::map<std::tuple<int, int, int, int, bool>, std::unique_ptr<Plan>> plans_; // m, n, k, output, f32 inputs
  std::map<std::tuple<int, int, int, int>, std::unique_ptr<Plan>> fp8_plans_; // m, n, k, scaling
  std::map<std::tuple<int, int, int, int>, Tuned> tuned_;                       // bucket, n, k, output (bf16)
  std::map<std::tuple<int, int, int>, Fp8Tuned> fp8_tuned_;                     // bucket, n, k (per channel)
  std::set<std::array<uint64_t, 8>> prepared_algos_;                             // configurations prepare() ran
  std::map<std::tuple<int, int, int>, std::vector<Algo>> every_config_;          // n, k, output: accepted at first tune
};

} // namespace pagoda::cuda
