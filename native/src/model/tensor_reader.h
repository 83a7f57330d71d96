// Checked reads of checkpoint tensors: the tensor exists, has one of the allowed dtypes and
// the expected shape, or a pagoda::Error names the file, the tensor and what was found.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "model/tensor_view.h"

namespace pagoda {

class SafetensorsCheckpoint;

std::string shape_str(const std::vector<int64_t>& shape);

// `allowed` empty: any float dtype (F32, F16, BF16).
TensorView read_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name,
                       const std::vector<int64_t>& shape, std::initializer_list<DType> allowed = {});
// Whether the checkpoint holds `name` at all.
bool has_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name);

// Fills n values center + scale * U[-1, 1) of `dtype` (a float dtype) in chunks, each from its
// own stream, on all cores: the values depend on (seed, stream, chunk) only.
void fill_uniform(DType dtype, void* dst, int64_t n, uint64_t seed, uint64_t stream, float center, float scale);

} // namespace pagoda
