// CPU checks of the wgmma decode GEMM's stream-K schedule (backend/cuda/decode_gemm_plan.h), walked as the kernel
// walks it for Llama-3-8B's four layer GEMMs and small shapes over grids of 1..264 units: the ranges cover every
// iteration once; every tile has exactly one finisher, which holds its first iteration; the finisher's own part and
// the parts of the units it adds cover the tile exactly; each of those stores one partial, at the start of its range
// (before it could wait on anything); and every partial stored is added by exactly one finisher.
#include <cstdio>
#include <vector>

#include "backend/cuda/decode_gemm_plan.h"
#include "check.h"

using namespace pagoda::cuda::stream_k;

namespace {

void walk(int64_t tiles, int64_t k_iters, int units) {
  const int64_t total = tiles * k_iters;
  std::vector<int> covered(static_cast<size_t>(total), 0);
  std::vector<int> finishers(static_cast<size_t>(tiles), 0);
  std::vector<int> partials_stored(static_cast<size_t>(units), 0), partials_added(static_cast<size_t>(units), 0);
  std::vector<int64_t> tile_covered(static_cast<size_t>(tiles), 0);
  for (int u = 0; u < units; ++u) {
    const int64_t begin = range_begin(u, units, total), end = range_begin(u + 1, units, total);
    CHECK(end >= begin);
    bool first_segment = true;
    for (int64_t it = begin; it < end;) {
      const int64_t tile = it / k_iters, tile_first = tile * k_iters, tile_end = tile_first + k_iters;
      const int64_t stop = end < tile_end ? end : tile_end;
      for (int64_t i = it; i < stop; ++i) ++covered[static_cast<size_t>(i)];
      if (it != tile_first) {
        // A later part: the kernel stores it before anything else, so it must be this range's first segment.
        CHECK(first_segment);
        ++partials_stored[static_cast<size_t>(u)];
      } else {
        ++finishers[static_cast<size_t>(tile)];
        int64_t parts = stop - it;
        const int others = later_parts(u, units, total, tile_end);
        for (int j = 1; j <= others; ++j) {
          const int v = u + j;
          const int64_t vb = range_begin(v, units, total), ve = range_begin(v + 1, units, total);
          CHECK(vb > tile_first && vb < tile_end); // begins inside the tile, past its first iteration
          parts += (ve < tile_end ? ve : tile_end) - vb;
          ++partials_added[static_cast<size_t>(v)];
        }
        tile_covered[static_cast<size_t>(tile)] = parts;
      }
      first_segment = false;
      it = stop;
    }
  }
  for (int64_t i = 0; i < total; ++i) CHECK_EQ(covered[static_cast<size_t>(i)], 1);
  for (int64_t t = 0; t < tiles; ++t) {
    CHECK_EQ(finishers[static_cast<size_t>(t)], 1);
    CHECK_EQ(tile_covered[static_cast<size_t>(t)], k_iters);
  }
  for (int u = 0; u < units; ++u) {
    CHECK(partials_stored[static_cast<size_t>(u)] <= 1); // one workspace slot a unit
    CHECK_EQ(partials_stored[static_cast<size_t>(u)], partials_added[static_cast<size_t>(u)]);
  }
}

} // namespace

int main() {
  struct Shape { int64_t tiles, k_iters; };
  // Llama-3-8B's qkv, o_proj, gate_up, down in 128-row tiles of 64-wide iterations, and in 256-row tiles (clusters
  // of two); then small shapes: one tile, one iteration, fewer iterations than units.
  const Shape shapes[] = {{48, 64}, {32, 64}, {224, 64}, {32, 224}, {24, 64}, {16, 64}, {112, 64}, {16, 224},
                          {1, 1},   {1, 64},  {3, 16},   {5, 10},   {7, 1},   {2, 3}};
  int walks = 0;
  for (const Shape& s : shapes)
    for (int units : {1, 2, 3, 7, 40, 64, 66, 131, 132, 264}) {
      if (units > s.tiles * s.k_iters) continue; // the host never launches more units than iterations
      walk(s.tiles, s.k_iters, units);
      ++walks;
    }
  // later_parts at the edges: the last unit adds none, a unit whose tile ends inside its own range adds none.
  CHECK_EQ(later_parts(131, 132, 32 * 64, 64), 0);
  CHECK_EQ(later_parts(0, 1, 64, 64), 0);
  CHECK_EQ(later_parts(0, 4, 64, 64), 3); // one tile over four units: the first adds the other three
  std::printf("decode_gemm_plan_test: %d schedules walked, %d failures\n", walks, check_failures());
  return check_failures() != 0;
}
