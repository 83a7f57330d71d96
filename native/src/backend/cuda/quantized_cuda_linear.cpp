// QuantizedCudaLinear: a quantized LinearLayer's tensors repacked for the CUDA kernels at load,
// and the kernel chosen per step by m (see the header). The scratch buffers the large-m paths
// need (a bf16 copy of the largest weight, fp8 activations and their scales, the act-order
// gather) are shared by every layer and sized at load, so no step allocates and captured
// graphs keep valid pointers.
#include "backend/cuda/quantized_cuda_linear.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "backend/cuda/quant_kernels.h"
#include "error.h"
#include "models/awq_linear.h"
#include "models/fp8_linear.h"
#include "models/gptq_linear.h"

namespace pagoda::cuda {

// Tokens a step may carry through a quantized linear's tensor-core path (the chunked-prefill
// budget is far below); more fails with an error naming the limit.
constexpr int kMaxRows = 16384;

struct QuantScratch {
  DeviceBuffer dequantized; // bf16, the largest [out, in] of the model's quantized linears
  DeviceBuffer x_fp8;       // kMaxRows x the largest in
  DeviceBuffer x_scales;    // kMaxRows floats
  DeviceBuffer gathered;    // act-order x for the streaming kernel: kStreamMaxRows x in, bf16

