// Paged attention for decode (one new token per sequence) on tensor cores. A block handles one
// sequence, one KV head (one m-tile of up to 16 of its query heads) and one partition of the
// context; each of its 4 warps streams its own 16-key tiles of K and V into shared memory with
// cp.async and computes S = Q K^T and O += P V with mma.sync, the query heads being the M rows,
// with the online softmax in registers. The warps' partial results meet in shared memory;
// long contexts split into partitions are merged by a second kernel (which, for cascade attention,
// also merges the shared prefix's partials written in front of them: prefix_slots). With an e4m3 KV cache
// (kFp8) the stages hold the codes (half the bytes of bf16, one more stage in flight) and the mmas run
// in f16, which holds every e4m3 value and takes two codes in one cvt: K's codes go from ldmatrix
// straight into the B fragments (each lane gets 4 adjacent dims of a key, so Q's fragments take the
// same dims, a permutation of the dot product's terms), and V's are converted into an f16 tile for
// the transposed ldmatrix. Q enters f16 scaled by 2^-8 (exact from bf16 for |q| in [2^-6, 2^24)) and P
// is f16 (more bits than bf16 for values in [0, 1]).
// A plan for a batch whose blocks outnumber the SMs many times may ask for a shallow pipeline (two
// stages a warp: three blocks an SM at head_dim 128 instead of two, so one block's start and merge
// overlap two others' reads) and for its blocks to take the sequences head-fastest (with the ids
// ordered longest context first, the grid's last blocks are its shortest). Both keep every sum in
// its order: the output is the default launch's, bit for bit.
#include "backend/cuda/kernels.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/fp8_kv.cuh"
#include "backend/cuda/head_dims.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/vector_types.cuh"
#include "error.h"

namespace pagoda::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kTileKeys = 16;       // keys per mma tile (the N of S, the K of P V)
constexpr float kLog2e = 1.4426950408889634f;
constexpr int kQInSmemFrom = 192;   // head_dim from which Q's fragments live in shared memory

// Sizes that depend on head_dim. Stages are per warp; each holds one K and one V tile, so a
// block keeps (stages - 1) * 4 tiles in flight while it computes on 4 (96 KB of shared memory
// at head_dim 128, two blocks per SM). A bf16 tile row is kPitch elements: D where the row's
// 16-byte chunks come in whole groups of 8 (head_dim 64, 128, 192, 256: the chunk index is
// swizzled within its group), else D + 8 (one chunk of padding: an odd pitch in chunks puts
// the 8 rows an ldmatrix phase reads in 8 different bank groups).
template <int D, bool kFp8 = false, bool kShallow = false> struct DecodeSizes {
  static constexpr int kChunks = D / 8;               // 16-byte chunks in a bf16 row
  static constexpr bool kSwizzle = kChunks % 8 == 0;
  static constexpr int kPitch = kSwizzle ? D : D + 8; // bf16 elements per tile row in shared memory
  static constexpr int kCodeChunks = D / 16;          // 16-byte chunks in an e4m3 row
  // An e4m3 tile row is an odd number of chunks (one of padding where D / 16 is even), so the 8 rows an
  // ldmatrix phase reads fall in 8 different bank groups.
  static constexpr int kCodePitch = (kCodeChunks % 2 == 1 ? kCodeChunks : kCodeChunks + 1) * 16;
  static constexpr int kTileElems = kTileKeys * kPitch; // one bf16 K or V tile
  static constexpr int kCodeTileBytes = kTileKeys * kCodePitch; // one e4m3 K or V tile
  // As many stages (2..4) as fit about 110 KB for the block's bf16 tiles: 4 up to head_dim 96,
  // 3 at 112 and 128, 2 from 144 (fp8: one more, of codes). Shallow: 2 whatever the cache holds.
  static constexpr int kBf16SetBytes = kWarps * 2 * kTileElems * 2;
  static constexpr int kBf16Stages = 110 * 1024 / kBf16SetBytes;
  static constexpr int kStages =
      kShallow ? 2 : (kBf16Stages < 2 ? 2 : (kBf16Stages > 4 ? 4 : kBf16Stages)) + (kFp8 ? 1 : 0);
  static constexpr int kStageBytes = kFp8 ? 2 * kCodeTileBytes : 2 * kTileElems * 2;
  static constexpr int kConvertedBytes = kFp8 ? kTileElems * 2 : 0; // the warp's V tile in f16
  static constexpr int kWarpBytes = kStages * kStageBytes + kConvertedBytes;
  static constexpr int kPipeBytes = kWarps * kWarpBytes;
  static constexpr int kMergeStride = D + 8;          // floats per merge row: padding spreads banks
  __host__ __device__ static constexpr int merge_bytes(int rows) { return (kWarps * rows * kMergeStride + 2 * kWarps * rows) * 4; }
  // Large head_dims keep the Q fragments in shared memory: in registers beside the O
  // accumulators (128 at head_dim 256) they made ptxas spill.
  static constexpr bool kQInSmem = D >= kQInSmemFrom;
  __host__ __device__ static constexpr int q_bytes(int rows) { return kQInSmem ? (D / 16) * (rows / 4) * 32 * 4 : 0; }
  __host__ __device__ static constexpr int smem_bytes(int rows) {
    return (kPipeBytes > merge_bytes(rows) ? kPipeBytes : merge_bytes(rows)) + q_bytes(rows);
  }
};

