// A host-only CUDA runtime for checking the host side of the GPU paths on a machine with no GPU
// (host_path_check.sh links a CUDA test against it instead of cudart). Kernels launch as no-ops;
// device memory is one memfd mapped twice: the addresses cudaMalloc hands out are PROT_NONE, so
// host code that dereferences a device pointer faults at once, and cudaMemcpy / cudaMemset reach
// the same bytes through a second, readable mapping. Each launch's pointer parameters (read from
// the kernel's mangled name, registered by the fat binary) must be device pointers, so a host
// pointer handed to a kernel aborts with the kernel's name, as does a copy whose kind does not
// match its pointers. FAKECUDA_FAIL_AFTER=N makes every call after the N-th fail with a sticky
// cudaErrorIllegalAddress, to walk the error paths. FAKECUDA_TRACE=1 prints each launch's kernel (LAUNCH name).
#include <cxxabi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

size_t fake_device_prop_size(); // fake_device_prop.cpp: sizeof(cudaDeviceProp), from CUDA's header

namespace {

constexpr size_t kPoolBytes = size_t(8) << 30; // virtual; the memfd is sparse
constexpr int kIllegalAddress = 700;          // cudaErrorIllegalAddress
char* g_device = nullptr;
char* g_shadow = nullptr;
size_t g_used = 0; // bump allocation: freed memory is never reused, so a stale pointer stays in range
std::mutex g_mutex;
int g_handles = 0;
long g_calls = 0;

void map_pool() {
  if (g_device != nullptr) return;
  const int fd = memfd_create("fake-cuda-device", 0);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(kPoolBytes)) != 0) {
    std::perror("fake cudart: memfd");
    std::abort();
  }
  g_device = static_cast<char*>(mmap(nullptr, kPoolBytes, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0));
  g_shadow = static_cast<char*>(mmap(nullptr, kPoolBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0));
  if (g_device == MAP_FAILED || g_shadow == MAP_FAILED) {
    std::perror("fake cudart: mmap");
    std::abort();
  }
}

bool is_device(const void* p) { return g_device != nullptr && p >= g_device && p < g_device + kPoolBytes; }

// Page-locked host memory (cudaMallocHost): a kernel may take its addresses (unified addressing maps it), as
// host_copy.cu's copy kernel and the sampler's outputs do.
std::map<const char*, size_t>& pinned() {
  static std::map<const char*, size_t> ranges;
  return ranges;
}
bool is_pinned(const void* p) {
  const char* c = static_cast<const char*>(p);
  auto it = pinned().upper_bound(c);
  if (it == pinned().begin()) return false;
  --it;
  return c >= it->first && c < it->first + it->second;
}

// Where the host reads or writes n bytes at p (device addresses go through the shadow mapping).
void* host_view(const void* p, size_t n) {
  if (!is_device(p)) return const_cast<void*>(p);
  const size_t offset = static_cast<const char*>(p) - g_device;
  if (offset + n > g_used) {
    std::fprintf(stderr, "FAKECUDA: a copy of %zu bytes at device offset %zu runs past every allocation (%zu)\n", n,
                 offset, g_used);
    std::abort();
  }
  return g_shadow + offset;
}

// cudaMemcpyKind: 0 host→host, 1 host→device, 2 device→host, 3 device→device, 4 inferred. A
// wrong kind is an error on a real runtime at best, a copy through the wrong address at worst.
void check_kind(const void* dst, const void* src, int kind, const char* what) {
  if (kind == 4) return;
  const bool want_src_device = kind == 2 || kind == 3, want_dst_device = kind == 1 || kind == 3;
  if (is_device(src) != want_src_device || is_device(dst) != want_dst_device) {
    std::fprintf(stderr, "FAKECUDA: %s kind %d copies %s to %s\n", what, kind, is_device(src) ? "device" : "host",
                 is_device(dst) ? "device" : "host");
    std::abort();
  }
}

bool failing() {
  static const long after = std::getenv("FAKECUDA_FAIL_AFTER") ? std::atol(std::getenv("FAKECUDA_FAIL_AFTER")) : -1;
  return after >= 0 && ++g_calls > after;
}

std::map<const void*, std::string>& kernels() { // host stub → mangled device name
  static std::map<const void*, std::string> names;
  return names;
}

