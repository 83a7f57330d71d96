// QuantizedCudaLinear: a quantized LinearLayer's tensors repacked for the CUDA kernels at load,
// and the kernel chosen per step by m (see the header). The scratch buffers the paths need (a
// copy of the largest weight dequantized, fp8 activations and their scales, fake-quantized
// activations, the act-order gather) are shared by every layer and sized at load, so no step
// allocates and captured graphs keep valid pointers.
#include "backend/cuda/quantized_cuda_linear.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstdlib>
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
// Rows fake-quantized at a time for a W8A8 layer whose GEMM takes bf16 / float32 activations
// (the dequantized-weight path runs its GEMM per chunk of rows, so the buffer stays small).
constexpr int kFakeQuantRows = 2048;

struct QuantScratch {
  DeviceBuffer dequantized; // the largest [out, in] of the model's quantized linears, bf16 or float32
  DeviceBuffer x_fp8;       // kMaxRows x the largest in
  DeviceBuffer x_scales;    // kMaxRows floats
  DeviceBuffer x_fake;      // kFakeQuantRows x the largest in, bf16 or float32: e4m3(x / s) * s
  DeviceBuffer gathered;    // act-order x for the streaming kernel: kStreamMaxRows x in, bf16

  // Grows to fit a layer (at load only: nothing is captured yet).
  void fit(int out, int in, size_t elem, bool needs_dequant, bool needs_fp8, bool needs_fake) {
    auto grow = [](DeviceBuffer& b, size_t bytes) {
      if (b.bytes() < bytes) b = DeviceBuffer(bytes);
    };
    if (needs_dequant) grow(dequantized, size_t(out) * in * elem);
    if (needs_fp8) {
      grow(x_fp8, size_t(kMaxRows) * in);
      grow(x_scales, size_t(kMaxRows) * (in / 128 + 1) * sizeof(float)); // per token, or per token and 128 columns
    }
    if (needs_fake) grow(x_fake, size_t(kFakeQuantRows) * in * elem);
    grow(gathered, size_t(QuantizedCudaLinear::kStreamMaxRows) * in * sizeof(bf16));
  }
};

// 8 since the H200 measured it (bench/results/*-stream{8,16,32}-3f86fd3.*): the batch-32 FP8 step 6,389 -> 4,262 us,
// ShareGPT 500 FP8 52.52 -> 55.30 req/s (16: 54.96) beside bf16's 43.51, every golden passing at 8.
int fp8_stream_max_rows() {
  static const int rows = [] {
    const char* v = std::getenv("PAGODA_FP8_STREAM_MAX_ROWS");
    if (v == nullptr || *v == '\0') return 8;
    return std::clamp(std::atoi(v), 0, QuantizedCudaLinear::kStreamMaxRows);
  }();
  return rows;
}

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

QuantizedCudaLinear::QuantizedCudaLinear(const LinearLayer& layer, bool f32)
    : out_(static_cast<int>(layer.out_features)), in_(static_cast<int>(layer.in_features)), f32_(f32) {
  std::vector<HostQuantizedWeight> host;
  for (const LinearMethod* p : layer.parts) host.push_back(repack_part(*p));
  format_ = host.front().format;
  block_scales_ = layer.method() == QuantMethod::kFp8Block;
  // One fused weight when the parts allow it (same act-order permutation, block rows whole),
  // else one streaming launch per part into its columns of y.
  if (auto fused = concat_rows(host)) {
    // gate_up's two halves as one weight (act-order ones only where gate and up share the permutation:
    // unfused parts keep the unfused pair), interleaved by 8 for the fused SiLU·mul (int4 and fp8 per channel,
    // bf16 activations; fp8 blocks keep their 128-row scale blocks whole).
    const bool per_row = fused->format == QuantFormat::kInt4 ||
                         (!block_scales_ && layer.parts.front()->activation_quant() != ActivationQuant::kFp8PerTokenGroup);
    interleaved_ = layer.name == "gate_up_proj" && !f32_ && per_row && host.size() == 2 && host[0].n == host[1].n &&
                   fused->n % 16 == 0 && fused_silu_enabled();
    if (interleaved_) fused = interleave_gate_up_rows(*fused);
    parts_.push_back(Part{DeviceQuantizedWeight(*fused), 0});
  } else {
    int offset = 0;
    for (const HostQuantizedWeight& h : host) {
      parts_.push_back(Part{DeviceQuantizedWeight(h), offset});
      offset += h.n;
    }
  }
  // The checkpoint's dynamic activation quantization (fp8 W8A8), or none (weight-only, also what
  // activation_quantization "none" asks): every m computes the function the setting names.
  act_group_ = 0;
  switch (layer.parts.front()->activation_quant()) {
  case ActivationQuant::kNone: break;
  case ActivationQuant::kFp8PerToken: act_group_ = in_; break;
  case ActivationQuant::kFp8PerTokenGroup: act_group_ = 128; break;
  }
  if (format_ != QuantFormat::kFp8) act_group_ = 0;
  if (act_group_ != 0 && in_ % act_group_ != 0)
    throw Error("linear " + layer.parts.front()->prefix() + ": fp8 activations in groups of 128 need in_features " +
                std::to_string(in_) + " to be a multiple of 128");
  scratch_ = shared_scratch();
  const bool w8a8 = act_group_ != 0;
  // float32: everything through the dequantized float32 weight. bf16: int4, fp8 blocks (when
  // cuBLASLt refuses its block modes), weight-only fp8 and unfused parts dequantize for large m;
  // W8A8 per channel (one fused weight) takes cuBLASLt's fp8 GEMM there.
  const bool needs_dequant = f32_ || format_ == QuantFormat::kInt4 || block_scales_ || !w8a8 || parts_.size() > 1;
  scratch_->fit(out_, in_, f32_ ? sizeof(float) : sizeof(bf16), needs_dequant, w8a8 && !f32_, w8a8);
}