// d = a * b + c, m16n8k16, bf16 (kF16: f16) inputs, f32 accumulators. With 8 real rows (kRows 8) the
// a1 / a3 registers are zero and d2 / d3 are dropped, so the padding rows cost no registers.
template <int kRows, bool kF16 = false>
__device__ __forceinline__ void mma_rows(float (&acc)[kRows / 4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1) {
#define PAGODA_MMA_8_ROWS(T)                                                                                      \
  asm("mma.sync.aligned.m16n8k16.row.col.f32." T "." T ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "     \
      "{%0, %1, %10, %10};\n"                                                                                     \
      : "+f"(acc[0]), "+f"(acc[1]), "=f"(unused0), "=f"(unused1)                                                  \
      : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1), "f"(0.f))
  if constexpr (kRows == 16) {
    pagoda::cuda::mma_16816<kF16>(acc, a0, a1, a2, a3, b0, b1);
  } else {
    float unused0, unused1;
    if constexpr (kF16) PAGODA_MMA_8_ROWS("f16");
    else PAGODA_MMA_8_ROWS("bf16");
  }
#undef PAGODA_MMA_8_ROWS
}

// Element offset of 16-byte chunk c of row r in a [16][kPitch] tile, so the 8 rows an ldmatrix
// phase reads sit in 8 different bank groups: the chunk index XORed with r % 8 (within its
// group of 8) where rows are whole groups, else the padded pitch does it.
template <int D> __device__ __forceinline__ int tile_offset(int r, int c) {
  using Sizes = DecodeSizes<D>; // the pitch and swizzle do not depend on the stages
  return r * Sizes::kPitch + ((Sizes::kSwizzle ? c ^ (r & 7) : c) << 3);
}

} // namespace

// Grid: (sequence, kv_head * m_tiles + m_tile, partition), or with heads_fastest the first two
// swapped (blocks are dispatched x first). kRows: 8 when a KV head has at most 8 query heads (one
// m-tile, rows 8..15 never computed), else 16 per m-tile. prefix_slots > 0 (cascade attention):
// partials always, each (sequence, head) owning prefix_slots + max_partitions slots of which these
// are the last max_partitions.
template <int D, int kRows, bool kFp8, bool kShallow>
__global__ void __launch_bounds__(kThreads)
    paged_attention_decode_kernel(PagedAttentionArgs args, const int32_t* seq_ids, int partition,
                                  int max_partitions, int m_tiles, float* __restrict__ part_out,
                                  float2* __restrict__ part_stats, int prefix_slots, int heads_fastest) {
  using Sizes = DecodeSizes<D, kFp8, kShallow>;
  constexpr int kSteps = D / 16;  // k-steps of S = Q K^T, also 16-dim column pairs of P V
  constexpr int kAcc = kRows / 4; // accumulator floats per n-tile per lane: rows g (and g + 8) x 2
  extern __shared__ __align__(128) unsigned char smem[];

  // Before the PDL wait this block may read only what no kernel of this step writes: the step's
  // inputs (uploaded before its first kernel) and K/V of keys before the newest one (written by
  // earlier steps). The newest key, context_len - 1, is this step's own kv_cache_write.
  const int seq_index = heads_fastest ? blockIdx.y : blockIdx.x;
  const int head_slot = heads_fastest ? blockIdx.x : blockIdx.y;
  const int kv_head = head_slot / m_tiles;
  const int m_tile = head_slot % m_tiles;
  const int part = blockIdx.z;
  const int seq = seq_ids[seq_index];
  const int context_len = args.context_lens[seq];
  const int key_begin = part * partition;
  if (key_begin >= context_len) { // a plan sized for a longer context (CUDA graphs)
    pdl_wait(); // a block may not finish before the grid it depends on
    return;
  }
  const int num_keys = min(partition, context_len - key_begin);
  const int group = args.num_q_heads / args.num_kv_heads;
  const int head0 = kv_head * group + m_tile * kRows;
  const int rows = min(kRows, group - m_tile * kRows);
  const int64_t token = args.query_start[seq];
  const int32_t* block_table = args.block_tables + static_cast<int64_t>(seq) * args.max_blocks_per_seq;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int g = lane >> 2; // accumulator row (and row + 8)
  const int t = lane & 3;  // accumulator column pair

  // This warp's tiles of the partition: warp, warp + 4, ... each 16 keys.
  unsigned char* pipe = smem + warp * Sizes::kWarpBytes;
  bf16* converted = reinterpret_cast<bf16*>(pipe + Sizes::kStages * Sizes::kStageBytes); // kFp8 only: V in f16 bits
  const int num_tiles = (num_keys + kTileKeys - 1) / kTileKeys;
  const int my_tiles = num_tiles > warp ? (num_tiles - warp + kWarps - 1) / kWarps : 0;
  const int bs = args.block_size;
  const bool aligned_blocks = bs % kTileKeys == 0; // a tile never straddles two blocks
  const int64_t head_rows = static_cast<int64_t>(args.num_kv_heads) * bs;

  // The block ids of the warp's next 32 tiles are loaded at once, one a lane, and a tile takes its id from its
  // lane: its copies then wait on no block-table round trip of their own (one a tile before, the warp stalled on it
  // at each issue), which in a block of a few tiles a warp is much of its life. Step inputs: readable before the
  // PDL wait.
  int held_block = 0;
  auto hold_blocks = [&](int first) { // the warp's tiles first .. first + 31
    const int i = first + lane;
    held_block = i < my_tiles ? block_table[(key_begin + (warp + i * kWarps) * kTileKeys) / bs] : 0;
  };
  if (aligned_blocks) hold_blocks(0);
  auto issue = [&](int i) { // the warp's i-th tile into stage i % kStages, then one commit
    const int tile = warp + i * kWarps;
    if (i < my_tiles) {
      const int key0 = key_begin + tile * kTileKeys;
      const int valid_rows = min(kTileKeys, context_len - key0);
      unsigned char* dst = pipe + (i % Sizes::kStages) * Sizes::kStageBytes;
      int64_t tile_base = 0;
      if (aligned_blocks) {
        if (i % 32 == 0 && i > 0) hold_blocks(i);
        const int64_t block = __shfl_sync(0xffffffffu, held_block, i % 32);
        tile_base = (block * head_rows + static_cast<int64_t>(kv_head) * bs + key0 % bs) * D;
      }
      constexpr int kRowChunks = kFp8 ? Sizes::kCodeChunks : Sizes::kChunks;
      constexpr int kChunkElems = kFp8 ? 16 : 8;
      constexpr int kTileChunks = kTileKeys * kRowChunks; // not a multiple of 32 for e4m3 rows of 48, 80, ...
#pragma unroll
      for (int j = 0; j < (kTileChunks + 31) / 32; ++j) {
        const int idx = lane + 32 * j;
        if (kTileChunks % 32 != 0 && idx >= kTileChunks) break;
        const int r = idx / kRowChunks, c = idx % kRowChunks;
        const bool valid = r < valid_rows;
        int64_t src = 0;
        if (valid) {
          if (aligned_blocks) {
            src = tile_base + r * D + c * kChunkElems;
          } else {
            const int key = key0 + r;
            src = (block_table[key / bs] * head_rows + static_cast<int64_t>(kv_head) * bs + key % bs) * D +
                  c * kChunkElems;
          }
        }
        if constexpr (kFp8) { // codes in row order at the padded pitch
          cp_async_16(smem_u32(dst + r * Sizes::kCodePitch + c * 16), args.k_cache_fp8 + src, valid);
          cp_async_16(smem_u32(dst + Sizes::kCodeTileBytes + r * Sizes::kCodePitch + c * 16), args.v_cache_fp8 + src,
                      valid);
        } else {
          const int so = tile_offset<D>(r, c) * 2;
          cp_async_16(smem_u32(dst + so), args.k_cache + src, valid);
          cp_async_16(smem_u32(dst + Sizes::kTileElems * 2 + so), args.v_cache + src, valid);
        }
      }
    }
    cp_async_commit(); // empty groups keep the wait count uniform
  };

  // The first stages' tiles go out before the wait where they hold only older keys, so their
  // DRAM latency overlaps the previous kernel's tail; the rest after it.
  int prefetched = 0;
  while (prefetched < Sizes::kStages - 1 && prefetched < my_tiles &&
         key_begin + (warp + prefetched * kWarps + 1) * kTileKeys <= context_len - 1)
    issue(prefetched++);
  pdl_wait();
  pdl_launch_dependents();

  // Q as the A operand, straight from global: q[g][16s + 2t, +1] and q[g][16s + 8 + 2t, +1]
  // (and the same for row g + 8 with 16 rows). Rows past the group are zero. With an e4m3 cache the
  // k-step's dims are the ones K's fragments hold, 16s + 4t .. + 3, in f16 times 2^-8.
  constexpr int kQRegs = Sizes::kQInSmem ? 1 : kSteps;
  uint32_t qa[kQRegs][kRows / 4];
  uint32_t* s_q = reinterpret_cast<uint32_t*>(smem + Sizes::smem_bytes(kRows) - Sizes::q_bytes(kRows));
  {
    const bf16* q_tok = args.q + token * args.q_token_stride;
    auto load = [&](int row, int col) -> uint32_t {
      if (row >= rows) return 0u;
      const uint32_t pair = *reinterpret_cast<const uint32_t*>(q_tok + static_cast<int64_t>(head0 + row) * D + col);
      if constexpr (!kFp8) return pair;
      const float2 f = unpack_bf16(pair);
      return pack_f16(f.x * kFp8QueryScale, f.y * kFp8QueryScale);
    };
    auto fragment = [&](int s, int j) { // j: 0 row g low, 1 row g high, 2 / 3 the same for g + 8
      return load(g + 8 * (j >> 1), kFp8 ? 16 * s + 4 * t + 2 * (j & 1) : 16 * s + 8 * (j & 1) + 2 * t);
    };
    if constexpr (Sizes::kQInSmem) {
      if (warp == 0)
        for (int s = 0; s < kSteps; ++s)
#pragma unroll
          for (int j = 0; j < kRows / 4; ++j) s_q[(s * (kRows / 4) + j) * 32 + lane] = fragment(s, j);
      __syncthreads();
    } else {
#pragma unroll
      for (int s = 0; s < kSteps; ++s)
#pragma unroll
        for (int j = 0; j < kRows / 4; ++j) qa[s][j] = fragment(s, j);
    }
  }

  float o[2 * kSteps][kAcc];
#pragma unroll
  for (int n = 0; n < 2 * kSteps; ++n)
#pragma unroll
    for (int e = 0; e < kAcc; ++e) o[n][e] = 0.f;
  float m_run[kRows / 8], l_run[kRows / 8]; // rows g (and g + 8); m in log2 units
#pragma unroll
  for (int h = 0; h < kRows / 8; ++h) {
    m_run[h] = -INFINITY;
    l_run[h] = 0.f;
  }
  // An fp8 cache's K scale folds into the softmax scale and its V scale into the output.
  const float scale_log2 = args.scale * kLog2e * (kFp8 ? args.k_scale / kFp8QueryScale : 1.f);
  const float out_scale = kFp8 ? args.v_scale : 1.f;

  for (int i = prefetched; i < Sizes::kStages - 1; ++i) issue(i);

  for (int it = 0; it < my_tiles; ++it) {
    issue(it + Sizes::kStages - 1);
    cp_async_wait<Sizes::kStages - 1>();
    __syncwarp();
    const unsigned char* stage = pipe + (it % Sizes::kStages) * Sizes::kStageBytes;
    const bf16* vs = reinterpret_cast<const bf16*>(stage) + Sizes::kTileElems; // bf16 cache: the stage's V tile
    if constexpr (kFp8) { // V: 16 codes -> two swizzled 16-byte f16 chunks of the warp's V tile
      const unsigned char* v_codes = stage + Sizes::kCodeTileBytes;
      constexpr int kTileChunks = kTileKeys * Sizes::kCodeChunks;
#pragma unroll
      for (int j = 0; j < (kTileChunks + 31) / 32; ++j) {
        const int idx = lane + 32 * j;
        if (kTileChunks % 32 != 0 && idx >= kTileChunks) break;
        const int r = idx / Sizes::kCodeChunks, c = idx % Sizes::kCodeChunks;
        const uint4 codes = *reinterpret_cast<const uint4*>(v_codes + r * Sizes::kCodePitch + c * 16);
        *reinterpret_cast<uint4*>(converted + tile_offset<D>(r, 2 * c)) = fp8x8_to_f16x8(make_uint2(codes.x, codes.y));
        *reinterpret_cast<uint4*>(converted + tile_offset<D>(r, 2 * c + 1)) = fp8x8_to_f16x8(make_uint2(codes.z, codes.w));
      }
      __syncwarp();
      vs = converted;
    }

    // S = Q K^T for keys 0..7 (s[0]) and 8..15 (s[1]); K rows are the B operand's columns.
    float s[2][kAcc];
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int e = 0; e < kAcc; ++e) s[n][e] = 0.f;
    auto q_fragments = [&](int st, uint32_t (&a)[4]) { // a0 a1 a2 a3: row g low, g + 8 low, g high, g + 8 high
#pragma unroll
      for (int j = 0; j < 4; ++j) a[j] = 0u;
#pragma unroll
      for (int j = 0; j < kRows / 4; ++j)
        a[(j & 1) * 2 + (j >> 1)] = Sizes::kQInSmem ? s_q[(st * (kRows / 4) + j) * 32 + lane] : qa[Sizes::kQInSmem ? 0 : st][j];
    };
    if constexpr (kFp8) {
      // Matrix j of an ldmatrix: keys 8 (j & 1) .. + 7 of code chunk st + j / 2 (16 dims, one k-step); a lane
      // receives its key's dims 4t .. 4t + 3 of the chunk, two f16 pairs: the B fragment's b0 and b1.
      const int r = (lane & 7) + (((lane >> 3) & 1) << 3);
      const unsigned char* ks = stage + r * Sizes::kCodePitch;
#pragma unroll
      for (int st = 0; st < kSteps; st += 2) {
        uint32_t b[4];
        if (st + 1 < kSteps) {
          ldmatrix_x4(smem_u32(ks + (st + (lane >> 4)) * 16), b);
        } else {
          ldmatrix_x2(smem_u32(ks + st * 16), b[0], b[1]);
        }
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          if (st + half >= kSteps) break;
          uint32_t a[4];
          q_fragments(st + half, a);
#pragma unroll
          for (int n = 0; n < 2; ++n) {
            const uint32_t codes = b[2 * half + n];
            mma_rows<kRows, true>(s[n], a[0], a[1], a[2], a[3], fp8x2_to_f16x2(codes), fp8x2_to_f16x2(codes >> 16));
          }
        }
      }
    } else {
      const bf16* ks = reinterpret_cast<const bf16*>(stage);
      const int r = (lane & 7) + ((lane >> 4) << 3);
      const int c_lo = (lane >> 3) & 1;
#pragma unroll
      for (int st = 0; st < kSteps; ++st) {
        uint32_t b[4];
        ldmatrix_x4(smem_u32(ks + tile_offset<D>(r, 2 * st + c_lo)), b);
        uint32_t a[4];
        q_fragments(st, a);
        mma_rows<kRows>(s[0], a[0], a[1], a[2], a[3], b[0], b[1]);
        mma_rows<kRows>(s[1], a[0], a[1], a[2], a[3], b[2], b[3]);
      }
    }

    // Online softmax: mask keys past the partition, new row maxima over the 4 lanes of a row.
    const int key_local = (warp + it * kWarps) * kTileKeys;
    float alpha[kRows / 8];
#pragma unroll
    for (int h = 0; h < kRows / 8; ++h) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const bool valid = key_local + n * 8 + 2 * t + e < num_keys;
          float& x = s[n][2 * h + e];
          x = valid ? x * scale_log2 : -INFINITY;
          mx = fmaxf(mx, x);
        }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m_run[h], mx); // finite: key_local < num_keys
      alpha[h] = exp2f(m_run[h] - m_new);
      m_run[h] = m_new;
    }
    // P in bf16 (f16 with an e4m3 cache) as the A operand (keys 2t.. of s[0] in a0/a1, of s[1] in a2/a3); the row
    // sums add the rounded values so that P and l agree.
    uint32_t pa[4];
