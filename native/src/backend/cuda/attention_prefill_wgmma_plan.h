// Index math of the Hopper (wgmma) prefill attention kernel as plain functions, shared by the kernel
// (attention_prefill_wgmma.cu) and a CPU test that checks them without a GPU: which CTA a tile
// list entry starts, the rows, keys and key tiles a CTA and each consumer warpgroup cover, the
// causal mask, the 128-byte-swizzled shared-memory layout the producer writes, the wgmma shared-
// memory descriptors that read it back, and which accumulator element a thread holds.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define PAGODA_WGMMA_HD __host__ __device__ __forceinline__
#else
#define PAGODA_WGMMA_HD inline
#endif

namespace pagoda::cuda::wgmma_prefill {

constexpr int kTileRows = 64;  // the planner's PrefillTile rows (kPrefillTileRows), unchanged
constexpr int kCtaRows = 128;  // query rows of one CTA: two consumer warpgroups of 64
constexpr int kWgRows = 64;    // rows of one consumer warpgroup (one wgmma m64)
constexpr int kKeys = 128;     // keys per K/V tile (the n of S = Q K^T, the k extent of P V)
// ... up to head_dim 128; head_dim 256 takes tiles of 64 keys: its O accumulator is 128 registers a
// thread, and two stages of 128-key K/V tiles would not fit beside its Q in shared memory.
PAGODA_WGMMA_HD constexpr int keys_per_tile(int head_dim) { return head_dim > 128 ? 64 : kKeys; }
constexpr int kAtomBytes = 1024; // one 128B-swizzle atom: 8 rows of 128 bytes
constexpr int kRowBytes = 128;   // one swizzled row: 64 bf16

// The kernel takes the planner's list of 64-row tiles unchanged: the entry whose row is a multiple
// of 128 starts a CTA that covers it and the next 64 rows (the list holds every 64-row tile of a
// sequence, as every planner writes it); the other entries' CTAs return at once.
PAGODA_WGMMA_HD bool tile_starts_cta(int tile_row) { return tile_row % kCtaRows == 0; }

// What one CTA covers: query rows [row0, row0 + rows) of a sequence of query_len new tokens after
// context_len - query_len cached ones; keys [0, kv_end) in num_key_tiles tiles of `keys`.
struct CtaWork {
  int row0;
  int rows;
  int first_pos; // absolute position of query row 0
  int kv_end;    // one past the last key any row of the CTA sees
  int keys;      // keys per tile
  int num_key_tiles;
};
PAGODA_WGMMA_HD CtaWork cta_work(int tile_row, int query_len, int context_len, int keys = kKeys) {
  CtaWork w;
  w.row0 = tile_row;
  w.rows = query_len - tile_row < kCtaRows ? query_len - tile_row : kCtaRows;
  w.first_pos = context_len - query_len;
  w.kv_end = w.first_pos + w.row0 + w.rows;
  w.keys = keys;
  w.num_key_tiles = (w.kv_end + keys - 1) / keys;
  return w;
}

// The absolute position a query row (within the sequence) attends from. Rows past the sequence
// (the CTA's last tile may be short) behave as its last row: their max stays finite, never stored.
PAGODA_WGMMA_HD int row_position(const CtaWork& w, int row, int query_len) {
  return w.first_pos + (row < query_len - 1 ? row : query_len - 1);
}

// Causal by absolute position: key index k is visible from position pos iff k <= pos. Keys past
// kv_end are never visible (every row's pos < kv_end), so the zero-filled tail needs no mask of its own.
PAGODA_WGMMA_HD bool key_visible(int key, int pos) { return key <= pos; }

// Consumer warpgroup c (0, 1) of a CTA: its rows start at row0 + 64 c; it has work only when that
// row exists, and a key tile only when the tile's first key is visible from its last row.
PAGODA_WGMMA_HD bool wg_active(const CtaWork& w, int c, int query_len) { return w.row0 + c * kWgRows < query_len; }
PAGODA_WGMMA_HD int wg_first_pos(const CtaWork& w, int c, int query_len) {
  return row_position(w, w.row0 + c * kWgRows, query_len);
}
PAGODA_WGMMA_HD int wg_last_pos(const CtaWork& w, int c, int query_len) {
  return row_position(w, w.row0 + c * kWgRows + kWgRows - 1, query_len);
}
PAGODA_WGMMA_HD bool wg_needs_tile(const CtaWork& w, int c, int query_len, int tile) {
  return tile * w.keys <= wg_last_pos(w, c, query_len);
}
// Only tiles reaching past the warpgroup's first row position need the mask (the diagonal ones).
PAGODA_WGMMA_HD bool tile_needs_mask(const CtaWork& w, int c, int query_len, int tile) {
  return tile * w.keys + w.keys - 1 > wg_first_pos(w, c, query_len);
}

// Element offset of row `key` (dims from 0) of KV head kv_head in a layer's paged cache
// [num_blocks, num_kv_heads, block_size, D], block taken from the sequence's block table.
PAGODA_WGMMA_HD int64_t kv_row_offset(const int32_t* block_table, int key, int kv_head, int num_kv_heads,
                                      int block_size, int D) {
  return ((static_cast<int64_t>(block_table[key / block_size]) * num_kv_heads + kv_head) * block_size +
          key % block_size) * D;
}

// Shared-memory tile layout of `rows` rows of `dim` bf16 (Q: 64 rows per warpgroup, K and V: keys
// per tile), as wgmma's 128-byte swizzle expects it: the row's 16-byte chunks in groups of 8 (64
// elements, one "atom column"); atom column a of every row first, rows at 128 bytes, so 8 rows make
// one 1024-byte atom; the 16-byte chunk j of row r within its 128 bytes sits at chunk j ^ (r % 8).
// The tile must start 1024-aligned: the hardware applies the XOR to address bits [4,7) from [7,10).
PAGODA_WGMMA_HD uint32_t swizzled_offset(int rows, int row, int chunk) {
  const int atom_col = chunk >> 3, j = chunk & 7;
  return static_cast<uint32_t>(atom_col * rows * kRowBytes + row * kRowBytes + ((j ^ (row & 7)) << 4));
}

// wgmma shared-memory matrix descriptor (sm_90): start address >> 4 in bits 0-13, leading byte
// offset >> 4 in 16-29, stride byte offset >> 4 in 32-45, base offset 0 (atoms 1024-aligned) in
// 49-51, layout 1 = 128-byte swizzle in 62-63.
PAGODA_WGMMA_HD uint64_t sw128_descriptor(uint32_t smem_addr, uint32_t lbo_bytes, uint32_t sbo_bytes) {
  return static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4) |
         (static_cast<uint64_t>((lbo_bytes >> 4) & 0x3FFF) << 16) |
         (static_cast<uint64_t>((sbo_bytes >> 4) & 0x3FFF) << 32) | (uint64_t{1} << 62);
}

