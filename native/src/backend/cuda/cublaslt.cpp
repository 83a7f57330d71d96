// cuBLASLt by dlopen: the few types, enums and entry points Pagoda calls, declared here
// with the values of NVIDIA's cublasLt.h (stable across CUDA 12 and 13), then the GEMM.
#include "backend/cuda/cublaslt.h"

#include <dlfcn.h>
#include <library_types.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/quant_kernels.h"
#include "backend/cuda/step_timer.h"
#include "backend/cuda/stream.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

using Status = int; // cublasStatus_t; 0 = success
using Handle = void*;
using MatmulDesc = void*;
using MatrixLayout = void*;
using Preference = void*;

using MatmulAlgo = CublasLt::Algo;
struct HeuristicResult {
  MatmulAlgo algo;
  size_t workspace_size;
  Status state;
  float waves_count;
  int reserved[4];
};

constexpr int kComputeType32F = 68;       // CUBLAS_COMPUTE_32F
constexpr int kDescTransA = 3;            // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kDescTransB = 4;            // CUBLASLT_MATMUL_DESC_TRANSB
constexpr int kDescSmCountTarget = 15;    // CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET (int32)
constexpr int kOpN = 0;                   // CUBLAS_OP_N
constexpr int kOpT = 1;                   // CUBLAS_OP_T
constexpr int kPrefMaxWorkspaceBytes = 1; // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
constexpr int kDescAScalePointer = 17;    // CUBLASLT_MATMUL_DESC_A_SCALE_POINTER
constexpr int kDescBScalePointer = 18;    // CUBLASLT_MATMUL_DESC_B_SCALE_POINTER
constexpr int kDescAScaleMode = 31;       // CUBLASLT_MATMUL_DESC_A_SCALE_MODE (12.8+)
constexpr int kDescBScaleMode = 32;       // CUBLASLT_MATMUL_DESC_B_SCALE_MODE
constexpr int kScaleOuterVec32F = 3;      // CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F (12.9+)
constexpr int kScaleVec128_32F = 4;       // CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F
constexpr int kScaleBlk128x128_32F = 5;   // CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F
// Algorithm enumeration (CublasLt::search): cublasLtMatmulAlgoCapAttributes_t / ConfigAttributes_t.
constexpr int kCapSplitKSupport = 0;      // CUBLASLT_ALGO_CAP_SPLITK_SUPPORT (int32)
constexpr int kCapReductionMask = 1;      // CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK (uint32)
constexpr int kCapSwizzleSupport = 2;     // CUBLASLT_ALGO_CAP_CTA_SWIZZLING_SUPPORT (uint32)
constexpr int kCapTileIds = 6;            // CUBLASLT_ALGO_CAP_TILE_IDS (uint32 array)
constexpr int kCapStagesIds = 13;         // CUBLASLT_ALGO_CAP_STAGES_IDS (uint32 array)
constexpr int kConfigTileId = 1;          // CUBLASLT_ALGO_CONFIG_TILE_ID (uint32)
constexpr int kConfigSplitK = 2;          // CUBLASLT_ALGO_CONFIG_SPLITK_NUM (uint32)
constexpr int kConfigReduction = 3;       // CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME (uint32)
constexpr int kConfigSwizzle = 4;         // CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING (uint32)
constexpr int kConfigStagesId = 6;        // CUBLASLT_ALGO_CONFIG_STAGES_ID (uint32)
constexpr int kConfigClusterShape = 8;    // CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID (uint16)

} // namespace

struct CublasLtApi {
  std::string library;
  Status (*create)(Handle*);
  Status (*destroy)(Handle);
  const char* (*status_string)(Status);
  Status (*desc_create)(MatmulDesc*, int compute_type, cudaDataType_t scale_type);
  Status (*desc_destroy)(MatmulDesc);
  Status (*desc_set)(MatmulDesc, int attr, const void* buf, size_t size);
  Status (*layout_create)(MatrixLayout*, cudaDataType_t type, uint64_t rows, uint64_t cols, int64_t ld);
  Status (*layout_destroy)(MatrixLayout);
  Status (*pref_create)(Preference*);
  Status (*pref_destroy)(Preference);
  Status (*pref_set)(Preference, int attr, const void* buf, size_t size);
  Status (*heuristic)(Handle, MatmulDesc, MatrixLayout, MatrixLayout, MatrixLayout, MatrixLayout,
                      Preference, int requested, HeuristicResult* results, int* returned);
  Status (*matmul)(Handle, MatmulDesc, const void* alpha, const void* a, MatrixLayout, const void* b,
                   MatrixLayout, const void* beta, const void* c, MatrixLayout, void* d, MatrixLayout,
                   const MatmulAlgo* algo, void* workspace, size_t workspace_size, cudaStream_t stream);
  Status (*algo_check)(Handle, MatmulDesc, MatrixLayout, MatrixLayout, MatrixLayout, MatrixLayout,
                       const MatmulAlgo* algo, HeuristicResult* result);
  // Enumeration, for CublasLt::search only.
  Status (*algo_get_ids)(Handle, int compute_type, cudaDataType_t scale_type, cudaDataType_t a, cudaDataType_t b,
                         cudaDataType_t c, cudaDataType_t d, int requested, int* ids, int* returned);
  Status (*algo_init)(Handle, int compute_type, cudaDataType_t scale_type, cudaDataType_t a, cudaDataType_t b,
                      cudaDataType_t c, cudaDataType_t d, int id, MatmulAlgo* algo);
  Status (*algo_cap_get)(const MatmulAlgo*, int attr, void* buf, size_t size, size_t* written);
  Status (*algo_config_set)(MatmulAlgo*, int attr, const void* buf, size_t size);
  Status (*algo_config_get)(const MatmulAlgo*, int attr, void* buf, size_t size, size_t* written);
};