#pragma unroll
    for (int h = 0; h < kRows / 8; ++h) {
      float sum = 0.f;
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        const uint32_t packed = pack_pair<kFp8>(exp2f(s[n][2 * h] - m_run[h]), exp2f(s[n][2 * h + 1] - m_run[h]));
        pa[2 * n + h] = packed;
        const float2 back = unpack_pair<kFp8>(packed);
        sum += back.x + back.y;
      }
      l_run[h] = l_run[h] * alpha[h] + sum;
    }
    if constexpr (kRows == 8) {
      pa[1] = 0u;
      pa[3] = 0u;
    }
#pragma unroll
    for (int n = 0; n < 2 * kSteps; ++n)
#pragma unroll
      for (int e = 0; e < kAcc; ++e) o[n][e] *= alpha[e / 2];

    // O += P V; V rows are keys, read transposed as the B operand.
    {
      const int r = (lane & 7) + (((lane >> 3) & 1) << 3);
      const int c_hi = lane >> 4;
#pragma unroll
      for (int st = 0; st < kSteps; ++st) {
        uint32_t b[4];
        ldmatrix_x4_trans(smem_u32(vs + tile_offset<D>(r, 2 * st + c_hi)), b);
        mma_rows<kRows, kFp8>(o[2 * st], pa[0], pa[1], pa[2], pa[3], b[0], b[1]);
        mma_rows<kRows, kFp8>(o[2 * st + 1], pa[0], pa[1], pa[2], pa[3], b[2], b[3]);
      }
    }
    __syncwarp(); // every lane is done with this stage before it is refilled
  }

  // Each row's l over its 4 lanes.
