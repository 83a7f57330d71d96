// The model's parameters on the GPU as bf16 (or every one float32, for the float32 compute
// path), laid out for the forward pass: q/k/v fused into
// one [q + 2 kv, hidden] matrix (and their biases into one vector), gate/up fused into one
// [2 intermediate, hidden] matrix, so each is one GEMM.
#pragma once

#include <cuda_runtime.h>

#include <vector>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/kernels.h"
#include "model/model_config.h"
#include "model/weights.h"

namespace pagoda::cuda {

struct DeviceLayer {
  DeviceBuffer input_norm, post_norm;
  DeviceBuffer qkv, qkv_bias; // bias absent (empty) unless config.qkv_bias
  DeviceBuffer o, o_bias;     // o_bias absent unless config.o_bias
  DeviceBuffer q_norm, k_norm; // absent unless config.qk_norm
  DeviceBuffer gate_up, down;
};

struct DeviceWeights {
  DeviceBuffer embed, norm, lm_head; // lm_head empty when tied to embed
  std::vector<DeviceLayer> layers;
  size_t bytes = 0;
  bool f32 = false; // every tensor float32 (else bf16)

  const bf16* lm_head_ptr() const { return lm_head_as<bf16>(); }
  template <typename T> const T* lm_head_as() const { return lm_head.bytes() ? lm_head.as<T>() : embed.as<T>(); }
};

// Converts (f32 / f16 / bf16 -> bf16, or -> float32 when f32) and uploads every tensor through
// a pinned staging buffer.
DeviceWeights upload_weights(const ModelConfig& config, const ModelWeights& weights, cudaStream_t stream,
                             bool f32 = false);

} // namespace pagoda::cuda
