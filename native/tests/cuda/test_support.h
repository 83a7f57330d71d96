// Shared by the CUDA kernel tests: skipping without a device, seeded random data, bf16
// conversion on the host, device upload / download, poisoned outputs and error figures.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/head_dims.h"

namespace pagoda::cuda::test {

using bf16 = __nv_bfloat16;

// Exits 0 with a SKIP line when no usable CUDA device is present (CI has nvcc, no GPU).
inline void skip_without_device(const char* test_name) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::printf("SKIP %s: no CUDA device (%s)\n", test_name,
                status != cudaSuccess ? cudaGetErrorString(status) : "0 devices");
    std::exit(0);
  }
}

// Whether fn throws a pagoda::Error whose message names needle (an argument check's refusal).
inline bool throws_naming(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
  } catch (const pagoda::Error& e) {
    return std::string(e.what()).find(needle) != std::string::npos;
  }
  return false;
}

// Every head_dim the bf16 attention kernels are built for (head_dims.h's list), 32..256.
inline std::vector<int> cuda_head_dims() {
#define PAGODA_HEAD_DIM_ITEM(D) D,
  return {PAGODA_CUDA_HEAD_DIMS(PAGODA_HEAD_DIM_ITEM)};
#undef PAGODA_HEAD_DIM_ITEM
}

inline float round_bf16(float x) { return __bfloat162float(__float2bfloat16(x)); }

// Random bf16 values in [-scale, scale), already rounded, kept as float for references.
inline std::vector<float> random_bf16_values(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = round_bf16(dist(rng));
  return v;
}

// Random float32 values in [-scale, scale), not rounded to bf16 (the float32 path's inputs).
inline std::vector<float> random_f32_values(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = __float2bfloat16(v[i]);
  return out;
}

inline std::vector<float> to_float(const std::vector<bf16>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = __bfloat162float(v[i]);
  return out;
}

template <typename T> DeviceBuffer upload(const std::vector<T>& host) {
  DeviceBuffer buf(host.size() * sizeof(T));
  if (!host.empty()) PAGODA_CUDA_CHECK(cudaMemcpy(buf.data(), host.data(), buf.bytes(), cudaMemcpyHostToDevice));
  return buf;
}

inline DeviceBuffer upload_bf16(const std::vector<float>& host) { return upload(to_bf16(host)); }

template <typename T> std::vector<T> download(const DeviceBuffer& buf, size_t count) {
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<T> host(count);
  if (count) PAGODA_CUDA_CHECK(cudaMemcpy(host.data(), buf.data(), count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

inline std::vector<float> download_bf16(const DeviceBuffer& buf, size_t count) {
  return to_float(download<bf16>(buf, count));
}

// 0xFF bytes: NaN in bf16 and f32, so an element the kernel never wrote fails the check.
inline void poison(DeviceBuffer& buf) { PAGODA_CUDA_CHECK(cudaMemset(buf.data(), 0xFF, buf.bytes())); }

struct ErrorStats {
  double max_abs = 0, rel_l2 = 0;
  bool finite = true;
};

inline ErrorStats compare(const std::vector<float>& out, const std::vector<double>& ref) {
  ErrorStats s;
  double diff2 = 0, ref2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) s.finite = false;
    const double d = out[i] - ref[i];
    s.max_abs = std::fmax(s.max_abs, std::fabs(d));
    diff2 += d * d;
    ref2 += ref[i] * ref[i];
  }
  s.rel_l2 = std::sqrt(diff2 / (ref2 > 0 ? ref2 : 1));
  return s;
}

// Counts results; main returns failures() != 0.
class Checker {
public:
  bool expect(const std::string& name, const ErrorStats& s, double max_rel_l2, double max_abs) {
    const bool ok = s.finite && s.rel_l2 <= max_rel_l2 && s.max_abs <= max_abs;
    std::printf("%-4s %-52s max_abs %.3e  rel_l2 %.3e  (limits %.1e / %.1e)%s\n", ok ? "ok" : "FAIL",
                name.c_str(), s.max_abs, s.rel_l2, max_abs, max_rel_l2, s.finite ? "" : "  NON-FINITE");
    ok ? ++passed_ : ++failed_;
    return ok;
  }
  bool expect_true(const std::string& name, bool ok, const std::string& detail = "") {
    std::printf("%-4s %s%s%s\n", ok ? "ok" : "FAIL", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
    ok ? ++passed_ : ++failed_;
    return ok;
  }
  int passed() const { return passed_; }
  int failed() const { return failed_; }
  int finish(const char* test_name) const {
    std::printf("%s: %d passed, %d failed\n", test_name, passed_, failed_);
    return failed_ == 0 ? 0 : 1;
  }

private:
  int passed_ = 0, failed_ = 0;
};

// A refusal check: passes when fn throws a pagoda::Error whose message names needle.
inline bool expect_refused(Checker& c, const std::string& name, const std::function<void()>& fn,
                           const std::string& needle) {
  return c.expect_true(name, throws_naming(fn, needle));
}

} // namespace pagoda::cuda::test
