// A view of one checkpoint tensor: {name, dtype, shape, pointer} into a memory-mapped file or
// an owned buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/dtype.h"

namespace pagoda {

// A view of one tensor. `data` is nullptr when the tensor is absent (e.g. no bias).
// Linear weights keep the Hugging Face layout [out_features, in_features], row-major.
struct TensorView {
  std::string name; // checkpoint name, e.g. "model.layers.0.self_attn.q_proj.weight"
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;

  bool present() const { return data != nullptr; }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }             // [out, in]: out
  int64_t cols() const { return shape.size() < 2 ? 0 : shape[1]; }          // [out, in]: in
};

} // namespace pagoda
