// The CUDA kernels of the quantized linear methods (GPTQ, AWQ, FP8 per-channel, FP8 block):
// weights repacked at load (quantized_weight.h), fused parts concatenated along the output,
// and per step the kernel that suits m: the weight-streaming GEMM for decode-sized m; beyond,
// W8A8 fp8 on cuBLASLt's fp8 tensor cores (dynamic per-token, or per-token-and-128-column
// activation scales for 128x128 weight blocks) and the rest dequantized to bf16 for a bf16
// tensor-core GEMM. Every m computes what the checkpoint's activation setting names: W8A8
// (x quantized per token or per token and 128 columns) or weight-only; where the GEMM takes bf16
// (streaming, dequantized), a W8A8 layer feeds it e4m3(x / s) * s. With float32 activations (the
// float32 compute path, for correctness) the weight is dequantized exactly to float32.
#pragma once

#include <memory>
#include <vector>

#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/quantized_weight.h"

namespace pagoda::cuda {

struct QuantScratch; // buffers shared by every quantized linear of a model

// Rows up to which a W8A8 per-token fp8 layer streams its weight (quant_gemm); more take cuBLASLt's fp8 GEMM.
// PAGODA_FP8_STREAM_MAX_ROWS (0..32, read once) overrides the default.
int fp8_stream_max_rows();

class QuantizedCudaLinear : public CudaLinear {
public:
  // Throws pagoda::Error naming the layer when its shapes do not fit the kernels.
  // f32: the backend's float32 compute path (activations float32), else bf16.
  QuantizedCudaLinear(const LinearLayer& layer, bool f32);
  ~QuantizedCudaLinear() override;
  void apply(const void* x, void* y, int m, LinearContext& ctx) const override;
  size_t device_bytes() const override;
  // gate_up (int4, parts fused; PAGODA_FUSED_SILU=0: not): rows interleaved by 8 at load (interleave_gate_up_rows),
  // so every m writes gate_up's columns in that order and m <= 8 can take quant_gemm_silu.
  bool gate_up_interleaved() const override { return interleaved_; }
  bool apply_silu(const bf16* x, bf16* out, int m, LinearContext& ctx) const override;
  // qkv (one fused weight; fp8, or int4 without act-order at a head_dim qkv_rope_cluster serves):
  // quant_gemm_lean_qkv_rope where quant_gemm would take the lean kernel.
  bool apply_qkv_rope(const bf16* x, bf16* qkv, int m, const QkvRope& rope, LinearContext& ctx) const override;
  // Where split_norm_serves (W8A8 models keep their norm kernels: their norms fake-quantize the row).
  bool consumes_split_norm(int m, const LinearContext& ctx) const override;
  bool apply_split_norm(const bf16* x, int m, const SplitNorm& norm, LinearContext& ctx) const override;
  // How this layer quantizes its input (W8A8), as the kernel that makes the input could do it
  // instead (Fp8Fuse::kNone: weight-only, or float32 activations).
  Fp8Fuse input_quantization() const;

  // The weight that goes to cuBLASLt's fp8 GEMM past stream_max_rows() (W8A8 per channel, per token: what
  // CudaBackend::tune_fp8_gemms times), else null.
  const QuantizedWeight* fp8_gemm_weight() const {
    const bool fp8_gemm = !f32_ && act_group_ == in_ && !block_scales_ && parts_.size() == 1;
    return fp8_gemm ? &parts_.front().weight.view() : nullptr;
  }

  // Up to this many rows the weight-streaming kernel serves; more take the tensor-core path.
  static constexpr int kStreamMaxRows = 32;
  // The limit for a layer with fp8_gemm_weight() (fp8_stream_max_rows(), 8): from m 9 cuBLASLt's fp8 GEMM beat
  // the streaming kernel's passes, which at m 32 were slower than bf16's GEMMs.
  int stream_max_rows() const { return fp8_gemm_weight() != nullptr ? fp8_stream_max_rows() : kStreamMaxRows; }

private:
  // Either side of a split norm: a weight-only int4 layer in one part at quant_gemm_lean's sizes.
  bool split_norm_serves(int m, const LinearContext& ctx) const;
  // Whether x goes to the GEMM as it is: weight-only, or W8A8 with x fake-quantized by its producer as this layer
  // would (x_fused).
  bool x_ready(Fp8Fuse x_fused) const {
    return act_group_ == 0 || (x_fused != Fp8Fuse::kNone && x_fused == input_quantization());
  }
  template <typename T, typename Gemm>
  void by_chunks(const T* x, T* y, int m, Fp8Fuse x_fused, cudaStream_t stream, Gemm&& gemm) const;

  struct Part {
    DeviceQuantizedWeight weight;
    int row_offset;
  };
  std::vector<Part> parts_; // one when the parts could be fused, else each with its act-order
  QuantFormat format_;
  bool block_scales_;
  int out_, in_;
  bool f32_;
  int act_group_ = 0; // W8A8: columns per activation scale (in_: per token; 128), 0: weight-only
  std::shared_ptr<QuantScratch> scratch_;
  bool interleaved_ = false; // gate_up's rows interleaved by 8 (one part)
  mutable bool block_w8a8_ = true; // fp8 blocks: cuBLASLt's block scale modes until it refuses them
};

} // namespace pagoda::cuda