QuantizedCudaLinear::~QuantizedCudaLinear() = default;

size_t QuantizedCudaLinear::device_bytes() const {
  size_t bytes = 0;
  for (const Part& p : parts_) bytes += p.weight.bytes();
  return bytes;
}

Fp8Fuse QuantizedCudaLinear::input_quantization() const {
  if (act_group_ == 0 || f32_) return Fp8Fuse::kNone;
  return act_group_ == 128 ? Fp8Fuse::kGroup128 : Fp8Fuse::kPerToken;
}

// Fake-quantizes x a chunk of rows at a time (W8A8 layers; weight-only ones, and inputs their
// producing kernel already fake-quantized the same way, pass x through) and runs gemm(x_chunk,
// y_chunk, rows) on each chunk.
template <typename T, typename Gemm>
void QuantizedCudaLinear::by_chunks(const T* x, T* y, int m, Fp8Fuse x_fused, cudaStream_t stream, Gemm&& gemm) const {
  if (x_ready(x_fused)) return gemm(x, y, m);
  for (int r0 = 0; r0 < m; r0 += kFakeQuantRows) {
    const int rows = std::min(kFakeQuantRows, m - r0);
    T* xq = scratch_->x_fake.as<T>();
    fake_quantize_fp8_rows(x + static_cast<int64_t>(r0) * in_, xq, rows, in_, act_group_, stream);
    gemm(xq, y + static_cast<int64_t>(r0) * out_, rows);
  }
}

bool QuantizedCudaLinear::apply_silu(const bf16* x, bf16* out, int m, LinearContext& ctx) const {
  // quant_gemm_lean's sizes only, and only while quant_gemm takes the lean kernel there (PAGODA_QUANT_GEMM_LEAN=0:
  // quant_gemm_kernel, then silu_mul_interleaved).
  if (!interleaved_ || ctx.f32 || m < 1 || m > 8 || !quant_gemm_lean_enabled()) return false;
  if (!x_ready(ctx.x_fused)) return false; // W8A8 x the norm did not fake-quantize: apply() does it, then silu_mul
  const QuantizedWeight& w = parts_.front().weight.view();
  if (ctx.silu_fuse == Fp8Fuse::kNone) {
    quant_gemm_silu(x, w, out, m, scratch_->gathered.data(), scratch_->gathered.bytes(), ctx.stream, -1, ctx.norm);
    return true;
  }
  if (ctx.norm.sums_in != nullptr) return false;
  if (ctx.silu_fuse != Fp8Fuse::kPerToken || w.format != QuantFormat::kFp8 ||
      ctx.staging_bytes < quant_gemm_silu_fp8_staging_bytes(w))
    return false;
  quant_gemm_silu_fp8(x, w, out, m, ctx.staging, ctx.staging_bytes, ctx.stream);
  return true;
}

bool QuantizedCudaLinear::apply_qkv_rope(const bf16* x, bf16* qkv, int m, const QkvRope& rope,
                                         LinearContext& ctx) const {
  // fp8 rows are read in RoPE pairs where they lie; int4 tiles hold 16 consecutive rows, so their pairs meet across
  // a cluster of a head's tiles (head_dim a multiple of 32 up to 128), with x in the checkpoint's order.
  if (ctx.f32 || parts_.size() != 1 || m > kQkvRopeMaxRows || m > stream_max_rows() || !quant_gemm_lean_enabled() ||
      !x_ready(ctx.x_fused))
    return false;
  const QuantizedWeight& w = parts_.front().weight.view();
  if (!quant_gemm_lean_qkv_rope_serves(w, rope.head_dim)) return false;
  quant_gemm_lean_qkv_rope(x, w, qkv, m, rope, ctx.stream, -1, ctx.norm);
  return true;
}

// int4 only: the fp8 lean kernels compile the consumer side out (kConsumes), and the producer side was only ever
// measured on int4.
bool QuantizedCudaLinear::split_norm_serves(int m, const LinearContext& ctx) const {
  return !ctx.f32 && !f32_ && act_group_ == 0 && format_ == QuantFormat::kInt4 && parts_.size() == 1 && m >= 1 &&
         m <= kSplitNormMaxRows && m <= stream_max_rows() && quant_gemm_lean_enabled();
}

