// RAII owner of one cudaMalloc allocation (moves, never copies). Typed views are taken
// with as<T>(); the byte size is kept so callers can check what they index.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace pagoda::cuda {

class DeviceBuffer {
public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes_ > 0) {
      PAGODA_CUDA_CHECK(cudaMalloc(&ptr_, bytes_));
      live_bytes_ += static_cast<int64_t>(bytes_);
    }
  }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      ptr_ = std::exchange(other.ptr_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }
  // Bytes held by every DeviceBuffer of the process now: the memory profile tells them apart
  // from what the device holds besides (the CUDA context, kernel code, graphs).
  static int64_t live_bytes() { return live_bytes_.load(); }

private:
  void release() noexcept {
    // cudaFree can only fail here if the context is already gone; nothing to do then.
    if (ptr_ != nullptr) {
      cudaFree(ptr_);
      live_bytes_ -= static_cast<int64_t>(bytes_);
    }
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  static inline std::atomic<int64_t> live_bytes_{0};
};

} // namespace pagoda::cuda
