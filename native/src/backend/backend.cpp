// create_backend: picks the backend named by EngineConfig::device.
#include "backend/backend.h"

#include <cstdlib>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "engine/engine_config.h"
#include "error.h"

// The CUDA backend is compiled in when CMake found nvcc and its sources exist.
#if defined(PAGODA_HAVE_CUDA) && __has_include("backend/cuda/cuda_backend.cpp")
#define PAGODA_CUDA_BACKEND 1
#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_backend.h"
#endif

namespace pagoda {

namespace {

bool cuda_device_present() {
#ifdef PAGODA_CUDA_BACKEND
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError(); // clear the sticky "no driver" error
    return false;
  }
  return count > 0;
#else
  return false;
#endif
}

} // namespace

void Backend::forward_hidden(const ForwardBatch& /*batch*/, std::vector<float>& /*hidden*/) {
  throw Error("the " + name() + " backend as loaded does not return hidden states");
}

bool keep_logit_rows_from_env(bool otherwise) {
  const char* v = std::getenv("PAGODA_KEEP_LOGIT_ROWS");
  if (v == nullptr || *v == 0) return otherwise;
  if (std::string(v) != "0" && std::string(v) != "1")
    throw Error("PAGODA_KEEP_LOGIT_ROWS: " + std::string(v) + " is not 0 or 1");
  return std::string(v) == "1";
}

std::unique_ptr<Backend> create_backend(const EngineConfig& engine_config) {
  const std::string& device = engine_config.device;
  if (device == "cpu") return cpu::create_cpu_backend(engine_config);
  if (device == "cuda" || (device == "auto" && cuda_device_present())) {
#ifdef PAGODA_CUDA_BACKEND
    if (!cuda_device_present()) throw Error("device \"cuda\": no CUDA device is visible; use device \"cpu\"");
    return create_cuda_backend(engine_config);
#else
    throw Error("device \"cuda\": this build of Pagoda has no CUDA backend (it was built without nvcc); "
                "use device \"cpu\" or rebuild on a machine with the CUDA toolkit");
#endif
  }
  if (device == "auto") return cpu::create_cpu_backend(engine_config);
  throw Error("device \"" + device + "\" is not supported; use \"auto\", \"cpu\" or \"cuda\"");
}

} // namespace pagoda
