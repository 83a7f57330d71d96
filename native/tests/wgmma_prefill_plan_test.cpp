// CPU checks of the Hopper prefill kernel's index math (attention_prefill_wgmma_plan.h), no GPU
// needed: the producer's swizzled writes against the shared-memory addresses wgmma reads through
// each descriptor (decoded from the PTX ISA's canonical 128-byte-swizzle layouts, K-major and
// N-major), the TMA producer's boxes (tensor-map coordinates, the copy engine's swizzled placement
// and the expect_tx byte count) against the same layout, the CTA / warpgroup / key-tile coverage and
// the causal mask against brute force, and an emulation of the whole kernel in both consumer orders
// (simple; P V one tile late over every tile, as overlap and pingpong run it: smem images, per-thread
// accumulator registers, quad reductions, P re-packed as the A fragment) against a float64
// attention, which must fail with a mask one key off and with a wrong P fragment mapping.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "backend/cuda/attention_prefill_wgmma_plan.h"
#include "check.h"

using namespace pagoda::cuda::wgmma_prefill;

namespace {

// --- descriptors decoded as the PTX ISA defines them (written from the spec, not from the plan) ---
struct Desc {
  uint32_t start, lbo, sbo, layout;
};
Desc decode(uint64_t d) {
  return {static_cast<uint32_t>(d & 0x3FFF) << 4, static_cast<uint32_t>((d >> 16) & 0x3FFF) << 4,
          static_cast<uint32_t>((d >> 32) & 0x3FFF) << 4, static_cast<uint32_t>(d >> 62)};
}
// 128-byte swizzle: address bits [4,7) XOR bits [7,10).
uint32_t swizzle128(uint32_t a) { return a ^ (((a >> 7) & 7) << 4); }
// K-major canonical SW128 layout, bf16: element (row m, k) of a k16 slice, m in [0, M), k in [0, 16):
// 8-row groups SBO apart, rows 128 bytes apart within a group, k contiguous.
uint32_t k_major_address(uint64_t desc, int m, int k) {
  const Desc d = decode(desc);
  return swizzle128(d.start + (m / 8) * d.sbo + (m % 8) * 128 + k * 2);
}
// MN-major canonical SW128 layout, bf16: element (k, n), k in [0, 16): n contiguous in 64-element
// atoms LBO apart, k rows 128 bytes apart in groups of 8 SBO apart.
uint32_t mn_major_address(uint64_t desc, int k, int n) {
  const Desc d = decode(desc);
  return swizzle128(d.start + (n / 64) * d.lbo + (k / 8) * d.sbo + (k % 8) * 128 + (n % 64) * 2);
}

// Where the kernel's producer (and Q loader) put element (row, e) of a tile starting at `base`.
uint32_t written_address(uint32_t base, int rows, int row, int e) {
  return base + swizzled_offset(rows, row, e / 8) + (e % 8) * 2;
}

void check_descriptor_bits() {
  CHECK_EQ(sw128_descriptor(0x12400, 16, 1024), uint64_t{0x4000004000011240});
  const Desc d = decode(k_major_descriptor(0x8000, kKeys, 5)); // atom column 1, 32 bytes in
  CHECK_EQ(d.start, uint32_t{0x8000 + kKeys * 128 + 32});
  CHECK_EQ(d.sbo, uint32_t{1024});
  CHECK_EQ(d.layout, uint32_t{1});
  const Desc v = decode(n_major_descriptor(0x8000, kKeys, 3));
  CHECK_EQ(v.start, uint32_t{0x8000 + 3 * 2048});
  CHECK_EQ(v.lbo, uint32_t{kKeys * 128});
  CHECK_EQ(v.sbo, uint32_t{1024});
}

// Every element wgmma reads for a k16 step is the one the producer wrote there, for Q (A, K-major,
// 64 rows), K (B, K-major, `keys` rows) and V (B, N-major); the writes never collide. `writer` lets
// the test show that a layout without the swizzle is caught.
template <typename Writer> int descriptor_mismatches(int D, int keys, uint32_t base, Writer writer) {
  int bad = 0;
  std::set<uint32_t> seen;
  for (int r = 0; r < keys; ++r)
    for (int e = 0; e < D; ++e)
      if (!seen.insert(writer(base, keys, r, e)).second) ++bad;
  for (int kk = 0; kk < D / 16; ++kk)
    for (int k = 0; k < 16; ++k) {
      for (int m = 0; m < kWgRows; ++m)
        bad += k_major_address(k_major_descriptor(base, kWgRows, kk), m, k) != writer(base, kWgRows, m, 16 * kk + k);
      for (int n = 0; n < keys; ++n)
        bad += k_major_address(k_major_descriptor(base, keys, kk), n, k) != writer(base, keys, n, 16 * kk + k);
    }
  for (int kk = 0; kk < keys / 16; ++kk)
    for (int k = 0; k < 16; ++k)
      for (int n = 0; n < D; ++n)
        bad += mn_major_address(n_major_descriptor(base, keys, kk), k, n) != writer(base, keys, 16 * kk + k, n);
  return bad;
}

void check_descriptors() {
  for (int D : {64, 128, 256}) {
    const int keys = keys_per_tile(D);
    for (uint32_t base : {0x0u, 0x400u, 0x8000u, 0x2C400u})
      CHECK_EQ(descriptor_mismatches(D, keys, base, written_address), 0);
    // Plain row-major (no swizzle): wgmma would read other elements, and the check says so.
    const int unswizzled = descriptor_mismatches(D, keys, 0x8000, [&](uint32_t base, int, int row, int e) {
      return base + static_cast<uint32_t>(row * D * 2 + e * 2);
    });
    CHECK(unswizzled > 0);
  }
}

// --- the TMA producer's boxes --------------------------------------------------------------------
// The copy engine's 128B-swizzled box write, from the CUDA driver's description of the mode (not from
// the plan): box row i (128 bytes, 64 bf16) goes to dst + 128 i, its 16-byte chunks XORed by the
// destination address bits [7,10), as wgmma reads them. A tile of every (block size, head_dim) the
// schedule takes is filled box by box from a paged cache with a shuffled block table; every element
// must sit where swizzled_offset (the cp.async producer, checked against the descriptors above) puts
// it, every byte once, and the bytes must add up to the mbarrier's expect_tx count.
int tma_tile_mismatches(int D, int bs, uint32_t tile_base, std::mt19937& rng) {
  const int keys = keys_per_tile(D), kv_heads = 3, blocks = 4 * keys / bs + 7;
  std::vector<int32_t> table(blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  // Element (block, head, row, dim) of the cache, as a number that names it.
  auto element = [&](int64_t blk, int h, int row, int d) { return ((blk * kv_heads + h) * bs + row) * D + d; };
  int bad = 0;
  for (int t = 0; t < 3; ++t)
    for (int h = 0; h < kv_heads; ++h) {
      std::vector<int64_t> image(tile_base / 2 + keys * D, -1);
      const int boxes = tma_boxes_per_tile(D, bs, keys), rows = tma_box_rows(bs, keys);
      uint32_t bytes = 0;
      for (int b = 0; b < boxes; ++b) {
        const TmaBox box = tma_box(table.data(), t, b, D, keys, bs, h);
        bad += box.coord[2] != h || box.coord[0] % kTmaBoxDims != 0 || box.coord[0] + kTmaBoxDims > D ||
               box.coord[1] + rows > bs || box.coord[3] < 0 || box.coord[3] >= blocks;
        for (int i = 0; i < rows; ++i)
          for (int e = 0; e < kTmaBoxDims; ++e) {
            const uint32_t addr = swizzle128(tile_base + box.smem_offset + 128 * i + 2 * e);
            int64_t& cell = image[addr / 2];
            bad += cell != -1; // written twice
            cell = element(box.coord[3], box.coord[2], box.coord[1] + i, box.coord[0] + e);
          }
        bytes += 2 * rows * kTmaBoxDims * 2; // K and V
      }
      bad += bytes != tma_tile_bytes(D, keys);
      for (int r = 0; r < keys; ++r) {
        const int key = t * keys + r;
        for (int e = 0; e < D; ++e)
          bad += image[written_address(tile_base, keys, r, e) / 2] != element(table[key / bs], h, key % bs, e);
      }
    }
  return bad;
}

void check_tma_boxes(std::mt19937& rng) {
  for (int D : {64, 128, 256}) {
    const int keys = keys_per_tile(D);
    for (int bs : {8, 16, 32, 64, 128, 256}) {
      // The producer holds a tile's block ids in kTmaMaxGroups registers: every layout it takes has at most that
      // many row groups a tile, and the smallest blocks (8 at 128 keys) go to the cp.async producer.
      if (tma_layout_fits(bs, keys)) CHECK(keys / tma_box_rows(bs, keys) <= kTmaMaxGroups);
      CHECK_EQ(tma_layout_fits(bs, keys), bs >= 16 || keys <= 64);
      // The box math itself holds at every block size (the kernel uses it only where the layout fits).
      CHECK_EQ(tma_boxes_per_tile(D, bs, keys) * tma_box_rows(bs, keys) * kTmaBoxDims, keys * D);
      for (uint32_t base : {0x0u, 0x8000u, 0x2C400u}) CHECK_EQ(tma_tile_mismatches(D, bs, base, rng), 0);
      // The swizzle follows absolute addresses: a tile that is not 1024-aligned reads back wrong.
      CHECK(tma_tile_mismatches(D, bs, 0x8200u, rng) > 0);
    }
    for (int bs : {1, 4, 12, 24, 48, 96}) CHECK(!tma_layout_fits(bs, keys)); // a box would straddle a block or a tile
  }
  // Only the CTA's last key tile may reach past kv_end; the boxes fill exactly the tiles before it.
  std::uniform_int_distribution<int> qlen_d(1, 700), extra_d(0, 600);
  for (int trial = 0; trial < 300; ++trial) {
    const int qlen = qlen_d(rng), ctx = qlen + extra_d(rng), keys = trial % 2 ? kKeys : keys_per_tile(256);
    for (int row = 0; row < qlen; row += kCtaRows) {
      const CtaWork w = cta_work(row, qlen, ctx, keys);
      const int full = tma_full_tiles(w);
      CHECK(full * keys <= w.kv_end && (full + 1) * keys > w.kv_end);
      CHECK(full == w.num_key_tiles || full == w.num_key_tiles - 1);
    }
  }
}

// --- coverage and the mask -----------------------------------------------------------------------
void check_coverage(std::mt19937& rng, int keys) {
  std::uniform_int_distribution<int> qlen_d(1, 700), extra_d(0, 600);
  for (int trial = 0; trial < 300; ++trial) {
    const int qlen = trial < 10 ? 64 * (trial + 1) : qlen_d(rng);
    const int ctx = qlen + (trial % 3 == 0 ? 0 : extra_d(rng));
    std::vector<int> covered(qlen, 0);
    for (int row = 0; row < qlen; row += kTileRows) { // the planner's tiles
      if (!tile_starts_cta(row)) continue;
      const CtaWork w = cta_work(row, qlen, ctx, keys);
      CHECK(w.rows >= 1 && w.rows <= kCtaRows);
      for (int r = w.row0; r < w.row0 + w.rows; ++r) ++covered[r];
      CHECK_EQ(w.kv_end, ctx - qlen + w.row0 + w.rows);
      CHECK(w.num_key_tiles * keys >= w.kv_end && (w.num_key_tiles - 1) * keys < w.kv_end);
      for (int c = 0; c < 2; ++c) {
        CHECK_EQ(wg_active(w, c, qlen), w.row0 + c * kWgRows < qlen);
        if (!wg_active(w, c, qlen)) continue;
        for (int t = 0; t < w.num_key_tiles; ++t) {
          bool any_visible = false, all_visible = true;
          for (int r = w.row0 + c * kWgRows; r < std::min(qlen, w.row0 + c * kWgRows + kWgRows); ++r) {
            const int pos = ctx - qlen + r;
            CHECK_EQ(row_position(w, r, qlen), pos);
            for (int key = t * keys; key < (t + 1) * keys; ++key) {
              const bool vis = key <= pos; // causal by absolute position
              CHECK_EQ(key_visible(key, pos), vis);
              any_visible |= vis;
              all_visible &= vis;
              if (vis) CHECK(key < w.kv_end);
            }
          }
          CHECK_EQ(wg_needs_tile(w, c, qlen, t), any_visible);
          if (!tile_needs_mask(w, c, qlen, t)) CHECK(all_visible); // skipping the mask is safe
        }
      }
    }
    for (int r = 0; r < qlen; ++r) CHECK_EQ(covered[r], 1);
  }
}

// Fragment maps: the accumulator and A-fragment maps cover a 64 x n tile exactly once per warpgroup,
// and P's source registers are the accumulators at the same (row, column).
void check_fragments() {
  std::vector<int> acc(64 * kKeys, 0), a(64 * 16, 0);
  for (int warp = 0; warp < 4; ++warp)
    for (int lane = 0; lane < 32; ++lane) {
      for (int i = 0; i < kKeys / 2; ++i) ++acc[acc_row(warp, lane, i) * kKeys + acc_col(lane, i)];
      for (int j = 0; j < 4; ++j)
        for (int h = 0; h < 2; ++h) {
          ++a[a_frag_row(warp, lane, j) * 16 + a_frag_col(lane, j, h)];
          for (int kk = 0; kk < kKeys / 16; ++kk) {
            const int src = p_source_register(kk, j) + h;
            CHECK_EQ(acc_row(warp, lane, src), a_frag_row(warp, lane, j));
            CHECK_EQ(acc_col(lane, src), 16 * kk + a_frag_col(lane, j, h));
          }
        }
    }
  CHECK(std::all_of(acc.begin(), acc.end(), [](int n) { return n == 1; }));
  CHECK(std::all_of(a.begin(), a.end(), [](int n) { return n == 1; }));
}

// --- an emulation of the kernel ------------------------------------------------------------------
float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  u &= 0xFFFF0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

struct Batch {
  int q_heads, kv_heads, D, bs;
  std::vector<int> qlen, ctx, query_start;
  std::vector<float> q;                  // [tokens, q_heads, D]
  std::vector<float> k_cache, v_cache;   // [blocks, kv_heads, bs, D]
  std::vector<int32_t> tables;           // [seqs, max_blocks]
  int max_blocks = 0;
};

Batch make_batch(std::mt19937& rng, int q_heads, int kv_heads, int D, int bs, std::vector<std::pair<int, int>> seqs) {
  Batch b{q_heads, kv_heads, D, bs, {}, {}, {0}, {}, {}, {}, {}, 0};
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  int blocks = 3;
  for (auto [q, c] : seqs) {
    b.qlen.push_back(q);
    b.ctx.push_back(c);
    b.query_start.push_back(b.query_start.back() + q);
    b.max_blocks = std::max(b.max_blocks, (c + bs - 1) / bs);
    blocks += (c + bs - 1) / bs;
  }
  std::vector<int32_t> order(blocks);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  b.tables.assign(seqs.size() * b.max_blocks, -1);
  size_t next = 0;
  for (size_t s = 0; s < seqs.size(); ++s)
    for (int i = 0; i < (b.ctx[s] + bs - 1) / bs; ++i) b.tables[s * b.max_blocks + i] = order[next++];
  b.q.resize(size_t(b.query_start.back()) * q_heads * D);
  for (float& x : b.q) x = round_bf16(3.f * u(rng));
  b.k_cache.resize(size_t(blocks) * kv_heads * bs * D);
  b.v_cache.resize(b.k_cache.size());
  for (float& x : b.k_cache) x = round_bf16(u(rng));
  for (float& x : b.v_cache) x = round_bf16(u(rng));
  return b;
}

std::vector<double> reference(const Batch& b) {
  const int D = b.D, group = b.q_heads / b.kv_heads;
  std::vector<double> out(b.q.size());
  const double scale = 1.0 / std::sqrt(double(D));
  for (size_t s = 0; s < b.qlen.size(); ++s)
    for (int i = 0; i < b.qlen[s]; ++i)
      for (int h = 0; h < b.q_heads; ++h) {
        const int pos = b.ctx[s] - b.qlen[s] + i;
        const float* q = &b.q[(size_t(b.query_start[s] + i) * b.q_heads + h) * D];
        std::vector<double> w(pos + 1);
        double mx = -1e300, sum = 0;
        for (int key = 0; key <= pos; ++key) {
          const float* k = &b.k_cache[kv_row_offset(&b.tables[s * b.max_blocks], key, h / group, b.kv_heads, b.bs, D)];
          double dot = 0;
          for (int e = 0; e < D; ++e) dot += double(q[e]) * k[e];
          w[key] = dot * scale;
          mx = std::max(mx, w[key]);
        }
        for (double& x : w) sum += (x = std::exp(x - mx));
        double* o = &out[(size_t(b.query_start[s] + i) * b.q_heads + h) * D];
        for (int key = 0; key <= pos; ++key) {
          const float* v = &b.v_cache[kv_row_offset(&b.tables[s * b.max_blocks], key, h / group, b.kv_heads, b.bs, D)];
          for (int e = 0; e < D; ++e) o[e] += w[key] / sum * v[e];
        }
      }
  return out;
}

// Deliberate faults, to show the comparison catches them; and which consumer schedule to follow.
struct Faults {
  int mask_shift = 0;        // key visible iff key <= pos + mask_shift
  bool swap_p_pairs = false; // P's A-fragment registers 1 and 2 exchanged
  bool overlap = false;      // the overlapped schedule: every tile for an active warpgroup, P V one tile late
  // 1: the lazy rescale (a warp skips O's rescale when none of its 64 rows' alphas moved off 1);
  // 2: a wrong vote (lane 0's two rows only), to show a skipped rescale that was needed is caught.
  int lazy = 0;
  long* warp_tiles = nullptr; // counts warp-tiles and the skipped rescales among them, when given
  long* skipped = nullptr;
};

// The kernel's computation for every CTA and head, thread by thread: K/V/Q written into a byte image
// of shared memory at the producer's swizzled addresses, read back through the wgmma descriptors.
std::vector<float> emulate(const Batch& b, const Faults& f) {
  const int D = b.D, group = b.q_heads / b.kv_heads, keys = keys_per_tile(D);
  const float scale_log2 = float(1.0 / std::sqrt(double(D))) * 1.4426950408889634f;
  std::vector<float> out(b.q.size(), std::nanf(""));
  // Image: two Q tiles, two K/V stages (the overlapped schedule reads V of the tile before).
  const uint32_t q_base = 0x400, k_base0 = q_base + 2 * kWgRows * D * 2, v_base0 = k_base0 + 2 * keys * D * 2;
  auto k_base_of = [&](int t) { return k_base0 + (t % 2) * keys * D * 2; };
  auto v_base_of = [&](int t) { return v_base0 + (t % 2) * keys * D * 2; };
  std::vector<float> smem((v_base0 + 2 * keys * D * 2) / 2);
  auto at = [&](uint32_t addr) -> float& { return smem[addr / 2]; };
  for (size_t s = 0; s < b.qlen.size(); ++s) {
    const int qlen = b.qlen[s];
    const int32_t* table = &b.tables[s * b.max_blocks];
    for (int tile_row = 0; tile_row < qlen; tile_row += kTileRows) {
      if (!tile_starts_cta(tile_row)) continue;
      const CtaWork w = cta_work(tile_row, qlen, b.ctx[s], keys);
      for (int head = 0; head < b.q_heads; ++head) {
        const int kvh = head / group;
        for (int c = 0; c < 2; ++c)
          for (int r = 0; r < kWgRows; ++r)
            for (int e = 0; e < D; ++e) {
              const int row = w.row0 + c * kWgRows + r;
              at(written_address(q_base + c * kWgRows * D * 2, kWgRows, r, e)) =
                  row < qlen ? b.q[(size_t(b.query_start[s] + row) * b.q_heads + head) * D + e] : 0.f;
            }
        // Per consumer thread state: o[128 threads][D / 2], m and l per (thread, lo / hi).
        std::vector<std::vector<float>> o(2, std::vector<float>(128 * D / 2, 0.f));
        std::vector<std::vector<float>> m(2, std::vector<float>(256, -INFINITY)), l(2, std::vector<float>(256, 0.f));
        std::vector<std::vector<float>> pv_prev(2); // overlapped schedule: P of the tile before, per warpgroup
        // O += P V of tile t for warpgroup c, P's A matrix assembled from every thread's fragment registers.
        auto apply_pv = [&](int c, const std::vector<float>& pv, int t) {
          for (int kk = 0; kk < keys / 16; ++kk) {
            std::vector<float> a(64 * 16);
            for (int th = 0; th < 128; ++th)
              for (int j = 0; j < 4; ++j) {
                const int jj = f.swap_p_pairs && (j == 1 || j == 2) ? 3 - j : j;
                for (int h = 0; h < 2; ++h)
                  a[a_frag_row(th / 32, th % 32, j) * 16 + a_frag_col(th % 32, j, h)] =
                      pv[th * keys / 2 + p_source_register(kk, jj) + h];
              }
            for (int th = 0; th < 128; ++th)
              for (int i = 0; i < D / 2; ++i) {
                const int row = acc_row(th / 32, th % 32, i), col = acc_col(th % 32, i);
                float acc = 0.f;
                for (int k = 0; k < 16; ++k)
                  acc += a[row * 16 + k] * at(mn_major_address(n_major_descriptor(v_base_of(t), keys, kk), k, col));
                o[c][th * D / 2 + i] += acc;
              }
          }
        };
        for (int t = 0; t < w.num_key_tiles; ++t) {
          const uint32_t k_base = k_base_of(t), v_base = v_base_of(t);
          for (int r = 0; r < keys; ++r)
            for (int e = 0; e < D; ++e) {
              const int key = t * keys + r;
              const bool valid = key < w.kv_end;
              const int64_t off = kv_row_offset(table, valid ? key : 0, kvh, b.kv_heads, b.bs, D) + e;
              at(written_address(k_base, keys, r, e)) = valid ? b.k_cache[off] : 0.f;
              at(written_address(v_base, keys, r, e)) = valid ? b.v_cache[off] : 0.f;
            }
          for (int c = 0; c < 2; ++c) {
            // Overlapped: an active warpgroup runs every tile, an inactive one none.
            if (!wg_active(w, c, qlen) || (!f.overlap && !wg_needs_tile(w, c, qlen, t))) continue;
            const uint32_t q_tile = q_base + c * kWgRows * D * 2;
            std::vector<float> sreg(128 * keys / 2);
            for (int th = 0; th < 128; ++th)
              for (int i = 0; i < keys / 2; ++i) {
                const int row = acc_row(th / 32, th % 32, i), col = acc_col(th % 32, i);
                float acc = 0.f;
                for (int kk = 0; kk < D / 16; ++kk)
                  for (int k = 0; k < 16; ++k)
                    acc += at(k_major_address(k_major_descriptor(q_tile, kWgRows, kk), row, k)) *
                           at(k_major_address(k_major_descriptor(k_base, keys, kk), col, k));
                sreg[th * keys / 2 + i] = acc;
              }
            const bool mask = tile_needs_mask(w, c, qlen, t);
            // Per-thread maxima, then the quad's (the shuffles), per half (lo: rows g, hi: g + 8).
            std::vector<float> mx(256);
            for (int th = 0; th < 128; ++th) {
              const int lane = th % 32;
              const int row_lo = w.row0 + c * kWgRows + acc_row(th / 32, lane, 0);
              for (int hf = 0; hf < 2; ++hf) {
                const int pos = row_position(w, row_lo + 8 * hf, qlen);
                float v = m[c][th * 2 + hf];
                for (int i = 0; i < keys / 2; ++i) {
                  if (((i >> 1) & 1) != hf) continue;
                  float& x = sreg[th * keys / 2 + i];
                  if (mask && !key_visible(t * keys + acc_col(lane, i), pos + f.mask_shift)) x = -INFINITY;
                  v = std::max(v, x);
                }
                mx[th * 2 + hf] = v;
              }
            }
            std::vector<float> pv(128 * keys / 2), alphas(256);
            for (int th = 0; th < 128; ++th)
              for (int hf = 0; hf < 2; ++hf) {
                const int q0 = th & ~3;
                const float qmax = std::max(std::max(mx[(q0 + 0) * 2 + hf], mx[(q0 + 1) * 2 + hf]),
                                            std::max(mx[(q0 + 2) * 2 + hf], mx[(q0 + 3) * 2 + hf]));
                const float alpha = std::exp2((m[c][th * 2 + hf] - qmax) * scale_log2);
                float sum = 0.f;
                for (int i = 0; i < keys / 2; ++i) {
                  if (((i >> 1) & 1) != hf) continue;
                  const float e = round_bf16(std::exp2(sreg[th * keys / 2 + i] * scale_log2 - qmax * scale_log2));
                  pv[th * keys / 2 + i] = e;
                  sum += e;
                }
                l[c][th * 2 + hf] = l[c][th * 2 + hf] * alpha + sum;
                m[c][th * 2 + hf] = qmax;
                alphas[th * 2 + hf] = alpha;
              }
            // Simple: rescale, then O += P V of this tile. Overlapped: O += P V of the tile before
            // (still relative to the old max), then rescale; this tile's P waits for the next step.
            if (f.overlap && t > 0) apply_pv(c, pv_prev[c], t - 1);
            for (int wp = 0; wp < 4; ++wp) {
              bool moved = false;
              for (int th = 32 * wp; th < 32 * wp + (f.lazy == 2 ? 1 : 32); ++th)
                moved |= alphas[th * 2] != 1.f || alphas[th * 2 + 1] != 1.f;
              if (f.warp_tiles != nullptr) ++*f.warp_tiles;
              if (f.lazy != 0 && !moved) {
                if (f.skipped != nullptr) ++*f.skipped;
                continue;
              }
              for (int th = 32 * wp; th < 32 * wp + 32; ++th)
                for (int i = 0; i < D / 2; ++i) o[c][th * D / 2 + i] *= alphas[th * 2 + ((i >> 1) & 1)];
            }
            if (f.overlap) pv_prev[c] = pv;
            else apply_pv(c, pv, t);
          }
        }
        if (f.overlap)
          for (int c = 0; c < 2; ++c)
            if (wg_active(w, c, qlen)) apply_pv(c, pv_prev[c], w.num_key_tiles - 1);
        for (int c = 0; c < 2; ++c) {
          if (!wg_active(w, c, qlen)) continue;
          for (int th = 0; th < 128; ++th) {
            const int q0 = th & ~3;
            for (int i = 0; i < D / 2; ++i) {
              const int hf = (i >> 1) & 1;
              const float lsum = l[c][(q0 + 0) * 2 + hf] + l[c][(q0 + 1) * 2 + hf] + l[c][(q0 + 2) * 2 + hf] +
                                 l[c][(q0 + 3) * 2 + hf];
              const int row = w.row0 + c * kWgRows + acc_row(th / 32, th % 32, i);
              if (row < qlen)
                out[(size_t(b.query_start[s] + row) * b.q_heads + head) * D + acc_col(th % 32, i)] =
                    o[c][th * D / 2 + i] / lsum;
            }
          }
        }
      }
    }
  }
  return out;
}

double rel_l2(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY; // an unwritten (NaN) output fails
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

void check_emulation(std::mt19937& rng) {
  struct Case {
    int q_heads, kv_heads, D, bs;
    std::vector<std::pair<int, int>> seqs; // (query_len, context_len)
  };
  const std::vector<Case> cases = {
      {4, 1, 64, 16, {{200, 200}, {70, 300}, {1, 1}, {5, 133}}}, // GQA 4: fresh, chunked, one-token, short
      {2, 2, 128, 32, {{130, 130}, {64, 400}}},                  // head_dim 128, block size 32
      {8, 1, 64, 16, {{257, 600}}},                              // GQA 8, chunked, 3 CTAs, last one short
      {2, 1, 256, 16, {{150, 150}, {40, 170}}},                   // head_dim 256: tiles of 64 keys
  };
  for (const Case& cs : cases) {
    const Batch b = make_batch(rng, cs.q_heads, cs.kv_heads, cs.D, cs.bs, cs.seqs);
    const std::vector<double> ref = reference(b);
    const double ok = rel_l2(emulate(b, {}), ref);
    const double overlapped = rel_l2(emulate(b, {0, false, true}), ref);
    const double shifted = rel_l2(emulate(b, {1, false, false}), ref);
    const double shifted_overlapped = rel_l2(emulate(b, {1, false, true}), ref);
    const double swapped = rel_l2(emulate(b, {0, true, false}), ref);
    std::printf("emulation Hq %d Hkv %d D %d bs %d: rel L2 %.2e (overlapped %.2e); mask one key late %.2e "
                "(overlapped %.2e); P pairs swapped %.2e\n",
                cs.q_heads, cs.kv_heads, cs.D, cs.bs, ok, overlapped, shifted, shifted_overlapped, swapped);
    CHECK(ok < 4e-3); // bf16 P over f32 sums
    CHECK(overlapped < 4e-3);
    CHECK(shifted > 1.2e-2); // the device tests' limit would catch it
    CHECK(shifted_overlapped > 1.2e-2);
    CHECK(swapped > 1.2e-2);
    // The lazy rescale skips only multiplies by exactly 1: the same bits as the eager one, in both
    // consumer orders; a vote that skips a needed rescale is caught.
    long warp_tiles = 0, skipped = 0;
    const std::vector<float> eager = emulate(b, {}), eager_overlapped = emulate(b, {0, false, true});
    Faults lazy{0, false, false, 1, &warp_tiles, &skipped};
    const std::vector<float> lazy_out = emulate(b, lazy);
    lazy.overlap = true;
    const std::vector<float> lazy_overlapped = emulate(b, lazy);
    const double wrong_vote = rel_l2(emulate(b, {0, false, true, 2}), ref);
    std::printf("  lazy rescale: %ld of %ld warp-tiles skip it (random data; %d FMULs a thread each); wrong "
                "vote rel L2 %.2e\n",
                skipped, warp_tiles, cs.D / 2, wrong_vote);
    CHECK(std::memcmp(eager.data(), lazy_out.data(), eager.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(eager_overlapped.data(), lazy_overlapped.data(), eager.size() * sizeof(float)) == 0);
    CHECK(skipped > 0);
    CHECK(wrong_vote > 1.2e-2);
  }
}

// The pingpong turns on named barriers 3 and 4 (256 threads: one warpgroup's bar.sync and the other's
// bar.arrive complete a phase) in one CTA of n key tiles: warpgroup 1 hands the first turn over, each
// warpgroup takes n + 1 turns (sync on its own barrier, arrive on the other's), warpgroup 0 takes the
// last hand-over. Played out under random interleavings, no phase completes on one warpgroup's arrivals
// alone (which would let a turn pass unsynchronized) and both finish with no phase pending; without
// warpgroup 0's last wait a hand-over is left pending, which is caught.
bool turns_run(std::mt19937& rng, int n, bool last_wait) {
  // Ops per warpgroup: +b = arrive on b, -b = sync on b (b = 3, 4).
  std::vector<int> ops[2];
  ops[1].push_back(+3);
  for (int t = 0; t <= n; ++t) {
    ops[0].push_back(-3);
    ops[0].push_back(+4);
    ops[1].push_back(-4);
    ops[1].push_back(+3);
  }
  if (last_wait) ops[0].push_back(-3);
  size_t pc[2] = {0, 0};
  int arrived[5] = {0}, arrived_by[5] = {-1, -1, -1, -1, -1}, waiting[5] = {-1, -1, -1, -1, -1};
  std::uniform_int_distribution<int> pick(0, 1);
  for (int steps = 0; steps < 1000000; ++steps) {
    if (pc[0] == ops[0].size() && pc[1] == ops[1].size()) return arrived[3] == 0 && arrived[4] == 0;
    int w = pick(rng);
    auto runnable = [&](int g) { return pc[g] < ops[g].size() && waiting[3] != g && waiting[4] != g; };
    if (!runnable(w)) w = 1 - w;
    if (!runnable(w)) return false; // both blocked: deadlock
    const int op = ops[w][pc[w]++], bar = op > 0 ? op : -op;
    if (arrived[bar] == 1 && arrived_by[bar] == w) return false; // one warpgroup's 256 arrivals: a phase without the other
    if (++arrived[bar] == 2) {
      arrived[bar] = 0;
      if (waiting[bar] >= 0) waiting[bar] = -1;
    } else {
      arrived_by[bar] = w;
      if (op < 0) waiting[bar] = w;
    }
  }
  return false;
}

void check_turns(std::mt19937& rng) {
  std::uniform_int_distribution<int> tiles_d(1, 9);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = tiles_d(rng);
    CHECK(turns_run(rng, n, true));
    CHECK(!turns_run(rng, n, false));
  }
}

} // namespace

int main() {
  std::mt19937 rng(20);
  check_descriptor_bits();
  check_descriptors();
  check_coverage(rng, kKeys);
  check_coverage(rng, keys_per_tile(256));
  check_fragments();
  check_tma_boxes(rng);
  check_emulation(rng);
  check_turns(rng);
  return finish_checks("wgmma_prefill_plan_test");
}
