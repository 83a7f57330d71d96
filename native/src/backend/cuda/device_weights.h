// The model's float parameters on the GPU: a WeightUploader converts checkpoint tensors to
// bf16 (or float32 for the float32 compute path) and uploads them, several concatenated along
// rows into one buffer where the forward wants them fused (q/k/v, gate/up, their biases).
#pragma once

#include <cuda_runtime.h>

#include <vector>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/stream.h"
#include "models/model_ops.h"

namespace pagoda::cuda {

// A Param's device copy (the CUDA backend's ParamData).
struct DeviceParam : ParamData {
  DeviceBuffer buffer;
};

template <typename T> const T* device_param(const Param& p) {
  return static_cast<const DeviceParam&>(*p.data).buffer.template as<T>();
}

class WeightUploader {
public:
  WeightUploader(cudaStream_t stream, bool f32);
  ~WeightUploader();
  WeightUploader(const WeightUploader&) = delete;
  WeightUploader& operator=(const WeightUploader&) = delete;

  // The tensors in `parts` (f32 / f16 / bf16), concatenated, as one bf16 (or float32) buffer.
  DeviceBuffer upload(const std::vector<const TensorView*>& parts);
  size_t bytes() const { return bytes_; } // uploaded so far

private:
  void copy_converted(const TensorView& t, uint16_t* dst);
  void copy_widened(const TensorView& t, float* dst);

  cudaStream_t stream_;
  bool f32_;
  size_t elem_bytes_;
  PinnedBuffer staging_;
  size_t bytes_ = 0;
};

} // namespace pagoda::cuda
