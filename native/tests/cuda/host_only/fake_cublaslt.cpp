// A host-only cuBLASLt for host_path_check.sh (loaded through PAGODA_CUBLASLT): every call
// succeeds, the heuristic offers one algorithm, and cublasLtMatmul computes nothing but aborts
// when an operand or the workspace is not a device pointer of fake_cudart.cpp.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr size_t kHeuristicResultBytes = 96; // cublasLtMatmulHeuristicResult_t

bool is_device(const void* p) {
  using Fn = bool (*)(const void*);
  static const Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "fake_cuda_is_device"));
  if (fn == nullptr) {
    std::fprintf(stderr, "FAKECUBLASLT: the process has no fake_cuda_is_device (link fake_cudart.o, -rdynamic)\n");
    std::abort();
  }
  return fn(p);
}

void* handle() { return std::malloc(8); }

} // namespace

extern "C" {
int cublasLtCreate(void** h) { return (*h = handle()) != nullptr ? 0 : 3; }
int cublasLtDestroy(void* h) { return std::free(h), 0; }
const char* cublasLtGetStatusString(int) { return "status of the host-only fake cuBLASLt"; }
int cublasLtMatmulDescCreate(void** d, int, int) { return (*d = handle()) != nullptr ? 0 : 3; }
int cublasLtMatmulDescDestroy(void* d) { return std::free(d), 0; }
int cublasLtMatmulDescSetAttribute(void*, int, const void*, size_t) { return 0; }
int cublasLtMatrixLayoutCreate(void** l, int, uint64_t, uint64_t, int64_t) { return (*l = handle()) != nullptr ? 0 : 3; }
int cublasLtMatrixLayoutDestroy(void* l) { return std::free(l), 0; }
int cublasLtMatmulPreferenceCreate(void** p) { return (*p = handle()) != nullptr ? 0 : 3; }
int cublasLtMatmulPreferenceDestroy(void* p) { return std::free(p), 0; }
int cublasLtMatmulPreferenceSetAttribute(void*, int, const void*, size_t) { return 0; }
int cublasLtMatmulAlgoGetHeuristic(void*, void*, void*, void*, void*, void*, void*, int requested, void* results,
                                   int* returned) {
  if (requested > 0) std::memset(results, 0, kHeuristicResultBytes); // algo zeros, workspace 0, state 0
  *returned = requested > 0 ? 1 : 0;
  return 0;
}
int cublasLtMatmul(void*, void*, const void*, const void* a, void*, const void* b, void*, const void*, const void* c,
                   void*, void* d, void*, const void*, void* workspace, size_t, void*) {
  if (!is_device(a) || !is_device(b) || !is_device(c) || !is_device(d) || (workspace && !is_device(workspace))) {
    std::fprintf(stderr, "FAKECUBLASLT: cublasLtMatmul was given a host pointer\n");
    std::abort();
  }
  return 0;
}
int cublasLtMatmulAlgoCheck(void*, void*, void*, void*, void*, void*, const void*, void* result) {
  std::memset(result, 0, kHeuristicResultBytes);
  return 0;
}
}
