// The check skinny_gemm_test and quant_gemm_test share for a qkv GEMM that finishes RoPE and the KV-cache write
// itself (kernels.h QkvRope): against the plain GEMM followed by rope_neox_kv_write, bit for bit in the qkv
// activation and in both caches, which start poisoned so a stray or missing write shows. Large positions (sincos
// far from zero), a padding row (slot -1) from m 3, and two rows in one cache block.
#pragma once

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/kernels.h"
#include "test_support.h"

namespace pagoda::cuda::test {

struct QkvHeads {
  int nq, nkv, hd;
  int n() const { return (nq + 2 * nkv) * hd; }
};

// plain(qkv): the GEMM alone into qkv [m, n]; fused(qkv, rope): the GEMM with RoPE and the KV write.
inline void check_qkv_rope(Checker& c, const std::string& name, const QkvHeads& s, int m, std::mt19937& rng,
                           const std::function<void(bf16*)>& plain,
                           const std::function<void(bf16*, const QkvRope&)>& fused) {
  const int n = s.n(), bs = 16, blocks = 12;
  const size_t cache_elems = size_t(blocks) * s.nkv * bs * s.hd;
  std::vector<float> inv_freq(s.hd / 2);
  for (int i = 0; i < s.hd / 2; ++i) inv_freq[i] = float(std::pow(500000.0, -2.0 * i / s.hd));
  std::vector<int32_t> pos(m), slots(m);
  for (int i = 0; i < m; ++i) {
    pos[i] = int32_t(rng() % 120000);
    slots[i] = i == 0 ? 3 * bs + 5 : (i == 1 ? 3 * bs + 9 : int32_t(((i + 4) * 37) % (blocks * bs)));
  }
  if (m >= 3) slots[m - 1] = -1;
  auto d_freq = upload(inv_freq), d_pos = upload(pos), d_slots = upload(slots);
  DeviceBuffer want_qkv(size_t(m) * n * 2), got_qkv(size_t(m) * n * 2), want_k(cache_elems * 2),
      want_v(cache_elems * 2), got_k(cache_elems * 2), got_v(cache_elems * 2);
  for (DeviceBuffer* b : {&want_qkv, &got_qkv, &want_k, &want_v, &got_k, &got_v}) poison(*b);
  plain(want_qkv.as<bf16>());
  bf16* q = want_qkv.as<bf16>();
  rope_neox_kv_write(q, q + s.nq * s.hd, q + (s.nq + s.nkv) * s.hd, n, d_pos.as<int32_t>(), d_freq.as<float>(),
                     d_slots.as<int32_t>(), want_k.as<bf16>(), want_v.as<bf16>(), m, s.nq, s.nkv, s.hd, s.hd, bs, 0);
  QkvRope r;
  r.positions = d_pos.as<int32_t>();
  r.inv_freq = d_freq.as<float>();
  r.slots = d_slots.as<int32_t>();
  r.k_cache = got_k.as<bf16>();
  r.v_cache = got_v.as<bf16>();
  r.num_q_heads = s.nq;
  r.num_kv_heads = s.nkv;
  r.head_dim = s.hd;
  r.block_size = bs;
  fused(got_qkv.as<bf16>(), r);
  const std::string tag = " m " + std::to_string(m) + " q heads " + std::to_string(s.nq) + " kv heads " +
                          std::to_string(s.nkv) + " head_dim " + std::to_string(s.hd);
  c.expect_true(name + "'s qkv equals the GEMM + rope_neox_kv_write bit for bit" + tag,
                download<uint16_t>(want_qkv, size_t(m) * n) == download<uint16_t>(got_qkv, size_t(m) * n));
  c.expect_true(name + "'s K and V cache equal rope_neox_kv_write's bit for bit" + tag,
                download<uint16_t>(want_k, cache_elems) == download<uint16_t>(got_k, cache_elems) &&
                    download<uint16_t>(want_v, cache_elems) == download<uint16_t>(got_v, cache_elems));
}

} // namespace pagoda::cuda::test
