// The CPU backend's kernel for every linear method: float weights straight through matmul as
// stored; quantized weights dequantized to float32 a tile of rows at a time (the reference
// other backends' kernels are checked against), after the activation quantization the method
// asks for (W8A8 FP8: per-token or per-token-group e4m3 fake-quantization).
#pragma once

#include <cstdint>
#include <vector>

#include "models/linear_layer.h"

namespace pagoda::cpu {

class ThreadPool;

// y[m, layer.out_features] = x[m, layer.in_features] · Wᵀ, the parts' outputs side by side.
// `scratch` holds the quantized copy of x when a part asks for one.
void linear_forward(const LinearLayer& layer, const float* x, int64_t m, float* y, ThreadPool& pool,
                    std::vector<float>& scratch);

} // namespace pagoda::cpu
