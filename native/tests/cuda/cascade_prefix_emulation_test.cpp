// Runs cascade attention's prefix kernel source (attention_cascade_kernel.cuh) on the host, without a
// GPU (host_emulation.h: a CTA's threads as fibers, the warp-wide mma model, deferred cp.async; here
// also warp-wide ldmatrix / ldmatrix.trans and shfl.xor from the PTX fragment layouts), so its
// fragment mappings, swizzle, pipeline and slot indexing are checked where no device is. Random bf16 Q
// and a paged prefix (shuffled blocks, unused blocks 1e30) at head_dim 64 / 128, block sizes 16 / 32,
// groups 1 / 4 / 8, partitions from plan_cascade_prefix (a partial last tile, several row tiles, rows
// past the batch), decode order shuffled: every (sequence, head, partition) slot's normalized O and
// (m, l) against a float64 reference of that partition, the suffix slots left as they were (NaN).
// What it cannot show: timing, the memory model, the hardware's mma (cascade_attention_test does).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <cuda_bf16.h>

#define PAGODA_EMULATED_KERNEL_NS pagoda::cuda::cascade
#include "host_emulation.h"

namespace pagoda::cuda::cascade {

inline uint32_t smem_u32(const void* p) { return smem_addr(p); }
inline void cp_async_16(uint32_t dst, const void* src, bool valid) {
  emulated_cp_async_16(emu::shared_memory + dst, src, valid);
}

// Warp collectives: every lane deposits its operand, the 32nd computes every lane's result, each lane
// reads its own after the barrier (before it can deposit again).
struct WarpExchange {
  emu::Barrier barrier;
  uint32_t in[32];
  uint32_t out[32][4];
};
inline WarpExchange exchanges[emu::kMaxThreads / 32];

inline uint16_t smem_half(uint32_t addr) {
  uint16_t v;
  std::memcpy(&v, emu::shared_memory + addr, 2);
  return v;
}

// ldmatrix.x4: lane i addresses row i % 8 of matrix i / 8 (16 bytes); register j of lane L gets
// matrix j's row L / 4, columns 2 (L % 4) and + 1 (low half the lower column); .trans gets the
// transposed matrix's: rows 2 (L % 4) and + 1 of column L / 4.
template <bool kTrans> void ldmatrix(uint32_t addr, uint32_t (&r)[4]) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  WarpExchange& x = exchanges[threadIdx.x / 32];
  x.in[lane] = addr;
  if (x.barrier.arrived + 1 == 32) {
    for (int l = 0; l < 32; ++l)
      for (int j = 0; j < 4; ++j) {
        uint16_t lo, hi;
        if (!kTrans) {
          const uint32_t row = x.in[8 * j + l / 4];
          lo = smem_half(row + 4 * (l % 4));
          hi = smem_half(row + 4 * (l % 4) + 2);
        } else {
          lo = smem_half(x.in[8 * j + 2 * (l % 4)] + 2 * (l / 4));
          hi = smem_half(x.in[8 * j + 2 * (l % 4) + 1] + 2 * (l / 4));
        }
        x.out[l][j] = uint32_t(lo) | (uint32_t(hi) << 16);
      }
  }
  x.barrier.wait(32);
  for (int j = 0; j < 4; ++j) r[j] = x.out[lane][j];
}
inline void ldmatrix_x4(uint32_t addr, uint32_t (&r)[4]) { ldmatrix<false>(addr, r); }
inline void ldmatrix_x4_trans(uint32_t addr, uint32_t (&r)[4]) { ldmatrix<true>(addr, r); }

inline float __shfl_xor_sync(unsigned, float v, int mask) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  WarpExchange& x = exchanges[threadIdx.x / 32];
  std::memcpy(&x.in[lane], &v, 4);
  if (x.barrier.arrived + 1 == 32)
    for (int l = 0; l < 32; ++l) x.out[l][0] = x.in[l ^ mask];
  x.barrier.wait(32);
  float r;
  std::memcpy(&r, &x.out[lane][0], 4);
  return r;
}