#pragma unroll
  for (int h = 0; h < kRows / 8; ++h) {
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 1);
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 2);
  }

  // Merge the 4 warps through shared memory (the pipeline buffers, now idle).
  cp_async_wait<0>();
  __syncthreads();
  float* s_o = reinterpret_cast<float*>(smem);                // [kWarps][kRows][kMergeStride]
  float* s_m = s_o + kWarps * kRows * Sizes::kMergeStride;    // [kWarps][kRows]
  float* s_l = s_m + kWarps * kRows;                          // [kWarps][kRows]
#pragma unroll
  for (int h = 0; h < kRows / 8; ++h) {
    const int row = g + 8 * h;
    float* dst = s_o + (warp * kRows + row) * Sizes::kMergeStride + 2 * t;
#pragma unroll
    for (int n = 0; n < 2 * kSteps; ++n)
      *reinterpret_cast<float2*>(dst + n * 8) = make_float2(o[n][2 * h], o[n][2 * h + 1]);
    if (t == 0) {
      s_m[warp * kRows + row] = m_run[h];
      s_l[warp * kRows + row] = l_run[h];
    }
  }
  __syncthreads();

  for (int i = threadIdx.x; i < rows * D; i += kThreads) {
    const int row = i / D, d = i % D;
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) m = fmaxf(m, s_m[w * kRows + row]);
    float l = 0.f, acc = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float mw = s_m[w * kRows + row];
      const float weight = mw == -INFINITY ? 0.f : exp2f(mw - m); // a warp with no tile
      l += weight * s_l[w * kRows + row];
      acc += weight * s_o[(w * kRows + row) * Sizes::kMergeStride + d];
    }
    const float out = acc / l * out_scale;
    const int head = head0 + row;
    if (max_partitions == 1 && prefix_slots == 0) {
      args.out[token * args.num_q_heads * D + static_cast<int64_t>(head) * D + d] = __float2bfloat16(out);
    } else {
      const int64_t slot =
          (static_cast<int64_t>(seq_index) * args.num_q_heads + head) * (prefix_slots + max_partitions) +
          prefix_slots + part;
      part_out[slot * D + d] = out;
      if (d == 0) part_stats[slot] = make_float2(m, l);
    }
  }
}