namespace {

template <typename Fn> void resolve(void* lib, const char* name, Fn& fn, const std::string& from) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (fn == nullptr) throw Error("cuBLASLt: " + from + " has no symbol " + name + "; install a CUDA 12 or 13 cuBLAS");
}

std::unique_ptr<CublasLtApi> load_api() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PAGODA_CUBLASLT")) candidates.emplace_back(env);
  candidates.insert(candidates.end(), {"libcublasLt.so.13", "libcublasLt.so.12",
                                       "/usr/local/cuda/lib64/libcublasLt.so.13",
                                       "/usr/local/cuda/lib64/libcublasLt.so.12"});
  void* lib = nullptr;
  std::string tried, from;
  for (const std::string& name : candidates) {
    lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) {
      from = name;
      break;
    }
    const char* why = dlerror();
    tried += "\n  " + name + ": " + (why ? why : "not found");
  }
  if (lib == nullptr)
    throw Error("cuBLASLt could not be loaded; tried:" + tried +
                "\nInstall cuBLAS (CUDA 12 or 13), add its lib folder to LD_LIBRARY_PATH, or set "
                "PAGODA_CUBLASLT to the full path of libcublasLt.so");
  auto api = std::make_unique<CublasLtApi>();
  api->library = from;
  resolve(lib, "cublasLtCreate", api->create, from);
  resolve(lib, "cublasLtDestroy", api->destroy, from);
  resolve(lib, "cublasLtGetStatusString", api->status_string, from);
  resolve(lib, "cublasLtMatmulDescCreate", api->desc_create, from);
  resolve(lib, "cublasLtMatmulDescDestroy", api->desc_destroy, from);
  resolve(lib, "cublasLtMatmulDescSetAttribute", api->desc_set, from);
  resolve(lib, "cublasLtMatrixLayoutCreate", api->layout_create, from);
  resolve(lib, "cublasLtMatrixLayoutDestroy", api->layout_destroy, from);
  resolve(lib, "cublasLtMatmulPreferenceCreate", api->pref_create, from);
  resolve(lib, "cublasLtMatmulPreferenceDestroy", api->pref_destroy, from);
  resolve(lib, "cublasLtMatmulPreferenceSetAttribute", api->pref_set, from);
  resolve(lib, "cublasLtMatmulAlgoGetHeuristic", api->heuristic, from);
  resolve(lib, "cublasLtMatmul", api->matmul, from);
  resolve(lib, "cublasLtMatmulAlgoCheck", api->algo_check, from);
  resolve(lib, "cublasLtMatmulAlgoGetIds", api->algo_get_ids, from);
  resolve(lib, "cublasLtMatmulAlgoInit", api->algo_init, from);
  resolve(lib, "cublasLtMatmulAlgoCapGetAttribute", api->algo_cap_get, from);
  resolve(lib, "cublasLtMatmulAlgoConfigSetAttribute", api->algo_config_set, from);
  resolve(lib, "cublasLtMatmulAlgoConfigGetAttribute", api->algo_config_get, from);
  return api; // the library stays loaded for the life of the process
}

const CublasLtApi& api_instance() {
  static std::once_flag once;
  static std::unique_ptr<CublasLtApi> api;
  static std::string failure;
  std::call_once(once, [] {
    try {
      api = load_api();
    } catch (const Error& e) {
      failure = e.what();
    }
  });
  if (!api) throw Error(failure);
  return *api;
}

void check(const CublasLtApi& api, Status status, const char* what) {
  if (status != 0)
    throw Error(std::string("cuBLASLt ") + what + " failed: " + api.status_string(status) +
                " (status " + std::to_string(status) + ")");
}

// PAGODA_TUNE_GRAPHS=0: the tuners time candidates launched one by one instead of as a graph (read once).
bool tune_graphs_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_TUNE_GRAPHS");
    return !(v != nullptr && std::string(v) == "0");
  }();
  return on;
}

// One warm-up call of run (it returns false where the library refused the candidate), then `runs` calls timed
// together on the stream: their mean in ms, or -1 for a refused candidate. On a stream that can be captured the
// runs are one CUDA graph, replayed kTuneReplays times: candidates are then timed as the decode graphs run them
// (kernels back to back, PDL overlap between a GEMM and the scaling after it), not at the rate the host launches
// them, which had made a candidate of two short kernels look slower than one of one longer kernel.
template <typename Run> float mean_ms(Run&& run, int runs, cudaStream_t stream) {
  constexpr int kTuneReplays = 4;
  if (!run()) return -1.f;
  auto enqueue_runs = [&] {
    bool ran = true;
    for (int i = 0; i < runs; ++i) ran = run() && ran;
    return ran;
  };
  if (stream == nullptr || !tune_graphs_enabled()) // the legacy stream cannot be captured
    return event_elapsed_ms(stream, enqueue_runs) / runs;
  bool ran = true;
  const GraphExec exec = capture_graph(stream, [&] { ran = enqueue_runs(); });
  if (!ran) return -1.f;
  exec.launch(stream); // warm-up: the graph's first launch uploads it
  return event_elapsed_ms(stream, [&] {
           for (int i = 0; i < kTuneReplays; ++i) exec.launch(stream);
         }) /
         (runs * kTuneReplays);
}

