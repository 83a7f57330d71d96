// Embedding gather, AVX2 conversion and reference.
#include "backend/cpu/embedding.h"

#include "backend/cpu/simd.h"

namespace pagoda::cpu {

namespace {
template <DType D>
void gather(const MatrixRef& table, const int32_t* ids, int64_t n, float* out) {
  const int64_t h = table.k;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t base = static_cast<int64_t>(ids[t]) * h;
    int64_t i = 0;
    for (; i + 8 <= h; i += 8) _mm256_storeu_ps(out + t * h + i, load8<D>(table.data, base + i));
    for (; i < h; ++i) out[t * h + i] = load1<D>(table.data, base + i);
  }
}
} // namespace

void embedding(const MatrixRef& table, const int32_t* ids, int64_t n, float* out) {
  switch (table.dtype) {
  case DType::F32: gather<DType::F32>(table, ids, n, out); break;
  case DType::F16: gather<DType::F16>(table, ids, n, out); break;
  case DType::BF16: gather<DType::BF16>(table, ids, n, out); break;
  }
}

void embedding_reference(const MatrixRef& table, const int32_t* ids, int64_t n, float* out) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < table.k; ++i) out[t * table.k + i] = load_any(table.dtype, table.data, ids[t] * table.k + i);
}

} // namespace pagoda::cpu