// A partition's weight: l_i * 2^(m_i - M) (m in log2 units).
__device__ __forceinline__ float merge_weight(float2 stats, float m) {
  return __fmul_rn(stats.y, exp2f(__fsub_rn(stats.x, m)));
}
// One partition's normalized output pair into a warp's sums, times its weight.
__device__ __forceinline__ void merge_step(float2& acc, float w, float2 v) {
  acc.x = __fmaf_rn(w, v.x, acc.x);
  acc.y = __fmaf_rn(w, v.y, acc.y);
}

// Merges the partitions of one (sequence, query head): O = sum_i w_i O_i / sum_i w_i with
// w_i = l_i * 2^(m_i - M), over its prefix_slots cascade-prefix partials (0 without cascade) and
// the partitions its context has. The warps split the partitions and each lane holds column pairs
// lane, lane + 32, ... of the head, so several partitions' loads are in flight at once (a serial
// loop over the partitions paid one L2 round trip each, most of a batch-1 decode). Every float op
// carries its rounding (__fmul_rn, __fmaf_rn, __fadd_rn, __fdiv_rn) so ptxas contracts nothing on its
// own: the bits do not depend on how it schedules this kernel.
template <int D>
__global__ void __launch_bounds__(kThreads)
    paged_attention_decode_merge_kernel(PagedAttentionArgs args, const int32_t* seq_ids, int partition,
                                        int max_partitions, const float* part_out,
                                        const float2* part_stats, int prefix_slots) {
  constexpr int kPairs = D / 2;
  constexpr int kPairsPerLane = (kPairs + 31) / 32; // the last one partial where D / 2 is not a multiple of 32
  __shared__ float2 s_acc[kWarps][kPairs];
  __shared__ float s_den[kWarps];
  __shared__ float s_max[kWarps];
  // The step's inputs (sequence, context length, output row) depend on no kernel: read before the wait, so
  // their two dependent round trips overlap the decode kernel instead of following it.
  const int seq_index = blockIdx.x;
  const int head = blockIdx.y;
  const int seq = seq_ids[seq_index];
  const int parts = prefix_slots + (args.context_lens[seq] + partition - 1) / partition;
  const int64_t token = args.query_start[seq];
  const int64_t base = (static_cast<int64_t>(seq_index) * args.num_q_heads + head) * (prefix_slots + max_partitions);
  pdl_wait();
  pdl_launch_dependents();
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;

  // The warp's first kHeldParts partitions (stats and this lane's output pairs) are loaded beside the max's loads,
  // so the merge below waits on one L2 round trip instead of two; the sums run in the same order as the loop after.
  constexpr int kHeldParts = 4;
  float2 held_stats[kHeldParts];
  float2 held_out[kHeldParts][kPairsPerLane];
#pragma unroll
  for (int j = 0; j < kHeldParts; ++j) {
    const int p = warp + j * kWarps;
    if (p >= parts) break;
    held_stats[j] = part_stats[base + p];
    const float2* src = reinterpret_cast<const float2*>(part_out + (base + p) * D);
#pragma unroll
    for (int e = 0; e < kPairsPerLane; ++e) {
      const int pair = lane + 32 * e;
      if (kPairs % 32 != 0 && pair >= kPairs) break;
      held_out[j][e] = src[pair];
    }
  }

  float m = -INFINITY;
  for (int p = threadIdx.x; p < parts; p += kThreads) m = fmaxf(m, part_stats[base + p].x);
  m = warp_max(m);
  if (lane == 0) s_max[warp] = m;
  __syncthreads();
  m = s_max[0];
#pragma unroll
  for (int w = 1; w < kWarps; ++w) m = fmaxf(m, s_max[w]);

  float2 acc[kPairsPerLane];
#pragma unroll
  for (int e = 0; e < kPairsPerLane; ++e) acc[e] = make_float2(0.f, 0.f);
  float den = 0.f;
#pragma unroll
  for (int j = 0; j < kHeldParts; ++j) {
    const int p = warp + j * kWarps;
    if (p >= parts) break;
    const float w = merge_weight(held_stats[j], m);
#pragma unroll
    for (int e = 0; e < kPairsPerLane; ++e) {
      const int pair = lane + 32 * e;
      if (kPairs % 32 != 0 && pair >= kPairs) break;
      merge_step(acc[e], w, held_out[j][e]);
    }
    den = __fadd_rn(den, w);
  }
#pragma unroll 4
  for (int p = warp + kHeldParts * kWarps; p < parts; p += kWarps) {
    const float w = merge_weight(part_stats[base + p], m);
    const float2* src = reinterpret_cast<const float2*>(part_out + (base + p) * D);
#pragma unroll
    for (int e = 0; e < kPairsPerLane; ++e) {
      const int pair = lane + 32 * e;
      if (kPairs % 32 != 0 && pair >= kPairs) break;
      merge_step(acc[e], w, src[pair]);
    }
    den = __fadd_rn(den, w);
  }
#pragma unroll
  for (int e = 0; e < kPairsPerLane; ++e) {
    const int pair = lane + 32 * e;
    if (kPairs % 32 == 0 || pair < kPairs) s_acc[warp][pair] = acc[e];
  }
  if (lane == 0) s_den[warp] = den;
  __syncthreads();

  const float* s_flat = reinterpret_cast<const float*>(s_acc);
  for (int d = threadIdx.x; d < D; d += kThreads) {
    float num = 0.f, total = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      num = __fadd_rn(num, s_flat[w * D + d]);
      total = __fadd_rn(total, s_den[w]);
    }
    args.out[token * args.num_q_heads * D + static_cast<int64_t>(head) * D + d] =
        __float2bfloat16(__fdiv_rn(num, total));
  }
}