inline uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat16 a = __float2bfloat16(lo), b = __float2bfloat16(hi);
  uint16_t ua, ub;
  std::memcpy(&ua, &a, 2);
  std::memcpy(&ub, &b, 2);
  return uint32_t(ua) | (uint32_t(ub) << 16);
}
inline float2 unpack_bf16(uint32_t v) { return make_float2(emu::bf16_half(v, 0), emu::bf16_half(v, 1)); }
inline float exp2f(float x) { return std::exp2(x); }
inline float fmaxf(float a, float b) { return std::fmax(a, b); }

} // namespace pagoda::cuda::cascade

#define CASCADE_DEVICE inline
#define CASCADE_KERNEL(threads, min_blocks) void
#define CASCADE_DYNAMIC_SMEM(name) unsigned char* name = emu::shared_memory
#include "backend/cuda/attention_cascade_kernel.cuh"

#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

struct Case {
  int q_heads, kv_heads, D, bs, batch, prefix_tokens, num_sms;
};

float bf(const bf16& x) { return __bfloat162float(x); }

void run_case(Checker& c, std::mt19937& rng, const Case& cs) {
  const int D = cs.D, bs = cs.bs, n = cs.batch, group = cs.q_heads / cs.kv_heads;
  const int pb = cs.prefix_tokens / bs, total_blocks = pb + 3;
  char tag[128];
  std::snprintf(tag, sizeof tag, "%d/%d/%d bs %d batch %d prefix %d", cs.q_heads, cs.kv_heads, D, bs, n,
                cs.prefix_tokens);
  // The prefix's blocks, shuffled among a few unused ones (1e30: a read of one shows).
  std::vector<int32_t> blocks(total_blocks);
  std::iota(blocks.begin(), blocks.end(), 0);
  std::shuffle(blocks.begin(), blocks.end(), rng);
  blocks.resize(pb);
  const size_t block_elems = size_t(cs.kv_heads) * bs * D;
  std::vector<bf16> kc(size_t(total_blocks) * block_elems, __float2bfloat16(1e30f)), vc = kc;
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  for (int b : blocks)
    for (size_t i = 0; i < block_elems; ++i) {
      kc[size_t(b) * block_elems + i] = __float2bfloat16(unit(rng));
      vc[size_t(b) * block_elems + i] = __float2bfloat16(unit(rng));
    }
  const int64_t q_width = int64_t(cs.q_heads) * D, stride = q_width + 2 * int64_t(cs.kv_heads) * D;
  std::vector<bf16> q(size_t(n) * stride);
  for (auto& x : q) x = __float2bfloat16(3.f * unit(rng));
  std::vector<int32_t> query_start(n + 1), ids(n);
  std::iota(query_start.begin(), query_start.end(), 0);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);

  const CascadePrefixPlan plan = plan_cascade_prefix(n, cs.kv_heads, group, cs.prefix_tokens, cs.num_sms);
  const int suffix_slots = 2; // the decode kernel's, after the prefix's: must stay untouched
  const int slots_per_head = plan.partitions + suffix_slots;
  const size_t slots = size_t(n) * cs.q_heads * slots_per_head;
  std::vector<float> part_out(slots * D, std::nanf(""));
  std::vector<float2> part_stats(slots, make_float2(std::nanf(""), std::nanf("")));

  PagedAttentionArgs a;
  a.q = q.data();
  a.q_token_stride = stride;
  a.k_cache = kc.data();
  a.v_cache = vc.data();
  a.query_start = query_start.data();
  a.num_q_heads = cs.q_heads;
  a.num_kv_heads = cs.kv_heads;
  a.head_dim = D;
  a.block_size = bs;
  a.scale = 1.f / std::sqrt(float(D));
  const std::function<void()> body = [&] {
    auto kernel = D == 64 ? cascade::cascade_prefix_kernel<64> : cascade::cascade_prefix_kernel<128>;
    kernel(a, ids.data(), n, blocks.data(), cs.prefix_tokens, plan.partition_tokens, slots_per_head, part_out.data(),
           part_stats.data());
  };
  const size_t smem = D == 64 ? cascade::CascadeSizes<64>::kSmemBytes : cascade::CascadeSizes<128>::kSmemBytes;
  const std::string fault =
      emu::run_grid(dim3(plan.row_tiles, cs.kv_heads, plan.partitions), smem, body, cascade::kThreads);
  c.expect_true(std::string("emulated run ") + tag, fault.empty(), fault);

  // Reference per (decode index, head, partition); the slot follows the decode index, the Q its sequence.
  std::vector<float> got, want;
  double m_err = 0, l_err = 0;
  bool untouched = true;
  const double log2e = 1.4426950408889634;
  for (int i = 0; i < n; ++i) {
    const int seq = ids[i];
    for (int h = 0; h < cs.q_heads; ++h) {
      const int kvh = h / group;
      for (int p = 0; p < plan.partitions; ++p) {
        const int k0 = p * plan.partition_tokens, k1 = std::min(cs.prefix_tokens, k0 + plan.partition_tokens);
        std::vector<double> s(k1 - k0);
        double mx = -1e300;
        for (int k = k0; k < k1; ++k) {
          const size_t base = ((size_t(blocks[k / bs]) * cs.kv_heads + kvh) * bs + k % bs) * D;
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += double(bf(q[size_t(seq) * stride + size_t(h) * D + d])) * bf(kc[base + d]);
          s[k - k0] = dot * a.scale * log2e;
          mx = std::max(mx, s[k - k0]);
        }
        double l = 0;
        std::vector<double> o(D, 0.0);
        for (int k = k0; k < k1; ++k) {
          const double w = std::exp2(s[k - k0] - mx);
          l += w;
          const size_t base = ((size_t(blocks[k / bs]) * cs.kv_heads + kvh) * bs + k % bs) * D;
          for (int d = 0; d < D; ++d) o[d] += w * bf(vc[base + d]);
        }
        const size_t slot = (size_t(i) * cs.q_heads + h) * slots_per_head + p;
        for (int d = 0; d < D; ++d) {
          got.push_back(part_out[slot * D + d]);
          want.push_back(float(o[d] / l));
        }
        m_err = std::max(m_err, std::fabs(part_stats[slot].x - mx));
        l_err = std::max(l_err, std::fabs(part_stats[slot].y - l) / l);
        if (!(std::fabs(part_stats[slot].x - mx) < 1e-3)) m_err = std::max(m_err, 1e9); // NaN too
        if (!(std::fabs(part_stats[slot].y - l) / l < 1.0)) l_err = std::max(l_err, 1e9);
      }
      for (int p = plan.partitions; p < slots_per_head; ++p) {
        const size_t slot = (size_t(i) * cs.q_heads + h) * slots_per_head + p;
        untouched = untouched && std::isnan(part_stats[slot].x) && std::isnan(part_out[slot * D]) &&
                    std::isnan(part_out[slot * D + D - 1]);
      }
    }
  }
  std::vector<double> want_d(want.begin(), want.end());
  char plan_tag[64];
  std::snprintf(plan_tag, sizeof plan_tag, " (%d x %d tokens, %d row tiles)", plan.partitions, plan.partition_tokens,
                plan.row_tiles);
  c.expect(std::string("prefix partial O ") + tag + plan_tag, compare(got, want_d), 1e-2, 3e-2);
  // m is the same max in log2 units (the rows' scores in float); l sums bf16-rounded weights.
  c.expect_true(std::string("prefix partial m, l ") + tag, m_err < 1e-3 && l_err < 1e-2,
                "max |m - ref| " + std::to_string(m_err) + ", max rel l error " + std::to_string(l_err));
  c.expect_true(std::string("suffix slots untouched ") + tag, untouched);
}

} // namespace

int main() {
  std::mt19937 rng(77);
  Checker c;
  // num_sms small so the plans split into several partitions at these batch sizes.
  const std::vector<Case> cases = {
      {8, 2, 128, 16, 8, 256, 8},   // group 4: one row tile of 32 rows (32 past the batch), 4 partitions
      {4, 4, 64, 16, 37, 336, 16},  // group 1: 37 rows, 21 blocks = 5.25 tiles (a partial last tile)
      {16, 2, 64, 32, 9, 512, 4},   // group 8: 72 rows = two row tiles, block size 32
      {4, 1, 128, 32, 40, 1024, 2}, // group 4: 160 rows = three row tiles, 1,024 tokens in 2 partitions
  };
  for (const Case& cs : cases) run_case(c, rng, cs);
  return c.finish("cascade_prefix_emulation_test");
}
