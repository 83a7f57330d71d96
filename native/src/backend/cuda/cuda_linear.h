// The CUDA backend's kernels for linear layers, one kind per LinearMethod, made at load from
// the method's tensors (process_weights_after_loading: conversion, fusion, repacking into the
// layout the kernel reads) and applied to the step's activations on the backend's stream.
// Unquantized layers: the parts converted to bf16 (or float32), fused along rows, one cuBLASLt
// GEMM (or the skinny kernel) as tuned. Quantized methods plug in here: a CudaLinear subclass
// and a case in prepare_cuda_linear.
#pragma once

#include <cuda_runtime.h>

#include <memory>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/device_weights.h"
#include "backend/cuda/kernels.h"
#include "models/linear_layer.h"

namespace pagoda::cuda {

// What a linear kernel may use besides its own weights.
struct LinearContext {
  CublasLt& gemm;
  cudaStream_t stream;
  bool f32; // activations (and float weights) are float32, else bf16
  // x left its producing kernel (RMSNorm, SiLU·mul) already fake-quantized this way for W8A8
  // linears (kernels.h): a layer quantizing its input the same way need not do it again.
  Fp8Fuse x_fused = Fp8Fuse::kNone;
  // apply_silu only: how its output should leave for the down projection (kPerToken: fake-quantized, as
  // silu_mul(..., fuse) would; a kernel that cannot do it declines), and a float32 staging buffer it may use
  // (gate_up's own activation buffer, which the fused launch leaves unwritten otherwise).
  Fp8Fuse silu_fuse = Fp8Fuse::kNone;
  void* staging = nullptr;
  size_t staging_bytes = 0;
  // x is a split norm's scaled row (kernels.h SplitNorm, sums_in set): apply / apply_silu / apply_qkv_rope scale
  // their outputs by its rows' 1 / rms (only set where consumes_split_norm said so), or decline (the fused ones).
  SplitNorm norm;
};

class CudaLinear : public LinearKernel {
public:
  // y[m, out] = x[m, in] · Wᵀ, x and y of the path's element type (bf16, or float with f32).
  virtual void apply(const void* x, void* y, int m, LinearContext& ctx) const = 0;
  // Bytes of device memory the kernel's weights take.
  virtual size_t device_bytes() const = 0;
  // gate_up only: true when the weight's rows are interleaved by 8 (kernels.h, silu_mul_interleaved), so
  // apply() writes gate_up's columns in that order.
  virtual bool gate_up_interleaved() const { return false; }
  // out[m, out / 2] = silu(gate) * up in one kernel where m allows (decode sizes; an interleaved gate_up);
  // false: the caller runs apply() and silu_mul_interleaved.
  virtual bool apply_silu(const bf16* /*x*/, bf16* /*out*/, int /*m*/, LinearContext& /*ctx*/) const { return false; }
  // qkv only: qkv[m, out] with RoPE applied to q and k, and k and v written to the KV cache, in one kernel where
  // m allows (decode sizes, kernels.h QkvRope); false: the caller runs apply(), then RoPE and the KV write.
  virtual bool apply_qkv_rope(const bf16* /*x*/, bf16* /*qkv*/, int /*m*/, const QkvRope& /*rope*/,
                              LinearContext& /*ctx*/) const {
    return false;
  }
  // Whether apply() (and apply_silu / apply_qkv_rope where they run) take ctx.norm at m: a split norm's consumer.
  virtual bool consumes_split_norm(int /*m*/, const LinearContext& /*ctx*/) const { return false; }
  // A split norm's producer (kernels.h SplitNorm, m <= kSplitNormMaxRows): the residual add, the scaled row and the
  // tile sums instead of y; false: not served here (the caller runs apply(), then add_rms_norm).
  virtual bool apply_split_norm(const bf16* /*x*/, int /*m*/, const SplitNorm& /*norm*/, LinearContext& /*ctx*/) const {
    return false;
  }
};

// A decode layer's residual add + RMSNorm split over the GEMVs around it (SplitNorm) at up to kSplitNormMaxRows
// rows; on by default, PAGODA_SPLIT_NORM=0 turns it off.
bool split_norm_enabled();

// Float weights as one [out, in] matrix of the path's element type.
class UnquantizedCudaLinear : public CudaLinear {
public:
  UnquantizedCudaLinear(const LinearLayer& layer, WeightUploader& uploader);
  void apply(const void* x, void* y, int m, LinearContext& ctx) const override;
  size_t device_bytes() const override { return weight_.bytes(); }
  const bf16* weight_bf16() const { return weight_.as<bf16>(); } // for GEMM tuning
  int out_features() const { return out_; }
  int in_features() const { return in_; }

  // gate_up only (fused_silu_enabled()): reorders the bf16 weight's rows interleaved by 8 (kernels.h,
  // skinny_gemm_silu), after which apply() writes gate_up's columns in that order.
  void interleave_gate_up(cudaStream_t stream);
  bool gate_up_interleaved() const override { return interleaved_; }
  // skinny_gemm_silu for the decode sizes skinny_gemm serves.
  bool apply_silu(const bf16* x, bf16* out, int m, LinearContext& ctx) const override;
  // skinny_gemm_qkv_rope up to kQkvRopeMaxRows.
  bool apply_qkv_rope(const bf16* x, bf16* qkv, int m, const QkvRope& rope, LinearContext& ctx) const override;
  // skinny_gemm_split_norm's sizes.
  bool consumes_split_norm(int m, const LinearContext& ctx) const override;
  bool apply_split_norm(const bf16* x, int m, const SplitNorm& norm, LinearContext& ctx) const override;

private:
  DeviceBuffer weight_;
  int out_, in_;
  bool interleaved_ = false;
};

// Decode steps run gate_up and SiLU·mul as one kernel (bf16 weights: skinny_gemm_silu; int4 GPTQ / AWQ and fp8
// per channel: quant_gemm_silu, or for W8A8 per token quant_gemm_silu_fp8, rows interleaved at load); on by
// default, PAGODA_FUSED_SILU=0 turns it off.
bool fused_silu_enabled();

// The qkv GEMM finishes RoPE and the KV cache write itself at decode sizes (CudaLinear::apply_qkv_rope); on by
// default, PAGODA_FUSED_QKV_ROPE=0 turns it off.
bool fused_qkv_rope_enabled();

// The kernel for `layer`'s method. Throws pagoda::Error naming the layer when this backend
// has no kernel for its method.
std::unique_ptr<CudaLinear> prepare_cuda_linear(const LinearLayer& layer, WeightUploader& uploader,
                                                LinearContext& ctx);

} // namespace pagoda::cuda