// The coarse first pass of a tune over many candidates: run(i) launches candidate i (false: refused), each in list
// order until budget_s has passed, a warm-up and then two runs between events (host launches, no graph capture).
// Returns the places of the `keep` fastest, fastest first; every coarse time goes to timings as "cuBLASLt #i (coarse)".
template <typename Run>
std::vector<size_t> coarse_finalists(size_t count, Run&& run, int keep, double budget_s, cudaStream_t stream,
                                     std::vector<GemmTiming>& timings) {
  std::vector<std::pair<float, size_t>> coarse;
  const auto began = std::chrono::steady_clock::now();
  for (size_t i = 0; i < count; ++i) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() > budget_s) break;
    if (!run(i)) continue;
    bool ran = true;
    const float ms = event_elapsed_ms(stream, [&] {
                       for (int r = 0; r < 2; ++r) ran = run(i) && ran;
                     }) / 2;
    if (!ran) continue;
    coarse.emplace_back(ms, i);
    timings.push_back({"cuBLASLt #" + std::to_string(i) + " (coarse)", ms});
  }
  std::stable_sort(coarse.begin(), coarse.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<size_t> places;
  for (size_t j = 0; j < coarse.size() && j < size_t(keep); ++j) places.push_back(coarse[j].second);
  return places;
}

// Timing synchronizes the stream, which a graph capture cannot.
void require_no_capture(cudaStream_t stream, const char* who) {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  PAGODA_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  if (capture != cudaStreamCaptureStatusNone) throw Error(std::string(who) + ": called during graph capture");
}

} // namespace

// Descriptors and the chosen algorithm of one GEMM shape.
struct CublasLt::Plan {
  const CublasLtApi* api = nullptr;
  MatmulDesc desc = nullptr;
  MatrixLayout a = nullptr, b = nullptr, c = nullptr;
  MatmulAlgo algo{};
  enum class Kernel { kUntimed, kCublasLt, kSkinny } kernel = Kernel::kUntimed;
  bool unit_scales = false; // fp8 per-channel without outer-vector scale modes: scales applied after
  ~Plan() {
    if (c) api->layout_destroy(c);
    if (b) api->layout_destroy(b);
    if (a) api->layout_destroy(a);
    if (desc) api->desc_destroy(desc);
  }
};

CublasLt::CublasLt(size_t workspace_bytes) : api_(api_instance()), workspace_(workspace_bytes) {
  check(api_, api_.create(&handle_), "cublasLtCreate");
}

CublasLt::~CublasLt() {
  plans_.clear();
  if (handle_) api_.destroy(handle_);
}

const char* CublasLt::library_name() { return api_instance().library.c_str(); }

