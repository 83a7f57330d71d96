// Upload of the model's weights: each device tensor is the concatenation (along rows) of
// one or more checkpoint tensors, converted to bf16 (or widened to float32) in pinned chunks
// on the host.
#include "backend/cuda/device_weights.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "backend/cuda/stream.h"
#include "error.h"
#include "model/dtype.h"

namespace pagoda::cuda {

namespace {

constexpr size_t kStagingElems = size_t(16) << 20; // 32 MiB of bf16 (64 of float32) per chunk

class Uploader {
public:
  Uploader(cudaStream_t stream, bool f32)
      : stream_(stream), f32_(f32), elem_bytes_(f32 ? 4 : 2), staging_(kStagingElems * elem_bytes_) {}

  // The tensors in `parts`, concatenated, as one bf16 (or float32) device buffer.
  DeviceBuffer upload(std::initializer_list<const TensorView*> parts) {
    size_t total = 0;
    for (const TensorView* t : parts) total += static_cast<size_t>(t->numel());
    DeviceBuffer buf(total * elem_bytes_);
    size_t offset = 0;
    for (const TensorView* t : parts) {
      if (f32_) copy_widened(*t, buf.as<float>() + offset);
      else copy_converted(*t, buf.as<uint16_t>() + offset);
      offset += static_cast<size_t>(t->numel());
    }
    bytes_ += buf.bytes();
    return buf;
  }

  DeviceBuffer upload_optional(const TensorView& t) { return t.present() ? upload({&t}) : DeviceBuffer(); }
  size_t bytes() const { return bytes_; }

private:
  void copy_converted(const TensorView& t, uint16_t* dst) {
    if (!t.present()) throw Error("CUDA upload: tensor " + t.name + " is missing");
    const size_t n = static_cast<size_t>(t.numel());
    uint16_t* stage = static_cast<uint16_t*>(staging_.data());
    for (size_t start = 0; start < n; start += kStagingElems) {
      const size_t len = std::min(kStagingElems, n - start);
      // The previous chunk's copy must finish before the staging buffer is refilled.
      PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream_));
      switch (t.dtype) {
      case DType::BF16:
        std::memcpy(stage, static_cast<const uint16_t*>(t.data) + start, len * 2);
        break;
      case DType::F32: {
        const float* src = static_cast<const float*>(t.data) + start;
        for (size_t i = 0; i < len; ++i) stage[i] = f32_to_bf16(src[i]);
        break;
      }
      case DType::F16: {
        const uint16_t* src = static_cast<const uint16_t*>(t.data) + start;
        for (size_t i = 0; i < len; ++i) stage[i] = f32_to_bf16(f16_to_f32(src[i]));
        break;
      }
      }
      PAGODA_CUDA_CHECK(cudaMemcpyAsync(dst + start, stage, len * 2, cudaMemcpyHostToDevice, stream_));
    }
  }

  // The same, to float32 (exact from every checkpoint dtype).
  void copy_widened(const TensorView& t, float* dst) {
    if (!t.present()) throw Error("CUDA upload: tensor " + t.name + " is missing");
    const size_t n = static_cast<size_t>(t.numel());
    float* stage = static_cast<float*>(staging_.data());
    for (size_t start = 0; start < n; start += kStagingElems) {
      const size_t len = std::min(kStagingElems, n - start);
      PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream_));
      switch (t.dtype) {
      case DType::F32:
        std::memcpy(stage, static_cast<const float*>(t.data) + start, len * 4);
        break;
      case DType::BF16: {
        const uint16_t* src = static_cast<const uint16_t*>(t.data) + start;
        for (size_t i = 0; i < len; ++i) stage[i] = bf16_to_f32(src[i]);
        break;
      }
      case DType::F16: {
        const uint16_t* src = static_cast<const uint16_t*>(t.data) + start;
        for (size_t i = 0; i < len; ++i) stage[i] = f16_to_f32(src[i]);
        break;
      }
      }
      PAGODA_CUDA_CHECK(cudaMemcpyAsync(dst + start, stage, len * 4, cudaMemcpyHostToDevice, stream_));
    }
  }

  cudaStream_t stream_;
  bool f32_;
  size_t elem_bytes_;
  PinnedBuffer staging_;
  size_t bytes_ = 0;
};

} // namespace

DeviceWeights upload_weights(const ModelConfig& config, const ModelWeights& w, cudaStream_t stream, bool f32) {
  Uploader up(stream, f32);
  DeviceWeights d;
  d.f32 = f32;
  d.embed = up.upload({&w.embed_tokens});
  d.norm = up.upload({&w.norm});
  if (!w.lm_head_tied) d.lm_head = up.upload({&w.lm_head});
  for (const LayerWeights& l : w.layers) {
    DeviceLayer layer;
    layer.input_norm = up.upload({&l.input_layernorm});
    layer.post_norm = up.upload({&l.post_attention_layernorm});
    layer.qkv = up.upload({&l.q_proj, &l.k_proj, &l.v_proj});
    if (config.qkv_bias) layer.qkv_bias = up.upload({&l.q_bias, &l.k_bias, &l.v_bias});
    layer.o = up.upload({&l.o_proj});
    if (config.o_bias) layer.o_bias = up.upload_optional(l.o_bias);
    if (config.qk_norm) {
      layer.q_norm = up.upload({&l.q_norm});
      layer.k_norm = up.upload({&l.k_norm});
    }
    layer.gate_up = up.upload({&l.gate_proj, &l.up_proj});
    layer.down = up.upload({&l.down_proj});
    d.layers.push_back(std::move(layer));
  }
  PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
  d.bytes = up.bytes();
  return d;
}

} // namespace pagoda::cuda