// K-major operand (Q as A, K as B) of one wgmma k16 step: rows of the tile are M (or N), its
// dims are K. Step kk covers dims [16 kk, 16 kk + 16): atom column kk / 4, 32 bytes kk % 4 into
// the row (the swizzle of absolute address bits makes the offset land on the right chunks). SBO =
// 1024 (the next 8 rows); LBO is unused for swizzled K-major layouts and set to 16 bytes.
PAGODA_WGMMA_HD uint64_t k_major_descriptor(uint32_t tile_addr, int rows, int kk) {
  return sw128_descriptor(tile_addr + static_cast<uint32_t>((kk >> 2) * rows * kRowBytes + (kk & 3) * 32), 16,
                          kAtomBytes);
}
// N-major B operand (V: rows are keys = K, dims are N) of one wgmma k16 step over keys
// [16 kk, 16 kk + 16): two 8-key groups 1024 bytes apart (SBO), 64-dim atom columns kv_rows x 128
// bytes apart (LBO).
PAGODA_WGMMA_HD uint64_t n_major_descriptor(uint32_t tile_addr, int kv_rows, int kk) {
  return sw128_descriptor(tile_addr + static_cast<uint32_t>(kk * 2 * kAtomBytes), static_cast<uint32_t>(kv_rows * kRowBytes),
                          kAtomBytes);
}