// Descriptors for y[m, n] = x[m, k] · w[n, k]^T in cuBLASLt's column-major view:
// Y^T [n x m] = W [k x n]^T · X^T [k x m]; W and X are k-major.
void CublasLt::describe(Plan& plan, int m, int n, int k, GemmOutput output, bool f32_inputs) const {
  plan.api = &api_;
  check(api_, api_.desc_create(&plan.desc, kComputeType32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const int trans_a = kOpT, trans_b = kOpN;
  check(api_, api_.desc_set(plan.desc, kDescTransA, &trans_a, sizeof(trans_a)), "set TRANSA");
  check(api_, api_.desc_set(plan.desc, kDescTransB, &trans_b, sizeof(trans_b)), "set TRANSB");
  if (sm_count_target_ > 0) {
    const int32_t sms = sm_count_target_;
    check(api_, api_.desc_set(plan.desc, kDescSmCountTarget, &sms, sizeof(sms)), "set SM_COUNT_TARGET");
  }
  const cudaDataType_t out_type = output == GemmOutput::kF32 ? CUDA_R_32F : CUDA_R_16BF;
  // CUBLAS_COMPUTE_32F on float32 inputs is plain float32 arithmetic: TF32 would need
  // CUBLAS_COMPUTE_32F_FAST_TF32, which the float32 path must not use.
  const cudaDataType_t in_type = f32_inputs ? CUDA_R_32F : CUDA_R_16BF;
  check(api_, api_.layout_create(&plan.a, in_type, k, n, k), "layout of W");
  check(api_, api_.layout_create(&plan.b, in_type, k, m, k), "layout of X");
  check(api_, api_.layout_create(&plan.c, out_type, n, m, n), "layout of Y");
}

// cuBLASLt's candidates for a described shape, best first by its own estimate; at least one.
std::vector<CublasLt::Algo> CublasLt::heuristics(const Plan& plan, int count, const char* what) const {
  Preference pref = nullptr;
  check(api_, api_.pref_create(&pref), "cublasLtMatmulPreferenceCreate");
  const uint64_t max_workspace = workspace_.bytes();
  Status status = api_.pref_set(pref, kPrefMaxWorkspaceBytes, &max_workspace, sizeof(max_workspace));
  std::vector<HeuristicResult> results(static_cast<size_t>(count));
  int returned = 0;
  if (status == 0)
    status = api_.heuristic(handle_, plan.desc, plan.a, plan.b, plan.c, plan.c, pref, count, results.data(), &returned);
  api_.pref_destroy(pref);
  check(api_, status, "cublasLtMatmulAlgoGetHeuristic");
  std::vector<Algo> algos;
  for (int i = 0; i < returned; ++i)
    if (results[i].state == 0) algos.push_back(results[i].algo);
  if (algos.empty()) throw Error(std::string("cuBLASLt has no algorithm for a ") + what);
  return algos;
}

// Whether a tuned algorithm (timed at its bucket's largest m) also runs this plan's m.
bool CublasLt::accepts(const Plan& plan, const Algo& algo) const {
  HeuristicResult result{};
  return api_.algo_check(handle_, plan.desc, plan.a, plan.b, plan.c, plan.c, &algo, &result) == 0 &&
         result.workspace_size <= workspace_.bytes();
}

CublasLt::Plan& CublasLt::plan_for(int m, int n, int k, GemmOutput output, bool f32_inputs) {
  const auto key = std::make_tuple(m, n, k, static_cast<int>(output), f32_inputs);
  auto found = plans_.find(key);
  if (found != plans_.end()) return *found->second;

  const auto began = std::chrono::steady_clock::now();
  auto plan = std::make_unique<Plan>();
  describe(*plan, m, n, k, output, f32_inputs);
  const std::string what = std::string(f32_inputs ? "float32" : "bf16") + " GEMM of m=" + std::to_string(m) +
                           " n=" + std::to_string(n) + " k=" + std::to_string(k);
  // A tuned cuBLASLt choice the exact m accepts needs no heuristic search of its own: the search is host time on
  // every new m, and a step carrying prompt tokens brings one (its prompt tokens plus its decode rows) to each shape.
  bool chosen = false;
  if (!f32_inputs) {
    const auto tuned = tuned_.find(std::make_tuple(tune_bucket(m), n, k, static_cast<int>(output)));
    if (tuned != tuned_.end()) {
      if (tuned->second.skinny && m <= kSkinnyGemmMaxRows) {
        plan->kernel = Plan::Kernel::kSkinny; // the heuristic's algorithm still serves a call skinny_gemm refuses
      } else if (!tuned->second.skinny && accepts(*plan, tuned->second.algo)) {
        plan->algo = tuned->second.algo;
        plan->kernel = Plan::Kernel::kCublasLt;
        chosen = true;
      }
    }
  }
  if (!chosen) plan->algo = heuristics(*plan, 1, what.c_str()).front();
  ++plans_made_;
  plan_host_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return *plans_.emplace(key, std::move(plan)).first->second;
}

int CublasLt::tune_bucket(int m) {
  if (m <= 8) {
    int b = 1;
    while (b < m) b *= 2;
    return b;
  }
  if (m <= 256) return (m + 7) / 8 * 8;
  if (m <= 2048) return (m + 31) / 32 * 32;
  return (m + 511) / 512 * 512;
}

std::vector<GemmTiming> CublasLt::tune(const __nv_bfloat16* x, const std::vector<const __nv_bfloat16*>& weights,
                                       void* y, GemmOutput output, int m, int n, int k, cudaStream_t stream,
                                       TuneCandidates candidates, double budget_s) {
  if (weights.empty()) throw Error("CublasLt::tune: no weights to time on");
  const int bucket = tune_bucket(m);
  require_no_capture(stream, "CublasLt::tune");
  Plan plan;
  describe(plan, bucket, n, k, output, false);
  const std::string what = "bf16 GEMM of m=" + std::to_string(bucket) + " n=" + std::to_string(n) +
                           " k=" + std::to_string(k);
  std::vector<Algo> algos = heuristics(plan, candidates == TuneCandidates::kEveryConfiguration ? 64 : kTuneCandidates,
                                       what.c_str());
  if (candidates == TuneCandidates::kEveryConfiguration) {
    // The library's ~12,000 configurations are checked once a shape (the first m it is tuned at); each m takes
    // those accepted then that it accepts too, after the heuristic's own choices for it.
    const auto shape = std::make_tuple(n, k, static_cast<int>(output));
    auto known = every_config_.find(shape);
    if (known == every_config_.end()) {
      std::vector<Algo> accepted;
      for (const auto& named : configurations(plan, what, false)) accepted.push_back(named.second);
      known = every_config_.emplace(shape, std::move(accepted)).first;
    }
    auto listed = [&](const Algo& a) {
      return std::any_of(algos.begin(), algos.end(), [&](const Algo& b) {
        return std::equal(std::begin(a.data), std::end(a.data), std::begin(b.data));
      });
    };
    for (const Algo& a : known->second)
      if (!listed(a) && accepts(plan, a)) algos.push_back(a);
  }

  // Each candidate: one warm-up, then kTuneRuns runs over the weights in turn, timed together.
  size_t turn = 0;
  auto time_ms = [&](auto&& run) {
    return mean_ms([&] { return run(weights[turn++ % weights.size()]); }, kTuneRuns, stream);
  };
  std::vector<GemmTiming> timings;
  std::vector<size_t> place(algos.size()); // a candidate's place in the list first timed (its name)
  std::iota(place.begin(), place.end(), size_t(0));
  if (candidates == TuneCandidates::kEveryConfiguration) {
    // A full timing (mean_ms) is a graph capture and ~20 runs, a few ms a candidate: too much for ~250 a bucket. So
    // every configuration gets a coarse one first, and its fastest kTuneCandidates go on to the full timing below.
    place = coarse_finalists(
        algos.size(),
        [&](size_t i) { return try_matmul(plan, algos[i], x, weights[turn++ % weights.size()], y, stream); },
        kTuneCandidates, budget_s, stream, timings);
    std::vector<Algo> finalists;
    for (size_t i : place) finalists.push_back(algos[i]);
    algos = std::move(finalists);
  }
  Tuned best;
  float best_ms = -1.f;
  for (size_t i = 0; i < algos.size(); ++i) {
    const float ms = time_ms([&](const __nv_bfloat16* w) { return try_matmul(plan, algos[i], x, w, y, stream); });
    if (ms < 0.f) continue;
    timings.push_back({"cuBLASLt #" + std::to_string(place[i]), ms});
    if (best_ms < 0.f || ms < best_ms) best_ms = ms, best = Tuned{false, algos[i]};
  }
  if (skinny_gemm_supports(bucket, k, x, weights.front())) {
    const float ms = time_ms([&](const __nv_bfloat16* w) {
      skinny_gemm(x, w, y, output == GemmOutput::kF32, bucket, n, k, 0.f, stream);
      return true;
    });
    timings.push_back({"skinny", ms});
    if (best_ms < 0.f || ms < best_ms) best_ms = ms, best = Tuned{true, {}};
  }
  if (best_ms < 0.f) throw Error("cuBLASLt ran none of its candidates for a " + what);
  tuned_[std::make_tuple(bucket, n, k, static_cast<int>(output))] = best;
  // Plans made before this for m of the bucket are made again with the choice.
  for (auto it = plans_.begin(); it != plans_.end();) {
    const auto& [pm, pn, pk, pout, pf32] = it->first;
    const bool same = !pf32 && pn == n && pk == k && pout == static_cast<int>(output) && tune_bucket(pm) == bucket;
    it = same ? plans_.erase(it) : std::next(it);
  }
  return timings;
}

namespace {

// cublasLtMatmulTile_t's names by value (NVIDIA's enum order), for the search's report.
std::string tile_name(uint32_t id) {
  static const char* const names[] = {
      "auto",    "8x8",     "8x16",    "16x8",    "8x32",    "16x16",   "32x8",    "8x64",   "16x32",
      "32x16",   "64x8",    "32x32",   "32x64",   "64x32",   "32x128",  "64x64",   "128x32", "64x128",
      "128x64",  "64x256",  "128x128", "256x64",  "64x512",  "128x256", "256x128", "512x64", "64x96",
      "96x64",   "96x128",  "128x160", "160x128", "192x128", "128x192", "128x96",  "32x256", "256x32"};
  return id < sizeof(names) / sizeof(names[0]) ? names[id] : "tile#" + std::to_string(id);
}

template <typename T> std::vector<T> cap_list(const CublasLtApi& api, const CublasLt::Algo& algo, int attr) {
  size_t written = 0;
  if (api.algo_cap_get(&algo, attr, nullptr, 0, &written) != 0 || written == 0) return {};
  std::vector<T> values(written / sizeof(T));
  if (api.algo_cap_get(&algo, attr, values.data(), values.size() * sizeof(T), &written) != 0) return {};
  return values;
}

template <typename T> T config_value(const CublasLtApi& api, const CublasLt::Algo& algo, int attr) {
  T value{};
  size_t written = 0;
  api.algo_config_get(&algo, attr, &value, sizeof(value), &written);
  return value;
}

// What an algorithm is, in the words of its config: "id 66 128x256 stages 20 split 1 swizzle 0 cluster 2".
std::string describe_algo(const CublasLtApi& api, const CublasLt::Algo& algo) {
  constexpr int kConfigId = 0; // CUBLASLT_ALGO_CONFIG_ID (int32)
  return "id " + std::to_string(config_value<int32_t>(api, algo, kConfigId)) + " " +
         tile_name(config_value<uint32_t>(api, algo, kConfigTileId)) + " stages " +
         std::to_string(config_value<uint32_t>(api, algo, kConfigStagesId)) + " split " +
         std::to_string(config_value<uint32_t>(api, algo, kConfigSplitK)) + " swizzle " +
         std::to_string(config_value<uint32_t>(api, algo, kConfigSwizzle)) + " cluster " +
         std::to_string(config_value<uint16_t>(api, algo, kConfigClusterShape));
}

} // namespace

// Every algorithm id, tile, stage count, split-K 1 / 2 / 4 and swizzle the library accepts for plan's shape, after the
// heuristic's own choices (up to 64; the first of each pair names the configuration). report: print the counts.
std::vector<std::pair<std::string, CublasLt::Algo>> CublasLt::configurations(const Plan& plan, const std::string& what,
                                                                             bool report) const {
  std::vector<std::pair<std::string, Algo>> candidates;
  const std::vector<Algo> heuristic = heuristics(plan, 64, what.c_str());
  for (size_t i = 0; i < heuristic.size(); ++i)
    candidates.emplace_back("heuristic #" + std::to_string(i) + ": " + describe_algo(api_, heuristic[i]), heuristic[i]);
  std::vector<int> ids(512);
  int returned = 0;
  check(api_, api_.algo_get_ids(handle_, kComputeType32F, CUDA_R_32F, CUDA_R_16BF, CUDA_R_16BF, CUDA_R_16BF,
                                CUDA_R_16BF, static_cast<int>(ids.size()), ids.data(), &returned),
        "cublasLtMatmulAlgoGetIds");
  ids.resize(static_cast<size_t>(returned));
  size_t tried = 0;
  for (int id : ids) {
    Algo base{};
    if (api_.algo_init(handle_, kComputeType32F, CUDA_R_32F, CUDA_R_16BF, CUDA_R_16BF, CUDA_R_16BF, CUDA_R_16BF, id,
                       &base) != 0)
      continue;
    std::vector<uint32_t> tiles = cap_list<uint32_t>(api_, base, kCapTileIds);
    std::vector<uint32_t> stages = cap_list<uint32_t>(api_, base, kCapStagesIds);
    if (tiles.empty()) tiles.push_back(0);
    if (stages.empty()) stages.push_back(0);
    int32_t splitk_support = 0;
    uint32_t swizzle_support = 0, reduction_mask = 0;
    size_t written = 0;
    api_.algo_cap_get(&base, kCapSplitKSupport, &splitk_support, sizeof(splitk_support), &written);
    api_.algo_cap_get(&base, kCapSwizzleSupport, &swizzle_support, sizeof(swizzle_support), &written);
    api_.algo_cap_get(&base, kCapReductionMask, &reduction_mask, sizeof(reduction_mask), &written);
    const uint32_t reduction = (reduction_mask & 1u) ? 1u : (reduction_mask & 2u) ? 2u : (reduction_mask & 4u) ? 4u : 0u;
    for (uint32_t tile : tiles)
      for (uint32_t stage : stages)
        for (uint32_t swizzle = 0; swizzle <= (swizzle_support ? 1u : 0u); ++swizzle)
          for (uint32_t split : {1u, 2u, 4u}) {
            if (split > 1 && (!splitk_support || reduction == 0)) continue;
            Algo algo = base;
            const uint32_t none = 0;
            ++tried;
            if (api_.algo_config_set(&algo, kConfigTileId, &tile, sizeof(tile)) != 0 ||
                api_.algo_config_set(&algo, kConfigStagesId, &stage, sizeof(stage)) != 0 ||
                api_.algo_config_set(&algo, kConfigSwizzle, &swizzle, sizeof(swizzle)) != 0 ||
                api_.algo_config_set(&algo, kConfigSplitK, &split, sizeof(split)) != 0 ||
                api_.algo_config_set(&algo, kConfigReduction, split > 1 ? &reduction : &none, sizeof(reduction)) != 0)
              continue;
            if (!accepts(plan, algo)) continue;
            candidates.emplace_back(describe_algo(api_, algo), algo);
          }
  }
  if (report)
    std::printf("search %s: %d algorithm ids, %zu configurations, %zu accepted (%zu of them the heuristic's)\n",
                what.c_str(), returned, tried, candidates.size(), heuristic.size());
  return candidates;
}

std::vector<GemmTiming> CublasLt::search(const __nv_bfloat16* x, const std::vector<const __nv_bfloat16*>& weights,
                                         void* y, int m, int n, int k, cudaStream_t stream, double budget_s) {
  if (weights.empty()) throw Error("CublasLt::search: no weights to time on");
  require_no_capture(stream, "CublasLt::search");
  Plan plan;
  describe(plan, m, n, k, GemmOutput::kBf16, false);
  const std::string what = "bf16 GEMM of m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
  const std::vector<std::pair<std::string, Algo>> candidates = configurations(plan, what, true);

  size_t turn = 0;
  std::vector<GemmTiming> timings;
  const auto began = std::chrono::steady_clock::now();
  for (const auto& [name, algo] : candidates) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() > budget_s) {
      std::printf("search %s: time budget spent after %zu of %zu candidates\n", what.c_str(), timings.size(),
                  candidates.size());
      break;
    }
    const float ms = mean_ms([&] { return try_matmul(plan, algo, x, weights[turn++ % weights.size()], y, stream); },
                             kTuneRuns, stream);
    if (ms >= 0.f) timings.push_back({name, ms});
  }
  PAGODA_CUDA_CHECK(cudaGetLastError());
  return timings;
}

