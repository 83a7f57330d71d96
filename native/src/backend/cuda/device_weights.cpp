// WeightUploader: each device tensor is the concatenation (along rows) of one or more
// checkpoint tensors, converted to bf16 (or widened to float32) in pinned chunks on the host.
#include "backend/cuda/device_weights.h"

#include <algorithm>
#include <cstring>

#include "backend/cuda/stream.h"
#include "error.h"
#include "model/dtype.h"

namespace pagoda::cuda {

namespace {
constexpr size_t kStagingElems = size_t(16) << 20; // 32 MiB of bf16 (64 of float32) per chunk
} // namespace

WeightUploader::WeightUploader(cudaStream_t stream, bool f32)
    : stream_(stream), f32_(f32), elem_bytes_(f32 ? 4 : 2), staging_(kStagingElems * elem_bytes_) {}

WeightUploader::~WeightUploader() { cudaStreamSynchronize(stream_); } // the staging buffer may still be read

DeviceBuffer WeightUploader::upload(const std::vector<const TensorView*>& parts) {
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

void WeightUploader::copy_converted(const TensorView& t, uint16_t* dst) {
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
    default: throw Error("CUDA upload: tensor " + t.name + " is " + dtype_name(t.dtype) + ", not a float tensor");
    }
    PAGODA_CUDA_CHECK(cudaMemcpyAsync(dst + start, stage, len * 2, cudaMemcpyHostToDevice, stream_));
  }
}

// The same, to float32 (exact from every checkpoint dtype).
void WeightUploader::copy_widened(const TensorView& t, float* dst) {
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
    default: throw Error("CUDA upload: tensor " + t.name + " is " + dtype_name(t.dtype) + ", not a float tensor");
    }
    PAGODA_CUDA_CHECK(cudaMemcpyAsync(dst + start, stage, len * 4, cudaMemcpyHostToDevice, stream_));
  }
}

} // namespace pagoda::cuda
