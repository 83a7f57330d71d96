// linear_forward: per part, rows split over the pool; a quantized part's rows dequantized in
// tiles of kTileRows into a thread-local buffer and multiplied by the same matmul kernel.
#include "backend/cpu/cpu_linear.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/matmul.h"
#include "backend/cpu/thread_pool.h"
#include "models/fp8_linear.h"
#include "models/unquantized_linear.h"

namespace pagoda::cpu {

namespace {

constexpr int64_t kTileRows = 16;

void part_forward(const LinearMethod& part, const float* x, int64_t m, float* y, int64_t ldy, ThreadPool& pool) {
  const int64_t in = part.in_features();
  if (const auto* u = dynamic_cast<const UnquantizedLinear*>(&part)) {
    const MatrixRef w{u->weight().dtype, u->weight().data, part.out_features(), in};
    pool.parallel_for(part.out_features(), 16, [&](int64_t begin, int64_t end) { matmul_rows(x, m, w, begin, end, y, ldy); });
    return;
  }
  pool.parallel_for(part.out_features(), kTileRows, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> tile;
    tile.resize(static_cast<size_t>(kTileRows * in));
    for (int64_t r0 = begin; r0 < end; r0 += kTileRows) {
      const int64_t r1 = std::min(end, r0 + kTileRows);
      part.dequantize_rows(r0, r1, tile.data());
      const MatrixRef w{DType::F32, tile.data(), r1 - r0, in};
      matmul_rows(x, m, w, 0, r1 - r0, y + r0, ldy);
    }
  });
}

} // namespace

void linear_forward(const LinearLayer& layer, const float* x, int64_t m, float* y, ThreadPool& pool,
                    std::vector<float>& scratch) {
  const int64_t in = layer.in_features;
  int64_t column = 0;
  ActivationQuant quantized_as = ActivationQuant::kNone;
  for (const LinearMethod* part : layer.parts) {
    const ActivationQuant aq = part->activation_quant();
    const float* input = x;
    if (aq != ActivationQuant::kNone) {
      // Parts sharing an input (q/k/v, gate/up) share its quantization: done once.
      if (aq != quantized_as) {
        scratch.assign(x, x + m * in);
        fp8_quantize_activations(aq, scratch.data(), m, in);
        quantized_as = aq;
      }
      input = scratch.data();
    }
    part_forward(*part, input, m, y + column, layer.out_features, pool);
    column += part->out_features();
  }
}

} // namespace pagoda::cpu
