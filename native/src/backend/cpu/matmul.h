// y = x · Wᵀ (+ bias) with W in its checkpoint dtype (f32 / f16 / bf16), converted to
// float32 in registers: decode streams every weight once, so bytes moved set the speed.
#pragma once

#include <cstdint>

#include "model/dtype.h"

namespace pagoda::cpu {

class ThreadPool;

// Weights as the kernels see them: [n rows (out features), k cols (in features)] row-major.
struct MatrixRef {
  DType dtype;
  const void* data;
  int64_t n;
  int64_t k;
};

// y[m, n] = x[m, k] · w[n, k]ᵀ + bias[n] (bias may be nullptr). Rows of w split over the pool.
void matmul(const float* x, int64_t m, const MatrixRef& w, const float* bias, float* y, ThreadPool& pool);

// The AVX2 kernel on one thread for output columns [row_begin, row_end) of y, whose rows are
// ldy floats apart (<= 0: w.n).
void matmul_rows(const float* x, int64_t m, const MatrixRef& w, int64_t row_begin, int64_t row_end, float* y,
                 int64_t ldy = 0);

// Plain scalar reference (double accumulation) for tests.
void matmul_reference(const float* x, int64_t m, const MatrixRef& w, const float* bias, float* y);

} // namespace pagoda::cpu
