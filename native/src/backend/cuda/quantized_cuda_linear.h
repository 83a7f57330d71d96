// The CUDA kernels of the quantized linear methods (GPTQ, AWQ, FP8 per-channel, FP8 block):
// weights repacked at load (quantized_weight.h), fused parts concatenated along the output,
// and per step the kernel that suits m: the weight-streaming GEMM for decode-sized m; beyond,
// fp8 as W8A8 on cuBLASLt's fp8 tensor cores (dynamic per-token, or per-token-and-128-column
// activation scales for 128x128 weight blocks) and int4 dequantized to bf16 for a bf16
// tensor-core GEMM.
#pragma once

#include <memory>
#include <vector>

#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/quantized_weight.h"

namespace pagoda::cuda {

struct QuantScratch; // buffers shared by every quantized linear of a model

class QuantizedCudaLinear : public CudaLinear {
public:
  // Throws pagoda::Error naming the layer when its shapes do not fit the kernels.
  explicit QuantizedCudaLinear(const LinearLayer& layer);
  ~QuantizedCudaLinear() override;
  void apply(const void* x, void* y, int m, LinearContext& ctx) const override;
  size_t device_bytes() const override;

  // Up to this many rows the weight-streaming kernel serves; more take the tensor-core path.
  static constexpr int kStreamMaxRows = 32;

private:
  struct Part {
    DeviceQuantizedWeight weight;
    int row_offset;
  };
  std::vector<Part> parts_; // one when the parts could be fused, else each with its act-order
  QuantFormat format_;
  bool block_scales_;
  int out_, in_;
  std::shared_ptr<QuantScratch> scratch_;
  mutable bool block_w8a8_ = true; // fp8 blocks: cuBLASLt's block scale modes until it refuses them
};

} // namespace pagoda::cuda