DecodePlanOptions decode_plan_switches(int num_sms) {
  // Both on by default since session 23 (H100, one call): ShareGPT-like batch-256 contexts 0.128 -> 0.109 ms a
  // layer (cuda_kernel_bench uneven), ShareGPT 500 37.07 -> 37.55 req/s; shallow from 4 blocks an SM is where it
  // stopped costing (batch 64: 0.049 longest first alone, 0.053 shallow too; 128 and 256 faster shallow).
  struct Switches {
    int shallow_per_sm = 4; // -1: all
    bool longest_first = true;
  };
  static const Switches read = [] {
    Switches o;
    if (const char* v = std::getenv("PAGODA_DECODE_SHALLOW"); v != nullptr && *v != 0) {
      char* end = nullptr;
      const long n = std::strtol(v, &end, 10);
      const bool all = std::string(v) == "all";
      if (!all && (*end != 0 || n < 0 || n > 64))
        throw Error("PAGODA_DECODE_SHALLOW: " + std::string(v) + " is not \"all\" or a number of blocks an SM from 0 to 64");
      o.shallow_per_sm = all ? -1 : static_cast<int>(n);
    }
    if (const char* v = std::getenv("PAGODA_DECODE_LONGEST_FIRST"); v != nullptr && *v != 0) {
      if (std::string(v) != "0" && std::string(v) != "1")
        throw Error("PAGODA_DECODE_LONGEST_FIRST: " + std::string(v) + " is not 0 or 1");
      o.longest_first = std::string(v) == "1";
    }
    return o;
  }();
  DecodePlanOptions options;
  options.shallow_from_blocks = read.shallow_per_sm < 0 ? 1 : static_cast<int64_t>(read.shallow_per_sm) * num_sms;
  options.heads_fastest = read.longest_first;
  return options;
}