// y = x w^T with a candidate algorithm; false where the library refuses it at run time (a timing leaves it out).
bool CublasLt::try_matmul(const Plan& plan, const Algo& algo, const void* x, const void* w, void* y,
                          cudaStream_t stream) {
  const float alpha = 1.f, beta = 0.f;
  return api_.matmul(handle_, plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y, plan.c, &algo,
                     workspace_.data(), workspace_.bytes(), stream) == 0;
}

void CublasLt::run_cublaslt(const Plan& plan, const void* x, const void* w, void* y, cudaStream_t stream,
                            float beta) {
  const float alpha = 1.f;
  check(api_,
        api_.matmul(handle_, plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y, plan.c, &plan.algo,
                    workspace_.data(), workspace_.bytes(), stream),
        "cublasLtMatmul");
}

// Times both kernels on this shape (a few runs each, after a warm-up) and says which won.
bool CublasLt::skinny_is_faster(const Plan& plan, const __nv_bfloat16* x, const __nv_bfloat16* w, void* y,
                                GemmOutput output, int m, int n, int k, cudaStream_t stream) {
  constexpr int kRuns = 5;
  const float lt_ms = mean_ms([&] { run_cublaslt(plan, x, w, y, stream, 0.f); return true; }, kRuns, stream);
  const float skinny_ms = mean_ms(
      [&] {
        skinny_gemm(x, w, y, output == GemmOutput::kF32, m, n, k, 0.f, stream);
        return true;
      },
      kRuns, stream);
  return skinny_ms < lt_ms;
}