  // Grows to fit a layer (at load only: nothing is captured yet).
  void fit(int out, int in, bool needs_dequant, bool needs_fp8) {
    auto grow = [](DeviceBuffer& b, size_t bytes) {
      if (b.bytes() < bytes) b = DeviceBuffer(bytes);
    };
    if (needs_dequant) grow(dequantized, size_t(out) * in * sizeof(bf16));
    if (needs_fp8) {
      grow(x_fp8, size_t(kMaxRows) * in);
      grow(x_scales, size_t(kMaxRows) * (in / 128 + 1) * sizeof(float)); // per token, or per token and 128 columns
    }
    grow(gathered, size_t(QuantizedCudaLinear::kStreamMaxRows) * in * sizeof(bf16));
  }
};

namespace {

std::shared_ptr<QuantScratch> shared_scratch() {
  static std::mutex mutex;
  static std::weak_ptr<QuantScratch> current;
  std::lock_guard<std::mutex> lock(mutex);
  auto s = current.lock();
  if (!s) {
    s = std::make_shared<QuantScratch>();
    current = s;
  }
  return s;
}

// A checkpoint's scales as fp16 bits (GPTQ / AWQ ship fp16; bf16 or f32 ones are converted).
std::vector<uint16_t> scales_f16(const TensorView& t) {
  std::vector<uint16_t> out(static_cast<size_t>(t.numel()));
  if (t.dtype == DType::F16) {
    std::memcpy(out.data(), t.data, out.size() * 2);
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    float v;
    if (t.dtype == DType::BF16) v = bf16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
    else if (t.dtype == DType::F32) v = static_cast<const float*>(t.data)[i];
    else throw Error("quantized weight " + t.name + ": scales of dtype " + dtype_name(t.dtype) + " are not supported");
    const __half h = __float2half(v);
    std::memcpy(&out[i], &h, 2);
  }
  return out;
}

const int32_t* as_i32(const TensorView& t) {
  if (t.dtype != DType::I32) throw Error("quantized weight " + t.name + ": expected int32, found " + dtype_name(t.dtype));
  return static_cast<const int32_t*>(t.data);
}

HostQuantizedWeight repack_part(const LinearMethod& part) {
  const int out = static_cast<int>(part.out_features()), in = static_cast<int>(part.in_features());
  switch (part.method()) {
  case QuantMethod::kGptq: {
    const auto& g = static_cast<const GptqLinear&>(part);
    const auto scales = scales_f16(g.scales());
    return repack_gptq(part.prefix(), as_i32(g.qweight()), as_i32(g.qzeros()), scales.data(),
                       g.act_order() ? g.g_idx().data() : nullptr, in, out, g.group_size());
  }
  case QuantMethod::kAwq: {
    const auto& a = static_cast<const AwqLinear&>(part);
    const auto scales = scales_f16(a.scales());
    return repack_awq(part.prefix(), as_i32(a.qweight()), as_i32(a.qzeros()), scales.data(), in, out, a.group_size());
  }
  case QuantMethod::kFp8PerChannel:
  case QuantMethod::kFp8Block: {
    const auto& f = static_cast<const Fp8Linear&>(part);
    const auto* codes = static_cast<const uint8_t*>(f.weight().data);
    return f.block_scales() ? fp8_block128(part.prefix(), codes, f.scales().data(), out, in)
                            : fp8_per_channel(part.prefix(), codes, f.scales().data(), out, in);
  }
  default: break;
  }
  throw Error("linear " + part.prefix() + ": not a quantized method");
}

} // namespace

QuantizedCudaLinear::QuantizedCudaLinear(const LinearLayer& layer)
    : out_(static_cast<int>(layer.out_features)), in_(static_cast<int>(layer.in_features)) {
  std::vector<HostQuantizedWeight> host;
  for (const LinearMethod* p : layer.parts) host.push_back(repack_part(*p));
  format_ = host.front().format;
  block_scales_ = layer.method() == QuantMethod::kFp8Block;
  // One fused weight when the parts allow it (same act-order permutation, block rows whole),
  // else one streaming launch per part into its columns of y.
  if (auto fused = concat_rows(host)) {
    parts_.push_back(Part{DeviceQuantizedWeight(*fused), 0});
  } else {
    int offset = 0;
    for (const HostQuantizedWeight& h : host) {
      parts_.push_back(Part{DeviceQuantizedWeight(h), offset});
      offset += h.n;
    }
  }
  scratch_ = shared_scratch();
  const bool fp8 = format_ == QuantFormat::kFp8;
  scratch_->fit(out_, in_, !fp8 || block_scales_, fp8);
}

QuantizedCudaLinear::~QuantizedCudaLinear() = default;

size_t QuantizedCudaLinear::device_bytes() const {
  size_t bytes = 0;
  for (const Part& p : parts_) bytes += p.weight.bytes();
  return bytes;
}

void QuantizedCudaLinear::apply(const void* x_in, void* y_out, int m, LinearContext& ctx) const {
  if (ctx.f32) throw Error("quantized linear layers run with bf16 activations on CUDA (dtype float32 is not served)");
  if (m == 0) return;
  const auto* x = static_cast<const bf16*>(x_in);
  auto* y = static_cast<bf16*>(y_out);
  if (m <= kStreamMaxRows) {
    for (const Part& p : parts_)
      quant_gemm(x, p.weight.view(), y + p.row_offset, out_, m, 0.f, scratch_->gathered.data(),
                 scratch_->gathered.bytes(), ctx.stream);
    return;
  }
  if (m > kMaxRows)
    throw Error("a quantized linear was given " + std::to_string(m) + " tokens in one step; at most " +
                std::to_string(kMaxRows) + " are served (lower max_num_batched_tokens)");
  if (format_ == QuantFormat::kFp8 && !block_scales_ && parts_.size() == 1) {
    // W8A8: dynamic per-token e4m3 activations, fp8 tensor cores.
    const QuantizedWeight& w = parts_.front().weight.view();
    quantize_fp8_rows(x, scratch_->x_fp8.as<uint8_t>(), scratch_->x_scales.as<float>(), m, in_, in_, true, ctx.stream);
    ctx.gemm.linear_fp8(scratch_->x_fp8.as<uint8_t>(), scratch_->x_scales.as<float>(),
                        static_cast<const uint8_t*>(w.packed), static_cast<const float*>(w.scales), y,
                        Fp8Scaling::kPerChannel, m, out_, in_, ctx.stream);
    return;
  }
  if (format_ == QuantFormat::kFp8 && block_w8a8_ && parts_.size() == 1) {
    // W8A8 with 128x128 weight blocks and per-token-group-of-128 activation scales (cuBLASLt's
    // block scale modes; [k/128][m] activation scales). Where the library refuses them, the
    // layer falls back to the bf16 path below for good.
    const QuantizedWeight& w = parts_.front().weight.view();
    try {
      quantize_fp8_rows(x, scratch_->x_fp8.as<uint8_t>(), scratch_->x_scales.as<float>(), m, in_, 128, false,
                        ctx.stream);
      ctx.gemm.linear_fp8(scratch_->x_fp8.as<uint8_t>(), scratch_->x_scales.as<float>(),
                          static_cast<const uint8_t*>(w.packed), static_cast<const float*>(w.scales), y,
                          Fp8Scaling::kBlock128, m, out_, in_, ctx.stream);
      return;
    } catch (const Error&) {
      block_w8a8_ = false;
    }
  }
  // int4 (and fp8 blocks without cuBLASLt's block modes): dequantize to bf16, then the bf16 GEMM.
  for (const Part& p : parts_)
    dequantize_weight(p.weight.view(), scratch_->dequantized.as<bf16>() + static_cast<int64_t>(p.row_offset) * in_,
                      ctx.stream);
  ctx.gemm.linear(x, scratch_->dequantized.as<bf16>(), y, GemmOutput::kBf16, m, out_, in_, ctx.stream);
}

} // namespace pagoda::cuda