// The parameter types of a demangled signature: the group the last ')' closes, split at
// top-level commas.
std::vector<std::string> parameter_types(const std::string& sig) {
  std::vector<std::string> out;
  size_t open = std::string::npos;
  int depth = 0;
  for (size_t i = sig.size(); i-- > 0;) {
    if (sig[i] == ')') ++depth;
    else if (sig[i] == '(' && --depth == 0) {
      open = i;
      break;
    }
  }
  if (open == std::string::npos) return out;
  std::string cur;
  depth = 0;
  for (size_t i = open + 1; i < sig.size(); ++i) {
    const char c = sig[i];
    if (c == '<' || c == '(') ++depth;
    if ((c == '>' || c == ')') && depth-- == 0) {
      if (!cur.empty()) out.push_back(cur);
      break;
    }
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  return out;
}

void check_launch(const void* kernel, void** args) {
  const auto it = kernels().find(kernel);
  if (it == kernels().end()) {
    std::fprintf(stderr, "FAKECUDA: launch of a kernel no fat binary registered (%p)\n", kernel);
    std::abort();
  }
  int status = 0;
  char* demangled = abi::__cxa_demangle(it->second.c_str(), nullptr, nullptr, &status);
  const std::string sig = demangled != nullptr ? demangled : it->second;
  if (std::getenv("FAKECUDA_TRACE")) std::fprintf(stderr, "LAUNCH %s\n", sig.substr(0, sig.find('(')).c_str());
  std::free(demangled);
  const std::vector<std::string> types = parameter_types(sig);
  for (size_t i = 0; i < types.size(); ++i) {
    std::vector<const void*> pointers;
    if (!types[i].empty() && types[i].back() == '*') {
      pointers.push_back(*static_cast<const void* const*>(args[i]));
    } else if (types[i].find("VarlenAttentionArgs") != std::string::npos) {
      // encoder_kernels.h: q, k, v, token_stride, out, seq_start, then scalars.
      const void* const* fields = static_cast<const void* const*>(args[i]);
      pointers = {fields[0], fields[1], fields[2], fields[4], fields[5]};
    }
    for (const void* p : pointers)
      if (p != nullptr && !is_device(p) && !is_pinned(p)) {
        std::fprintf(stderr, "FAKECUDA: %s: parameter %zu (%s) is the host address %p\n", sig.c_str(), i,
                     types[i].c_str(), p);
        std::abort();
      }
  }
}

} // namespace

#define FAKE_FAIL_STICKY \
  if (failing()) return kIllegalAddress