void CublasLt::linear(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput output, int m, int n,
                      int k, cudaStream_t stream, float beta) {
  if (m == 0) return;
  Plan& plan = plan_for(m, n, k, output);
  if (!skinny_gemm_supports(m, k, x, w)) {
    plan.kernel = Plan::Kernel::kCublasLt;
  } else {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    PAGODA_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
    // Timing overwrites y, so only a call with beta 0 outside graph capture may decide.
    if (plan.kernel == Plan::Kernel::kUntimed && beta == 0.f && capture == cudaStreamCaptureStatusNone)
      plan.kernel = skinny_is_faster(plan, x, w, y, output, m, n, k, stream) ? Plan::Kernel::kSkinny
                                                                             : Plan::Kernel::kCublasLt;
    if (plan.kernel == Plan::Kernel::kSkinny) {
      skinny_gemm(x, w, y, output == GemmOutput::kF32, m, n, k, beta, stream);
      return;
    }
  }
  run_cublaslt(plan, x, w, y, stream, beta);
}

void CublasLt::prepare(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput output, int m, int n,
                       int k, cudaStream_t stream) {
  if (m <= kSkinnyGemmMaxRows) throw Error("CublasLt::prepare: m " + std::to_string(m) + " is a skinny_gemm size");
  require_no_capture(stream, "CublasLt::prepare");
  const Plan& plan = plan_for(m, n, k, output); // past skinny_gemm's sizes: a cuBLASLt algorithm
  std::array<uint64_t, 8> config;
  std::copy(std::begin(plan.algo.data), std::end(plan.algo.data), config.begin());
  if (prepared_algos_.insert(config).second) run_cublaslt(plan, x, w, y, stream, 0.f);
}

