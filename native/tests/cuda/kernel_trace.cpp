// Kernel timeline of any CUDA program, CUDA graph nodes included, for the device where nsys cannot make a report
// and ncu cannot read counters: a CUDA injection library (CUDA_INJECTION64_PATH=libpagoda_kernel_trace.so) that
// records every kernel's (and copy's and memset's) start and end through CUPTI's activity API and writes one CSV line
// each to
// $PAGODA_KERNEL_TRACE (kernel_trace_summary.py turns it into per-kernel times of a decode step, or of a whole run).
// cuProfilerStart / Stop (pagoda-bench calls them around a workload's run) become rows named profiler-start and
// profiler-stop at the time of the call, on the activity records' clock.
// CONCURRENT_KERNEL records do not serialize kernels, so programmatic dependent launches still overlap.
#include <cupti.h>
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

namespace {

constexpr size_t kBufferBytes = size_t(8) << 20;
std::FILE* g_out = nullptr;
std::mutex g_out_mutex;

void check(CUptiResult r, const char* what) {
  if (r == CUPTI_SUCCESS) return;
  const char* msg = nullptr;
  cuptiGetResultString(r, &msg);
  std::fprintf(stderr, "kernel_trace: %s failed: %s\n", what, msg ? msg : "?");
  std::exit(3);
}

// The demangled name without its parameter list, the last top-level parenthesis group (template arguments and
// "(anonymous namespace)" kept; commas replaced so the CSV stays flat).
std::string short_name(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = status == 0 && d ? d : mangled;
  std::free(d);
  int depth = 0;
  size_t params = std::string::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') ++depth;
    if (s[i] == '>') --depth;
    if (s[i] == '(' && depth == 0) params = i;
  }
  if (params != std::string::npos && s.compare(params, 20, "(anonymous namespace") != 0) s.resize(params);
  for (char& c : s)
    if (c == ',') c = ';';
  return s;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = kBufferBytes;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  std::lock_guard<std::mutex> lock(g_out_mutex);
  CUpti_Activity* record = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (!g_out) continue;
    if (record->kind == CUPTI_ACTIVITY_KIND_MEMCPY) { // copies: grid_x holds the bytes, the name the direction
      const auto* c = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
      std::fprintf(g_out, "%llu,%llu,%u,%llu,%u,%llu,0,0,0,0,memcpy-%d-%d\n", (unsigned long long)c->start,
                   (unsigned long long)c->end, c->streamId, (unsigned long long)c->graphNodeId, c->graphId,
                   (unsigned long long)c->bytes, c->srcKind, c->dstKind);
      continue;
    }
    if (record->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(record);
      std::fprintf(g_out, "%llu,%llu,%u,%llu,%u,%llu,0,0,0,0,memset\n", (unsigned long long)m->start,
                   (unsigned long long)m->end, m->streamId, (unsigned long long)m->graphNodeId, m->graphId,
                   (unsigned long long)m->bytes);
      continue;
    }
    if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && record->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
    const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
    std::fprintf(g_out, "%llu,%llu,%u,%llu,%u,%d,%d,%d,%d,%u,%s\n", (unsigned long long)k->start,
                 (unsigned long long)k->end, k->streamId, (unsigned long long)k->graphNodeId, k->graphId, k->gridX,
                 k->gridY, k->gridZ, k->blockX, k->registersPerThread, short_name(k->name).c_str());
  }
  size_t dropped = 0;
  cuptiActivityGetNumDroppedRecords(nullptr, 0, &dropped);
  if (dropped) std::fprintf(stderr, "kernel_trace: %zu records dropped\n", dropped);
  std::free(buffer);
}

// A row when cudaProfilerStart / Stop returns (the runtime call, and the driver call it makes if the runtime reaches
// the driver that way: the summary takes the first start and the last stop).
const char* profiler_mark(CUpti_CallbackDomain domain, CUpti_CallbackId id) {
  if (domain == CUPTI_CB_DOMAIN_DRIVER_API) {
    if (id == CUPTI_DRIVER_TRACE_CBID_cuProfilerStart) return "profiler-start";
    if (id == CUPTI_DRIVER_TRACE_CBID_cuProfilerStop) return "profiler-stop";
  }
  if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) {
    if (id == CUPTI_RUNTIME_TRACE_CBID_cudaProfilerStart_v4000) return "profiler-start";
    if (id == CUPTI_RUNTIME_TRACE_CBID_cudaProfilerStop_v4000) return "profiler-stop";
  }
  return nullptr;
}

void CUPTIAPI api_called(void*, CUpti_CallbackDomain domain, CUpti_CallbackId id, const void* data) {
  const auto* info = static_cast<const CUpti_CallbackData*>(data);
  if (info->callbackSite != CUPTI_API_EXIT) return;
  const char* what = profiler_mark(domain, id);
  if (!what) return;
  uint64_t now = 0;
  check(cuptiGetTimestamp(&now), "cuptiGetTimestamp");
  std::lock_guard<std::mutex> lock(g_out_mutex);
  if (g_out) std::fprintf(g_out, "%llu,%llu,0,0,0,0,0,0,0,0,%s\n", (unsigned long long)now, (unsigned long long)now, what);
}

void finish() {
  cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  std::lock_guard<std::mutex> lock(g_out_mutex);
  if (g_out) std::fclose(g_out);
  g_out = nullptr;
}

} // namespace

extern "C" int InitializeInjection() {
  const char* path = std::getenv("PAGODA_KERNEL_TRACE");
  if (!path || !*path) path = "kernel_trace.csv";
  g_out = std::fopen(path, "w");
  if (!g_out) {
    std::fprintf(stderr, "kernel_trace: cannot write %s\n", path);
    return 0;
  }
  std::fprintf(g_out, "start,end,stream,graph_node,graph,grid_x,grid_y,grid_z,block_x,registers,name\n");
  check(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed), "cuptiActivityRegisterCallbacks");
  check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "cuptiActivityEnable(kernel)");
  check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY), "cuptiActivityEnable(memcpy)");
  check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET), "cuptiActivityEnable(memset)");
  // The profiler marks are a convenience: a trace without them still serves (the summary then takes it whole).
  CUpti_SubscriberHandle subscriber = nullptr;
  bool marks = cuptiSubscribe(&subscriber, api_called, nullptr) == CUPTI_SUCCESS;
  const std::pair<CUpti_CallbackDomain, CUpti_CallbackId> calls[] = {
      {CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuProfilerStart},
      {CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuProfilerStop},
      {CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaProfilerStart_v4000},
      {CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaProfilerStop_v4000}};
  for (const auto& [domain, id] : calls)
    marks = marks && cuptiEnableCallback(1, subscriber, domain, id) == CUPTI_SUCCESS;
  if (!marks) std::fprintf(stderr, "kernel_trace: no profiler marks (CUPTI callbacks unavailable)\n");
  std::atexit(finish);
  return 1;
}