// --- the producer on the bulk copy engine (TMA schedules) -----------------------------------------
// A K (or V) tile of `keys` keys is filled by cp.async.bulk.tensor boxes of a 4-d tensor map over the
// layer's cache [num_blocks, num_kv_heads, block_size, D] (dims innermost first: D, block_size,
// kv heads, blocks): a box is box_rows consecutive keys of one KV block x 64 dims, i.e. 128 bytes a
// row, the 128-byte swizzle's span. The engine's 128B swizzle is applied to the destination address
// bits like wgmma's, so a box starting at tile row r (a multiple of 8, so 1024-aligned) of atom
// column a lands exactly where swizzled_offset(keys, r .., 8 a ..) puts it. Needs block_size a
// multiple of 8 that divides the tile or is divided by it (a box never straddles a block or a tile).
// The producer holds a tile's block ids in registers, at most kTmaMaxGroups of them (block size 16 and up
// at 128 keys a tile); smaller blocks take the cp.async producer.
constexpr int kTmaMaxGroups = 8;
PAGODA_WGMMA_HD bool tma_layout_fits(int block_size, int keys) {
  return block_size > 0 && block_size % 8 == 0 && (keys % block_size == 0 || block_size % keys == 0) &&
         keys <= kTmaMaxGroups * block_size;
}
PAGODA_WGMMA_HD int tma_box_rows(int block_size, int keys) { return block_size < keys ? block_size : keys; }
constexpr int kTmaBoxDims = 64; // 128 bytes of bf16
// Boxes of one tensor (K or V) per tile: row groups x atom columns.
PAGODA_WGMMA_HD int tma_boxes_per_tile(int D, int block_size, int keys) {
  return (keys / tma_box_rows(block_size, keys)) * (D / kTmaBoxDims);
}
// Bytes one full tile's K and V boxes deliver: the stage's mbarrier expects exactly this (expect_tx).
PAGODA_WGMMA_HD uint32_t tma_tile_bytes(int D, int keys) { return 2u * static_cast<uint32_t>(keys) * D * 2u; }
// Box `box` of tile `tile`: tensor-map coordinates (dim, row in block, kv head, physical block) and
// the byte offset in the tile where it lands. Boxes go row group by row group, atom columns inside.
struct TmaBox {
  int32_t coord[4];
  uint32_t smem_offset;
};
// Where tile `tile`'s row groups sit: group g (tma_box_rows keys) is block-table entry first_entry + g, from
// row row0 of its block on (row0 > 0 only where a block holds several tiles, and then there is one group). The
// producer reads a tile's block ids together from this, one load latency a tile rather than one a box.
struct TmaTileRows {
  int first_entry, row0;
};
PAGODA_WGMMA_HD TmaTileRows tma_tile_rows(int tile, int keys, int block_size) {
  const int key0 = tile * keys, entry = key0 / block_size;
  return {entry, key0 - entry * block_size};
}
// Box (group, atom column) of a tile whose group sits in physical block `block` from row `row0` on.
PAGODA_WGMMA_HD TmaBox tma_group_box(int group, int atom_col, int32_t block, int row0, int keys, int rows, int kv_head) {
  TmaBox b;
  b.coord[0] = atom_col * kTmaBoxDims;
  b.coord[1] = row0;
  b.coord[2] = kv_head;
  b.coord[3] = block;
  b.smem_offset = static_cast<uint32_t>(atom_col * keys * kRowBytes + group * rows * kRowBytes);
  return b;
}
PAGODA_WGMMA_HD TmaBox tma_box(const int32_t* block_table, int tile, int box, int D, int keys, int block_size,
                               int kv_head) {
  const int cols = D / kTmaBoxDims, rows = tma_box_rows(block_size, keys);
  const int group = box / cols;
  const TmaTileRows tr = tma_tile_rows(tile, keys, block_size);
  return tma_group_box(group, box % cols, block_table[tr.first_entry + group], tr.row0, keys, rows, kv_head);
}
// Tiles the boxes fill: those wholly before kv_end. A tile reaching past it (only ever the CTA's
// last) is copied by the producer's threads with cp.async and zero-filled past kv_end, because a
// box would read the block's stale rows (possibly NaN, and 0 * NaN in P V is NaN).
PAGODA_WGMMA_HD int tma_full_tiles(const CtaWork& w) { return w.kv_end / w.keys; }

// The f32 accumulator of a wgmma m64nN (S or O): register i of thread `lane` in warp `warp` (of its
// warpgroup) holds row 16 warp + lane / 4 (+ 8 when bit 1 of i is set), column 8 (i / 4) +
// 2 (lane % 4) + (i % 2). The A-from-registers fragment of a k16 step uses the same rows, with
// register j holding the bf16 pair at columns 2 (lane % 4) + 8 (j / 2) (+ 1) of row + 8 (j % 2):
// so the score accumulators 8 kk .. 8 kk + 7 packed in pairs are P's A fragment for keys 16 kk ..
PAGODA_WGMMA_HD int acc_row(int warp, int lane, int i) { return 16 * warp + (lane >> 2) + ((i >> 1) & 1) * 8; }
PAGODA_WGMMA_HD int acc_col(int lane, int i) { return 8 * (i >> 2) + 2 * (lane & 3) + (i & 1); }
PAGODA_WGMMA_HD int a_frag_row(int warp, int lane, int j) { return 16 * warp + (lane >> 2) + (j & 1) * 8; }
PAGODA_WGMMA_HD int a_frag_col(int lane, int j, int half) { return 2 * (lane & 3) + 8 * (j >> 1) + half; }
// Register pair of the score accumulator that becomes register j of P's A fragment for step kk:
// S registers (8 kk + 4 (j / 2) + 2 (j % 2)) and the next one.
PAGODA_WGMMA_HD int p_source_register(int kk, int j) { return 8 * kk + 4 * (j >> 1) + 2 * (j & 1); }

} // namespace pagoda::cuda::wgmma_prefill