bool QuantizedCudaLinear::consumes_split_norm(int m, const LinearContext& ctx) const {
  return split_norm_serves(m, ctx) && in_ % 16 == 0;
}

bool QuantizedCudaLinear::apply_split_norm(const bf16* x, int m, const SplitNorm& norm, LinearContext& ctx) const {
  if (!split_norm_serves(m, ctx) || out_ % 16 != 0) return false;
  quant_gemm_lean(x, parts_.front().weight.view(), norm.scaled, out_, m, 0.f, scratch_->gathered.data(),
                  scratch_->gathered.bytes(), ctx.stream, -1, norm);
  return true;
}

void QuantizedCudaLinear::apply(const void* x_in, void* y_out, int m, LinearContext& ctx) const {
  if (ctx.f32 != f32_)
    throw Error("a quantized linear prepared for " + std::string(f32_ ? "float32" : "bf16") +
                " activations was given the other kind");
  if (m == 0) return;
  if (m > kMaxRows)
    throw Error("a quantized linear was given " + std::to_string(m) + " tokens in one step; at most " +
                std::to_string(kMaxRows) + " are served (lower max_num_batched_tokens)");
  if (f32_) {
    // The float32 compute path (correctness, not speed): the exact dequantized weight in float32
    // and, for W8A8 checkpoints, x fake-quantized in float32: the function the CPU computes.
    float* w = scratch_->dequantized.as<float>();
    for (const Part& p : parts_)
      dequantize_weight(p.weight.view(), w + static_cast<int64_t>(p.row_offset) * in_, ctx.stream);
    by_chunks(static_cast<const float*>(x_in), static_cast<float*>(y_out), m, Fp8Fuse::kNone, ctx.stream,
              [&](const float* xc, float* yc, int rows) { ctx.gemm.linear(xc, w, yc, rows, out_, in_, ctx.stream); });
    return;
  }
  const auto* x = static_cast<const bf16*>(x_in);
  auto* y = static_cast<bf16*>(y_out);
  const bool w8a8 = act_group_ != 0;
  if (ctx.norm.sums_in != nullptr) { // a split norm's consumer (consumes_split_norm): the lean kernel scales the rows
    quant_gemm_lean(x, parts_.front().weight.view(), y, out_, m, 0.f, scratch_->gathered.data(),
                    scratch_->gathered.bytes(), ctx.stream, -1, ctx.norm);
    return;
  }
  if (m <= stream_max_rows()) {
    // Decode sizes: the weight-streaming GEMM; a W8A8 layer first turns x into e4m3(x / s) * s
    // (unless the norm / activation kernel before it did, from its float32 values).
    by_chunks(x, y, m, ctx.x_fused, ctx.stream, [&](const bf16* xc, bf16* yc, int rows) {
      for (const Part& p : parts_)
        quant_gemm(xc, p.weight.view(), yc + p.row_offset, out_, rows, 0.f, scratch_->gathered.data(),
                   scratch_->gathered.bytes(), ctx.stream);
    });
    return;
  }
  if (w8a8 && !block_scales_ && parts_.size() == 1) {
    // W8A8: dynamic per-token e4m3 activations, fp8 tensor cores.
    const QuantizedWeight& w = parts_.front().weight.view();
    quantize_fp8_rows(x, scratch_->x_fp8.as<uint8_t>(), scratch_->x_scales.as<float>(), m, in_, in_, true, ctx.stream);
    ctx.gemm.linear_fp8(scratch_->x_fp8.as<uint8_t>(), scratch_->x_scales.as<float>(),
                        static_cast<const uint8_t*>(w.packed), static_cast<const float*>(w.scales), y,
                        Fp8Scaling::kPerChannel, m, out_, in_, ctx.stream);
    return;
  }
  if (w8a8 && block_w8a8_ && parts_.size() == 1) {
    // W8A8 with 128x128 weight blocks and per-token-group-of-128 activation scales (cuBLASLt's
    // block scale modes; [k/128][m] activation scales). Where the library refuses them (older
    // cuBLASLt; 13.1 on sm_90 serves m > 1), the layer takes the path below for good: still W8A8,
    // x fake-quantized.
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
  // int4 and weight-only fp8 past the streaming sizes, W8A8 fp8 blocks without cuBLASLt's block
  // modes: dequantize to bf16, then the bf16 GEMM (per chunk of fake-quantized rows for W8A8).
  bf16* w = scratch_->dequantized.as<bf16>();
  for (const Part& p : parts_)
    dequantize_weight(p.weight.view(), w + static_cast<int64_t>(p.row_offset) * in_, ctx.stream);
  by_chunks(x, y, m, ctx.x_fused, ctx.stream, [&](const bf16* xc, bf16* yc, int rows) {
    ctx.gemm.linear(xc, w, yc, GemmOutput::kBf16, rows, out_, in_, ctx.stream);
  });
}

} // namespace pagoda::cuda