void CublasLt::linear(const float* x, const float* w, float* y, int m, int n, int k, cudaStream_t stream, float beta) {
  if (m == 0) return;
  run_cublaslt(plan_for(m, n, k, GemmOutput::kF32, true), x, w, y, stream, beta);
}

// The fp8 plan: A = W (e4m3, k-major, transposed), B = X (e4m3), D = Y^T bf16, the scale
// modes of `scaling`; the scale pointers are set on each call.
void CublasLt::describe_fp8(Plan& plan, int m, int n, int k, Fp8Scaling scaling, const float* x_scales,
                            const float* w_scales, bool scale_modes) const {
  plan.api = &api_;
  check(api_, api_.desc_create(&plan.desc, kComputeType32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const int trans_a = kOpT, trans_b = kOpN;
  check(api_, api_.desc_set(plan.desc, kDescTransA, &trans_a, sizeof(trans_a)), "set TRANSA");
  check(api_, api_.desc_set(plan.desc, kDescTransB, &trans_b, sizeof(trans_b)), "set TRANSB");
  if (scale_modes) {
    const int a_mode = scaling == Fp8Scaling::kPerChannel ? kScaleOuterVec32F : kScaleBlk128x128_32F;
    const int b_mode = scaling == Fp8Scaling::kPerChannel ? kScaleOuterVec32F : kScaleVec128_32F;
    check(api_, api_.desc_set(plan.desc, kDescAScaleMode, &a_mode, sizeof(a_mode)), "set A_SCALE_MODE");
    check(api_, api_.desc_set(plan.desc, kDescBScaleMode, &b_mode, sizeof(b_mode)), "set B_SCALE_MODE");
    // Some versions check the scale pointers when choosing: set them before the heuristic.
    check(api_, api_.desc_set(plan.desc, kDescAScalePointer, &w_scales, sizeof(w_scales)), "set A_SCALE_POINTER");
    check(api_, api_.desc_set(plan.desc, kDescBScalePointer, &x_scales, sizeof(x_scales)), "set B_SCALE_POINTER");
  }
  plan.unit_scales = !scale_modes;
  check(api_, api_.layout_create(&plan.a, CUDA_R_8F_E4M3, k, n, k), "layout of W (fp8)");
  check(api_, api_.layout_create(&plan.b, CUDA_R_8F_E4M3, k, m, k), "layout of X (fp8)");
  check(api_, api_.layout_create(&plan.c, CUDA_R_16BF, n, m, n), "layout of Y");
}

void CublasLt::linear_fp8(const uint8_t* x_q, const float* x_scales, const uint8_t* w_q, const float* w_scales,
                          __nv_bfloat16* y, Fp8Scaling scaling, int m, int n, int k, cudaStream_t stream) {
  if (m == 0) return;
  if (k % 16 != 0 || n % 16 != 0)
    throw Error("fp8 GEMM: n and k must be multiples of 16 (n " + std::to_string(n) + ", k " + std::to_string(k) + ")");
  if (scaling == Fp8Scaling::kBlock128 && k % 128 != 0)
    throw Error("fp8 GEMM with 128x128 block scales: k " + std::to_string(k) + " is not a multiple of 128");
  const auto key = std::make_tuple(m, n, k, static_cast<int>(scaling));
  auto found = fp8_plans_.find(key);
  if (found == fp8_plans_.end()) {
    // Outer-vector (or block) scale modes first; cuBLASLt 13.1 on sm_90 has no algorithm for
    // them (status 7, seen on the H200) for some shapes, so per-channel then runs with unit scales and
    // scale_fp8_gemm_output applies the scales to the bf16 result. A bucket tune_fp8 timed takes its choice.
    const Fp8Tuned* tuned = nullptr;
    if (scaling == Fp8Scaling::kPerChannel) {
      const auto t = fp8_tuned_.find(std::make_tuple(tune_bucket(m), n, k));
      if (t != fp8_tuned_.end()) tuned = &t->second;
    }
    auto make = [&](bool scale_modes) {
      auto plan = std::make_unique<Plan>();
      describe_fp8(*plan, m, n, k, scaling, x_scales, w_scales, scale_modes);
      const std::string what = std::string("fp8 GEMM (") +
                               (scaling == Fp8Scaling::kPerChannel ? "per-channel x per-token" : "128x128 blocks") +
                               (scale_modes ? " scale modes, cuBLASLt 12.9+" : " scales after a unit-scale GEMM") +
                               ") of m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
      plan->algo = heuristics(*plan, 1, what.c_str()).front();
      if (tuned != nullptr && tuned->unit_scales == !scale_modes && accepts(*plan, tuned->algo))
        plan->algo = tuned->algo;
      plan->kernel = Plan::Kernel::kCublasLt;
      return plan;
    };
    std::unique_ptr<Plan> plan;
    try {
      plan = make(!(tuned != nullptr && tuned->unit_scales));
    } catch (const Error&) {
      if (scaling != Fp8Scaling::kPerChannel) throw;
      plan = make(false);
    }
    found = fp8_plans_.emplace(key, std::move(plan)).first;
  }
  const Plan& plan = *found->second;
  if (!plan.unit_scales) {
    check(api_, api_.desc_set(plan.desc, kDescAScalePointer, &w_scales, sizeof(w_scales)), "set A_SCALE_POINTER");
    check(api_, api_.desc_set(plan.desc, kDescBScalePointer, &x_scales, sizeof(x_scales)), "set B_SCALE_POINTER");
  }
  run_cublaslt(plan, x_q, w_q, y, stream, 0.f);
  if (plan.unit_scales) scale_fp8_gemm_output(y, x_scales, w_scales, m, n, stream);
}

std::vector<GemmTiming> CublasLt::tune_fp8(const uint8_t* x_q, const float* x_scales,
                                           const std::vector<std::pair<const uint8_t*, const float*>>& weights,
                                           __nv_bfloat16* y, int m, int n, int k, cudaStream_t stream) {
  if (weights.empty()) throw Error("CublasLt::tune_fp8: no weights to time on");
  require_no_capture(stream, "CublasLt::tune_fp8");
  const int bucket = tune_bucket(m);
  const std::string what = "fp8 GEMM of m=" + std::to_string(bucket) + " n=" + std::to_string(n) +
                           " k=" + std::to_string(k);
  size_t turn = 0;
  const float alpha = 1.f, beta = 0.f;
  std::vector<GemmTiming> timings;
  float best_ms = -1.f;
  Fp8Tuned best;
  for (bool scale_modes : {true, false}) {
    Plan plan;
    std::vector<Algo> algos;
    try {
      describe_fp8(plan, bucket, n, k, Fp8Scaling::kPerChannel, x_scales, weights.front().second, scale_modes);
      algos = heuristics(plan, kTuneCandidates, what.c_str());
    } catch (const Error&) {
      continue; // no algorithm of this kind in the loaded library
    }
    auto run = [&](const Algo& algo) {
      const auto& [w, w_scales] = weights[turn++ % weights.size()];
      if (scale_modes)
        check(api_, api_.desc_set(plan.desc, kDescAScalePointer, &w_scales, sizeof(w_scales)), "set A_SCALE_POINTER");
      const bool ran = api_.matmul(handle_, plan.desc, &alpha, w, plan.a, x_q, plan.b, &beta, y, plan.c, y, plan.c,
                                   &algo, workspace_.data(), workspace_.bytes(), stream) == 0;
      if (ran && !scale_modes) scale_fp8_gemm_output(y, x_scales, w_scales, bucket, n, stream);
      return ran;
    };
    for (size_t i = 0; i < algos.size(); ++i) {
      const float ms = mean_ms([&] { return run(algos[i]); }, kTuneRuns, stream);
      if (ms < 0.f) continue; // a candidate the library refuses at run time is left out
      timings.push_back({std::string(scale_modes ? "cuBLASLt fp8 scale modes #" : "cuBLASLt fp8 unit scales #") +
                             std::to_string(i),
                         ms});
      if (best_ms < 0.f || ms < best_ms) best_ms = ms, best = Fp8Tuned{!scale_modes, algos[i]};
    }
  }
  if (best_ms < 0.f) return timings;
  fp8_tuned_[std::make_tuple(bucket, n, k)] = best;
  // Plans made before this for m of the bucket are made again with the choice.
  for (auto it = fp8_plans_.begin(); it != fp8_plans_.end();) {
    const auto& [pm, pn, pk, ps] = it->first;
    const bool same = pn == n && pk == k && ps == static_cast<int>(Fp8Scaling::kPerChannel) && tune_bucket(pm) == bucket;
    it = same ? fp8_plans_.erase(it) : std::next(it);
  }
  return timings;
}

int CublasLt::kernel_choice(int m, int n, int k, GemmOutput output) const {
  const auto found = plans_.find(std::make_tuple(m, n, k, static_cast<int>(output), false));
  if (found == plans_.end()) return -1;
  return static_cast<int>(found->second->kernel);
}

} // namespace pagoda::cuda
