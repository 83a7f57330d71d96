// The k-split choice the bulk-copy decode GEMVs share (quant_gemv_bulk for int4 / fp8 weights,
// bf16_gemv_bulk for bf16 ones): host and device-free, so the host emulations call it too.
#pragma once

#include <cstdint>

namespace pagoda::cuda {

// Splits of a tile's stages for `slots` resident CTAs: the busiest CTA's stage count (items dealt
// round robin to min(items, slots) persistent CTAs) is what a call costs; a further split must cut it
// by 5% or more (splits cost f32 partials, m x n x 4 bytes each written and read, and a reduction).
inline int bulk_gemv_splits(int tiles, int stages_per_tile, int64_t slots) {
  int best = 1;
  int64_t best_cost = -1;
  for (int s = 1; s <= stages_per_tile; ++s) {
    const int64_t items = int64_t(tiles) * s, grid = items < slots ? items : slots;
    const int64_t cost = (items + grid - 1) / grid * ((stages_per_tile + s - 1) / s);
    if (best_cost < 0 || cost * 20 < best_cost * 19) best_cost = cost, best = s;
  }
  return best;
}

} // namespace pagoda::cuda
