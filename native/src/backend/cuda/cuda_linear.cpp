// prepare_cuda_linear and the unquantized kernel.
#include "backend/cuda/cuda_linear.h"

#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/quantized_cuda_linear.h"
#include "error.h"
#include "models/unquantized_linear.h"

namespace pagoda::cuda {

UnquantizedCudaLinear::UnquantizedCudaLinear(const LinearLayer& layer, WeightUploader& uploader)
    : out_(static_cast<int>(layer.out_features)), in_(static_cast<int>(layer.in_features)) {
  std::vector<const TensorView*> parts;
  for (const LinearMethod* p : layer.parts) parts.push_back(&static_cast<const UnquantizedLinear*>(p)->weight());
  weight_ = uploader.upload(parts);
}

void UnquantizedCudaLinear::apply(const void* x, void* y, int m, LinearContext& ctx) const {
  if (ctx.norm.sums_in != nullptr)
    return skinny_gemm_split_norm(static_cast<const bf16*>(x), weight_.as<bf16>(), static_cast<bf16*>(y), m, out_, in_,
                                  ctx.norm, ctx.stream);
  if (ctx.f32)
    ctx.gemm.linear(static_cast<const float*>(x), weight_.as<float>(), static_cast<float*>(y), m, out_, in_, ctx.stream);
  else
    ctx.gemm.linear(static_cast<const bf16*>(x), weight_.as<bf16>(), y, GemmOutput::kBf16, m, out_, in_, ctx.stream);
}

// On by default since the H200 checked it: bf16 in session 10 (skinny_gemm_test bit for bit the pair it
// replaces, tiny-llama3 / tiny-qwen3 goldens, batch-1 bf16 4.333 -> 4.270 ms, ShareGPT 500 unchanged), int4 in
// session 12 (quant_gemm_silu_test bit for bit, GPTQ / act-order / AWQ goldens, batch-1 GPTQ 2.223 -> 2.165 ms,
// AWQ 2.378 -> 2.313). PAGODA_FUSED_SILU=0 turns both off.
bool fused_silu_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_FUSED_SILU");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return on;
}

void UnquantizedCudaLinear::interleave_gate_up(cudaStream_t stream) {
  if (interleaved_ || out_ % 16 != 0) return;
  DeviceBuffer scratch(weight_.bytes());
  interleave_gate_up_rows(weight_.as<bf16>(), out_ / 2, in_, scratch.data(), stream);
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream)); // before scratch goes
  interleaved_ = true;
}

bool UnquantizedCudaLinear::apply_silu(const bf16* x, bf16* out, int m, LinearContext& ctx) const {
  if (!interleaved_ || ctx.f32 || ctx.silu_fuse != Fp8Fuse::kNone || !skinny_gemm_supports(m, in_, x, weight_.data()))
    return false;
  skinny_gemm_silu(x, weight_.as<bf16>(), out, m, out_ / 2, in_, ctx.stream, ctx.norm);
  return true;
}

bool fused_qkv_rope_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_FUSED_QKV_ROPE");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return on;
}

bool UnquantizedCudaLinear::apply_qkv_rope(const bf16* x, bf16* qkv, int m, const QkvRope& rope,
                                           LinearContext& ctx) const {
  if (ctx.f32 || m > kQkvRopeMaxRows || !skinny_gemm_supports(m, in_, x, weight_.data())) return false;
  skinny_gemm_qkv_rope(x, weight_.as<bf16>(), qkv, m, out_, in_, rope, ctx.stream, ctx.norm);
  return true;
}

// On by default since session 34 measured it on an H100 (ABBA, bench/results/h100-split-norm-ab-s34.txt): batch-1
// bf16 5.499 -> 5.409 ms, GPTQ 2.243 -> 2.214, AWQ 2.300 -> 2.263, every golden passing with it; PAGODA_SPLIT_NORM=0
// turns it off.
bool split_norm_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PAGODA_SPLIT_NORM");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return on;
}

bool UnquantizedCudaLinear::consumes_split_norm(int m, const LinearContext& ctx) const {
  return !ctx.f32 && m >= 1 && m <= kSplitNormMaxRows && in_ % 16 == 0;
}

bool UnquantizedCudaLinear::apply_split_norm(const bf16* x, int m, const SplitNorm& norm, LinearContext& ctx) const {
  if (ctx.f32 || m < 1 || m > kSplitNormMaxRows || out_ % 16 != 0 || !skinny_gemm_supports(m, in_, x, weight_.data()))
    return false;
  skinny_gemm_split_norm(x, weight_.as<bf16>(), norm.scaled, m, out_, in_, norm, ctx.stream);
  return true;
}

std::unique_ptr<CudaLinear> prepare_cuda_linear(const LinearLayer& layer, WeightUploader& uploader,
                                                LinearContext& ctx) {
  if (!layer.uniform())
    throw Error("linear layer " + layer.parts.front()->prefix() + ": its fused parts (" + layer.name +
                ") mix quantized and float weights, which the CUDA backend does not run; use device \"cpu\"");
  switch (layer.method()) {
  case QuantMethod::kNone: return std::make_unique<UnquantizedCudaLinear>(layer, uploader);
  case QuantMethod::kGptq:
  case QuantMethod::kAwq:
  case QuantMethod::kFp8PerChannel:
  case QuantMethod::kFp8Block: return std::make_unique<QuantizedCudaLinear>(layer, ctx.f32);
  default: break;
  }
  throw Error(std::string("the CUDA backend has no kernel for ") + quant_method_name(layer.method()) +
              " linear layers yet (" + layer.parts.front()->prefix() + "); use device \"cpu\"");
}

} // namespace pagoda::cuda
