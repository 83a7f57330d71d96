// cuBLASLt by dlopen: the few types, enums and entry points Pagoda calls, declared here
// with the values of NVIDIA's cublasLt.h (stable across CUDA 12 and 13), then the GEMM.
#include "backend/cuda/cublaslt.h"

#include <dlfcn.h>
#include <library_types.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

using Status = int; // cublasStatus_t; 0 = success
using Handle = void*;
using MatmulDesc = void*;
using MatrixLayout = void*;
using Preference = void*;

struct MatmulAlgo {
  uint64_t data[8];
};
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
constexpr int kOpN = 0;                   // CUBLAS_OP_N
constexpr int kOpT = 1;                   // CUBLAS_OP_T
constexpr int kPrefMaxWorkspaceBytes = 1; // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES

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

} // namespace

// Descriptors and the chosen algorithm of one GEMM shape.
struct CublasLt::Plan {
  const CublasLtApi* api = nullptr;
  MatmulDesc desc = nullptr;
  MatrixLayout a = nullptr, b = nullptr, c = nullptr;
  MatmulAlgo algo{};
  enum class Kernel { kUntimed, kCublasLt, kSkinny } kernel = Kernel::kUntimed;
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

CublasLt::Plan& CublasLt::plan_for(int m, int n, int k, GemmOutput output, bool f32_inputs) {
  const auto key = std::make_tuple(m, n, k, static_cast<int>(output), f32_inputs);
  auto found = plans_.find(key);
  if (found != plans_.end()) return *found->second;

  // Column-major view: Y^T [n x m] = W [k x n]^T · X^T [k x m]; W and X are k-major.
  auto plan = std::make_unique<Plan>();
  plan->api = &api_;
  check(api_, api_.desc_create(&plan->desc, kComputeType32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const int trans_a = kOpT, trans_b = kOpN;
  check(api_, api_.desc_set(plan->desc, kDescTransA, &trans_a, sizeof(trans_a)), "set TRANSA");
  check(api_, api_.desc_set(plan->desc, kDescTransB, &trans_b, sizeof(trans_b)), "set TRANSB");
  const cudaDataType_t out_type = output == GemmOutput::kF32 ? CUDA_R_32F : CUDA_R_16BF;
  // CUBLAS_COMPUTE_32F on float32 inputs is plain float32 arithmetic: TF32 would need
  // CUBLAS_COMPUTE_32F_FAST_TF32, which the float32 path must not use.
  const cudaDataType_t in_type = f32_inputs ? CUDA_R_32F : CUDA_R_16BF;
  check(api_, api_.layout_create(&plan->a, in_type, k, n, k), "layout of W");
  check(api_, api_.layout_create(&plan->b, in_type, k, m, k), "layout of X");
  check(api_, api_.layout_create(&plan->c, out_type, n, m, n), "layout of Y");

  Preference pref = nullptr;
  check(api_, api_.pref_create(&pref), "cublasLtMatmulPreferenceCreate");
  const uint64_t max_workspace = workspace_.bytes();
  Status status = api_.pref_set(pref, kPrefMaxWorkspaceBytes, &max_workspace, sizeof(max_workspace));
  HeuristicResult result{};
  int returned = 0;
  if (status == 0)
    status = api_.heuristic(handle_, plan->desc, plan->a, plan->b, plan->c, plan->c, pref, 1, &result, &returned);
  api_.pref_destroy(pref);
  check(api_, status, "cublasLtMatmulAlgoGetHeuristic");
  if (returned == 0)
    throw Error(std::string("cuBLASLt has no algorithm for a ") + (f32_inputs ? "float32" : "bf16") +
                " GEMM of m=" + std::to_string(m) + " n=" +
                std::to_string(n) + " k=" + std::to_string(k));
  plan->algo = result.algo;
  return *plans_.emplace(key, std::move(plan)).first->second;
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
  cudaEvent_t start, stop;
  PAGODA_CUDA_CHECK(cudaEventCreate(&start));
  PAGODA_CUDA_CHECK(cudaEventCreate(&stop));
  auto time_ms = [&](auto&& run) {
    run();
    PAGODA_CUDA_CHECK(cudaEventRecord(start, stream));
    for (int i = 0; i < kRuns; ++i) run();
    PAGODA_CUDA_CHECK(cudaEventRecord(stop, stream));
    PAGODA_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.f;
    PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return ms;
  };
  const float lt_ms = time_ms([&] { run_cublaslt(plan, x, w, y, stream, 0.f); });
  const float skinny_ms = time_ms([&] { skinny_gemm(x, w, y, output == GemmOutput::kF32, m, n, k, 0.f, stream); });
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
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

void CublasLt::linear(const float* x, const float* w, float* y, int m, int n, int k, cudaStream_t stream, float beta) {
  if (m == 0) return;
  run_cublaslt(plan_for(m, n, k, GemmOutput::kF32, true), x, w, y, stream, beta);
}

int CublasLt::kernel_choice(int m, int n, int k, GemmOutput output) const {
  const auto found = plans_.find(std::make_tuple(m, n, k, static_cast<int>(output), false));
  if (found == plans_.end()) return -1;
  return static_cast<int>(found->second->kernel);
}

} // namespace pagoda::cuda
