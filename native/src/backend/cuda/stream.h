// RAII owners of a CUDA stream and of a page-locked host buffer (for one-copy uploads).
#pragma once

#include <cstddef>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace pagoda::cuda {

class Stream {
public:
  Stream() { PAGODA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (stream_) cudaStreamDestroy(stream_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const { PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

private:
  cudaStream_t stream_ = nullptr;
};

class PinnedBuffer {
public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes_) {
      PAGODA_CUDA_CHECK(cudaMallocHost(&ptr_, bytes_));
      PAGODA_CUDA_CHECK(cudaHostGetDevicePointer(&device_ptr_, ptr_, 0));
    }
  }
  ~PinnedBuffer() {
    if (ptr_) cudaFreeHost(ptr_);
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), device_ptr_(std::exchange(o.device_ptr_, nullptr)),
        bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) cudaFreeHost(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      device_ptr_ = std::exchange(o.device_ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return ptr_; }
  // The same pages as a kernel addresses them (mapped page-locked memory: host_copy.cu reads it, the sampler writes).
  void* device_data() const { return device_ptr_; }
  size_t bytes() const { return bytes_; }

private:
  void* ptr_ = nullptr;
  void* device_ptr_ = nullptr;
  size_t bytes_ = 0;
};

} // namespace pagoda::cuda

namespace pagoda::cuda {

// An instantiated CUDA graph (owned; destroyed with it).
class GraphExec {
public:
  GraphExec() = default;
  explicit GraphExec(cudaGraph_t graph) { PAGODA_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph, 0)); }
  ~GraphExec() {
    if (exec_) cudaGraphExecDestroy(exec_);
  }
  GraphExec(GraphExec&& o) noexcept : exec_(std::exchange(o.exec_, nullptr)) {}
  GraphExec& operator=(GraphExec&& o) noexcept {
    if (this != &o) {
      if (exec_) cudaGraphExecDestroy(exec_);
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  explicit operator bool() const { return exec_ != nullptr; }
  void launch(cudaStream_t stream) const { PAGODA_CUDA_CHECK(cudaGraphLaunch(exec_, stream)); }

private:
  cudaGraphExec_t exec_ = nullptr;
};

// What enqueue() puts on `stream` (captured in thread-local mode), as an instantiated graph. A throw from
// enqueue ends the capture before it goes on, so the stream is left usable.
template <typename Enqueue> GraphExec capture_graph(cudaStream_t stream, Enqueue&& enqueue) {
  cudaGraph_t graph = nullptr;
  PAGODA_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue();
  } catch (...) {
    cudaStreamEndCapture(stream, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  PAGODA_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  struct Owned { // the graph goes whether instantiation succeeds or throws
    cudaGraph_t g;
    ~Owned() { cudaGraphDestroy(g); }
  } owned{graph};
  return GraphExec(owned.g);
}

} // namespace pagoda::cuda
