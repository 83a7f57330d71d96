// Token embedding lookup: rows of the embedding table, converted to float32.
#pragma once

#include <cstdint>

#include "backend/cpu/matmul.h"

namespace pagoda::cpu {

// out[t] = table[ids[t]] for t < n; table is [vocab, hidden] in its storage dtype. Ids are
// checked by the caller.
void embedding(const MatrixRef& table, const int32_t* ids, int64_t n, float* out);
void embedding_reference(const MatrixRef& table, const int32_t* ids, int64_t n, float* out);

} // namespace pagoda::cpu