namespace {

template <int D, int kRows, bool kFp8, bool kShallow>
void launch_decode(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs, const DecodePlan& plan,
                   int prefix_slots, void* workspace, cudaStream_t stream) {
  constexpr int smem = DecodeSizes<D, kFp8, kShallow>::smem_bytes(kRows);
  const auto kernel = paged_attention_decode_kernel<D, kRows, kFp8, kShallow>;
  static const bool configured = [&] { // once per instantiation: more than the default 48 KB
    PAGODA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return true;
  }();
  (void)configured;
  const int m_tiles = decode_m_tiles(args.num_q_heads / args.num_kv_heads);
  float* part_out = static_cast<float*>(workspace);
  const size_t slots = static_cast<size_t>(num_seqs) * args.num_q_heads * (prefix_slots + plan.max_partitions);
  float2* part_stats = reinterpret_cast<float2*>(part_out + slots * D);
  const int head_slots = args.num_kv_heads * m_tiles;
  // Head-fastest puts the sequences on grid y, at most 65,535 of them; a larger batch keeps them on x.
  const bool heads_fastest = plan.heads_fastest && num_seqs <= 65535;
  const dim3 grid = heads_fastest ? dim3(head_slots, num_seqs, plan.max_partitions)
                                  : dim3(num_seqs, head_slots, plan.max_partitions);
  launch_pdl("paged_attention_decode_kernel", kernel, grid, dim3(kThreads), smem, stream, args, seq_ids,
             plan.partition_tokens, plan.max_partitions, m_tiles, part_out, part_stats, prefix_slots,
             heads_fastest ? 1 : 0);
  if (plan.max_partitions > 1 || prefix_slots > 0) {
    const dim3 merge_grid(num_seqs, args.num_q_heads);
    launch_pdl("paged_attention_decode_merge_kernel", paged_attention_decode_merge_kernel<D>, merge_grid,
               dim3(kThreads), 0, stream, args, seq_ids, plan.partition_tokens, plan.max_partitions,
               static_cast<const float*>(part_out), static_cast<const float2*>(part_stats), prefix_slots);
  }
}

template <int D, bool kFp8>
void launch_decode_rows(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs, const DecodePlan& plan,
                        int prefix_slots, void* workspace, cudaStream_t stream) {
  const bool rows8 = args.num_q_heads / args.num_kv_heads <= 8;
  // Shallow at head_dim 64..128 only: there it frees shared memory for more blocks an SM within the registers
  // (8 rows at 128: 162 registers, three blocks; sm_90a, ptxas 13). Past 128 the registers allow no more blocks,
  // below 64 five fit already; there the plain instantiation runs.
  constexpr bool kShallowBuilt =
      D >= 64 && D <= 128 && DecodeSizes<D, kFp8, true>::kStages != DecodeSizes<D, kFp8, false>::kStages;
  if constexpr (kShallowBuilt) {
    if (plan.shallow) {
      if (rows8) launch_decode<D, 8, kFp8, true>(args, seq_ids, num_seqs, plan, prefix_slots, workspace, stream);
      else launch_decode<D, 16, kFp8, true>(args, seq_ids, num_seqs, plan, prefix_slots, workspace, stream);
      return;
    }
  }
  if (rows8) launch_decode<D, 8, kFp8, false>(args, seq_ids, num_seqs, plan, prefix_slots, workspace, stream);
  else launch_decode<D, 16, kFp8, false>(args, seq_ids, num_seqs, plan, prefix_slots, workspace, stream);
}

template <int D>
void launch_decode_dtype(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs, const DecodePlan& plan,
                         int prefix_slots, void* workspace, cudaStream_t stream) {
  if (args.k_cache_fp8 != nullptr)
    launch_decode_rows<D, true>(args, seq_ids, num_seqs, plan, prefix_slots, workspace, stream);
  else
    launch_decode_rows<D, false>(args, seq_ids, num_seqs, plan, prefix_slots, workspace, stream);
}

void check_decode_args(const PagedAttentionArgs& args, const DecodePlan& plan) {
  if (args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0)
    throw Error("paged_attention_decode: num_attention_heads " + std::to_string(args.num_q_heads) +
                " must be a multiple of num_key_value_heads " + std::to_string(args.num_kv_heads));
  if (plan.partition_tokens <= 0 || plan.partition_tokens % 32 != 0 || plan.max_partitions <= 0)
    throw Error("paged_attention_decode: the plan must come from plan_paged_attention_decode");
  if (args.block_size <= 0)
    throw Error("paged_attention_decode: block_size " + std::to_string(args.block_size) + " must be positive");
  if ((args.k_cache_fp8 == nullptr) != (args.v_cache_fp8 == nullptr))
    throw Error("paged_attention_decode: an fp8 KV cache needs both its K and V codes");
}

} // namespace

void paged_attention_decode(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                            const DecodePlan& plan, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  check_decode_args(args, plan);
  if (num_seqs == 0) return;
  const size_t needed = paged_attention_decode_workspace_bytes(plan, num_seqs, args.num_q_heads, args.head_dim);
  if (workspace_bytes < needed)
    throw Error("paged_attention_decode: workspace of " + std::to_string(workspace_bytes) +
                " bytes is smaller than the " + std::to_string(needed) + " this plan needs");
  dispatch_head_dim(args.head_dim, "paged_attention_decode", [&](auto d) {
    launch_decode_dtype<decltype(d)::value>(args, seq_ids, num_seqs, plan, 0, workspace, stream);
  });
}

void paged_attention_decode_after_prefix(const PagedAttentionArgs& args, const int32_t* seq_ids, int num_seqs,
                                         const DecodePlan& plan, int prefix_slots, void* workspace,
                                         cudaStream_t stream) {
  check_decode_args(args, plan);
  if (num_seqs == 0) return;
  dispatch_head_dim(args.head_dim, "paged_attention_decode", [&](auto d) {
    launch_decode_dtype<decltype(d)::value>(args, seq_ids, num_seqs, plan, prefix_slots, workspace, stream);
  });
}

} // namespace pagoda::cuda