extern "C" {
bool fake_cuda_is_device(const void* p) { return is_device(p); } // for fake_cublaslt.cpp

int cudaMalloc(void** p, size_t n) {
  std::lock_guard<std::mutex> lock(g_mutex);
  FAKE_FAIL_STICKY;
  map_pool();
  const size_t rounded = (n + 255) & ~size_t(255);
  if (g_used + rounded > kPoolBytes) return 2; // cudaErrorMemoryAllocation
  *p = g_device + g_used;
  g_used += rounded;
  return 0;
}
int cudaFree(void*) { return 0; }
int cudaMallocHost(void** p, size_t n) {
  FAKE_FAIL_STICKY;
  const size_t rounded = (n + 4095) & ~size_t(4095);
  *p = std::aligned_alloc(4096, rounded);
  if (*p != nullptr) pinned()[static_cast<const char*>(*p)] = rounded;
  return *p != nullptr ? 0 : 2;
}
int cudaFreeHost(void* p) {
  pinned().erase(static_cast<const char*>(p));
  std::free(p);
  return 0;
}
int cudaHostGetDevicePointer(void** d, void* h, unsigned) {
  FAKE_FAIL_STICKY;
  if (!is_pinned(h)) return 1; // cudaErrorInvalidValue: not page-locked memory of this runtime
  *d = h;
  return 0;
}
int cudaMemcpy(void* dst, const void* src, size_t n, int kind) {
  FAKE_FAIL_STICKY;
  check_kind(dst, src, kind, "cudaMemcpy");
  if (n) std::memmove(host_view(dst, n), host_view(src, n), n);
  return 0;
}
int cudaMemcpyAsync(void* dst, const void* src, size_t n, int kind, void*) {
  FAKE_FAIL_STICKY;
  check_kind(dst, src, kind, "cudaMemcpyAsync");
  if (n) std::memmove(host_view(dst, n), host_view(src, n), n);
  return 0;
}
int cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height, int kind,
                      void*) {
  FAKE_FAIL_STICKY;
  for (size_t r = 0; r < height; ++r) {
    void* d = static_cast<char*>(dst) + r * dpitch;
    const void* s = static_cast<const char*>(src) + r * spitch;
    check_kind(d, s, kind, "cudaMemcpy2DAsync");
    if (width) std::memmove(host_view(d, width), host_view(s, width), width);
  }
  return 0;
}
int cudaMemsetAsync(void* dst, int value, size_t n, void*) {
  FAKE_FAIL_STICKY;
  if (!is_device(dst)) {
    std::fprintf(stderr, "FAKECUDA: cudaMemsetAsync of the host address %p\n", dst);
    std::abort();
  }
  if (n) std::memset(host_view(dst, n), value, n);
  return 0;
}
int cudaGetDeviceCount(int* count) {
  *count = 1;
  return 0;
}
int cudaGetDevice(int* device) {
  *device = 0;
  return 0;
}
int cudaDeviceGetAttribute(int* value, int, int) {
  *value = 132; // an H100 / H200's SM count, for every attribute asked (only the SM count is)
  return 0;
}
int cudaGetDeviceProperties(void* prop, int) {
  std::memset(prop, 0, fake_device_prop_size());
  std::strcpy(static_cast<char*>(prop), "host-only fake CUDA device"); // name is the first field
  return 0;
}
int cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  FAKE_FAIL_STICKY;
  *total_bytes = size_t(140) << 30;
  *free_bytes = *total_bytes - g_used;
  return 0;
}
int cudaDeviceSynchronize() {
  FAKE_FAIL_STICKY;
  return 0;
}
int cudaGetLastError() {
  FAKE_FAIL_STICKY;
  return 0;
}
const char* cudaGetErrorName(int) { return "cudaErrorFake"; }
const char* cudaGetErrorString(int) { return "an error of the host-only fake CUDA runtime"; }
int cudaStreamCreateWithFlags(void** stream, unsigned) {
  FAKE_FAIL_STICKY;
  *stream = new int(++g_handles);
  return 0;
}
int cudaStreamDestroy(void* stream) {
  delete static_cast<int*>(stream);
  return 0;
}
int cudaStreamSynchronize(void*) {
  FAKE_FAIL_STICKY;
  return 0;
}
int cudaStreamIsCapturing(void*, int* status) {
  FAKE_FAIL_STICKY;
  *status = 0;
  return 0;
}
int cudaStreamBeginCapture(void*, int) { return 801; } // cudaErrorNotSupported: no graphs here
int cudaStreamEndCapture(void*, void**) { return 801; }
int cudaGraphInstantiate(void**, void*, unsigned long long) { return 801; }
int cudaGraphLaunch(void*, void*) { return 801; }
int cudaGraphDestroy(void*) { return 0; }
int cudaGraphExecDestroy(void*) { return 0; }
int cudaEventCreate(void** event) {
  FAKE_FAIL_STICKY;
  *event = new int(++g_handles);
  return 0;
}
int cudaEventCreateWithFlags(void** event, unsigned) { return cudaEventCreate(event); }
int cudaEventDestroy(void* event) {
  delete static_cast<int*>(event);
  return 0;
}
int cudaEventRecord(void*, void*) {
  FAKE_FAIL_STICKY;
  return 0;
}
int cudaEventSynchronize(void*) {
  FAKE_FAIL_STICKY;
  return 0;
}
int cudaEventQuery(void*) { return 0; }
int cudaEventElapsedTime(float* ms, void*, void*) {
  FAKE_FAIL_STICKY;
  *ms = 1.0f;
  return 0;
}
int cudaFuncSetAttribute(const void*, int, int) {
  FAKE_FAIL_STICKY;
  return 0;
}
// cuTensorMapEncodeTiled as the wgmma prefill gets it from the driver: the 128-byte map zeroed (no
// kernel here reads it).
static int fake_tensor_map_encode_tiled(void* map, int, unsigned, void*, const void*, const void*, const void*,
                                        const void*, int, int, int, int) {
  std::memset(map, 0, 128);
  return 0;
}
int cudaGetDriverEntryPointByVersion(const char* symbol, void** fn, unsigned, unsigned long long, int* status) {
  FAKE_FAIL_STICKY;
  const bool known = std::strcmp(symbol, "cuTensorMapEncodeTiled") == 0;
  *fn = known ? reinterpret_cast<void*>(&fake_tensor_map_encode_tiled) : nullptr;
  if (status != nullptr) *status = known ? 0 : 1; // cudaDriverEntryPointSuccess / SymbolNotFound
  return 0;
}
// cudaLaunchKernelEx (launch_pdl) and <<<>>> (CUDA 13: __cudaGetKernel + __cudaLaunchKernel).
int cudaLaunchKernelExC(const void*, const void* kernel, void** args) {
  FAKE_FAIL_STICKY;
  check_launch(kernel, args);
  return 0;
}
int __cudaGetKernel(void** handle, const void* kernel) {
  *handle = const_cast<void*>(kernel);
  return 0;
}
int __cudaLaunchKernel(void* kernel, unsigned long long, unsigned, unsigned long long, unsigned, void** args, size_t,
                       void*) {
  check_launch(kernel, args);
  return 0;
}
unsigned __cudaPushCallConfiguration(unsigned long long, unsigned, unsigned long long, unsigned, size_t, void*) {
  return 0;
}
int __cudaPopCallConfiguration(void*, void*, size_t*, void*) { return 0; }
void** __cudaRegisterFatBinary(void*) {
  static void* handle = nullptr;
  return &handle;
}
void __cudaRegisterFatBinaryEnd(void**) {}
void __cudaUnregisterFatBinary(void**) {}
void __cudaRegisterFunction(void**, const char* host_stub, char* device_name, const char*, int, void*, void*, void*,
                            void*, int*) {
  kernels()[host_stub] = device_name;
}
void __cudaRegisterVar(void**, char*, char*, const char*, int, size_t, int, int) {}
}

// A call newer than the rest of this file (cascade attention): a memset.
extern "C" {
int cudaMemset(void* p, int v, size_t n) { return cudaMemsetAsync(p, v, n, nullptr); }
}
