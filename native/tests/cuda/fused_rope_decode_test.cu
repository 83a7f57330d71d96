// Checks paged_attention_decode_rope (PAGODA_DECODE_FUSED_ROPE: rope + KV-cache write inside the decode
// kernel) against what it replaces, rope_neox + kv_cache_write + paged_attention_decode on the same inputs:
// the attention output and both caches bit for bit (the same roped bf16 q and k go into the same arithmetic),
// qkv left as it was; and against a float64 host reference (rope in double, rounded to bf16 where the
// kernels store, then attention). Decode batches of 1..64 over contexts 1, 15, 16, 17, 127, 128, 129, 600,
// 4096 (partition and tile edges, the new token first and last in its block), head_dim 64 / 96 / 128 / 256,
// GQA 1 / 4 / 8 / 16, rotary_dim < head_dim, block sizes 8 / 16 / 32, shuffled block tables, graph-style
// padding sequences (slot -1), large positions; planned, unsplit and graph-sized plans; batch 256 of short
// contexts (a million q elements through the rotation: rope_neox.cuh's roundings, session 10's batch-64
// failure); the fused kernel run twice gives the same bits (no race). The new key's slot
// holds 1e30 before the step, so a block that loaded it before writing it fails the float64 check. A
// PDL-chain check (a slow producer writes qkv) and the refusals close it; a mutant input (one position
// + 1) must make the bit-for-bit checks fail, so they can.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "backend/cuda/fused_rope_decode.h"
#include "backend/cuda/kernels.h"
#include "pdl_chain.cuh"
#include "reference.h"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

struct Layout {
  int q_heads, kv_heads, head_dim, rotary_dim, block_size;
};

std::string tag_of(const Layout& l) {
  return "Hq " + std::to_string(l.q_heads) + " Hkv " + std::to_string(l.kv_heads) + " D " +
         std::to_string(l.head_dim) + " rot " + std::to_string(l.rotary_dim) + " bs " + std::to_string(l.block_size);
}

// One decode step on the host: every sequence has one new token (at position context_len - 1 +
// pos_offset), its context_len - 1 older keys in the cache, the new key's slot poisoned; `padding`
// sequences after the real ones look like a CUDA graph's (context 1, position 0, slot -1, table of zeros).
struct Step {
  int n = 0, real = 0, max_blocks = 0, num_blocks = 0;
  int64_t stride = 0, q_width = 0, kv_width = 0;
  std::vector<int> ctx;
  std::vector<float> qkv, k_cache, v_cache, inv_freq;
  std::vector<int32_t> positions, slots, query_start, context_lens, block_tables, ids;
};

Step make_step(const Layout& l, const std::vector<int>& ctxs, int padding, int pos_offset, std::mt19937& rng) {
  Step s;
  const int D = l.head_dim, bs = l.block_size;
  s.real = static_cast<int>(ctxs.size());
  s.n = s.real + padding;
  s.ctx = ctxs;
  for (int i = 0; i < padding; ++i) s.ctx.push_back(1);
  int max_ctx = 1, total = 3; // spare blocks
  for (int c : ctxs) {
    max_ctx = std::max(max_ctx, c);
    total += (c + bs - 1) / bs;
  }
  s.max_blocks = (max_ctx + bs - 1) / bs;
  s.num_blocks = total;
  std::vector<int32_t> pool(total);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  s.q_width = int64_t(l.q_heads) * D;
  s.kv_width = int64_t(l.kv_heads) * D;
  s.stride = s.q_width + 2 * s.kv_width;
  const size_t cache_elems = size_t(total) * l.kv_heads * bs * D;
  s.k_cache.assign(cache_elems, 1e30f); // never-written slots, the new keys' included
  s.v_cache.assign(cache_elems, 1e30f);
  s.block_tables.assign(size_t(s.n) * s.max_blocks, 0);
  s.qkv.resize(size_t(s.n) * s.stride);
  size_t next = 0;
  for (int q = 0; q < s.n; ++q) {
    const bool real = q < s.real;
    const int c = s.ctx[q];
    s.query_start.push_back(q);
    s.context_lens.push_back(c);
    s.ids.push_back(q);
    if (real)
      for (int b = 0; b < (c + bs - 1) / bs; ++b) s.block_tables[size_t(q) * s.max_blocks + b] = pool[next++];
    const std::vector<float> row_q = random_bf16_values(s.q_width, rng, 3.f);
    const std::vector<float> row_kv = random_bf16_values(2 * s.kv_width, rng, 1.f);
    std::copy(row_q.begin(), row_q.end(), s.qkv.begin() + size_t(q) * s.stride);
    std::copy(row_kv.begin(), row_kv.end(), s.qkv.begin() + size_t(q) * s.stride + s.q_width);
    s.positions.push_back(real ? c - 1 + pos_offset : 0);
    const int32_t* table = &s.block_tables[size_t(q) * s.max_blocks];
    s.slots.push_back(real ? table[(c - 1) / bs] * bs + (c - 1) % bs : -1);
    if (!real) continue;
    const std::vector<float> k = random_bf16_values(size_t(c - 1) * s.kv_width, rng, 1.f);
    const std::vector<float> v = random_bf16_values(size_t(c - 1) * s.kv_width, rng, 1.f);
    for (int t = 0; t + 1 < c; ++t)
      for (int h = 0; h < l.kv_heads; ++h)
        for (int d = 0; d < D; ++d) {
          const size_t dst = ((size_t(table[t / bs]) * l.kv_heads + h) * bs + t % bs) * D + d;
          s.k_cache[dst] = k[size_t(t) * s.kv_width + h * D + d];
          s.v_cache[dst] = v[size_t(t) * s.kv_width + h * D + d];
        }
  }
  s.query_start.push_back(s.n);
  s.inv_freq.resize(l.rotary_dim / 2);
  for (int i = 0; i < l.rotary_dim / 2; ++i)
    s.inv_freq[i] = static_cast<float>(1.0 / std::pow(500000.0, 2.0 * i / l.rotary_dim));
  return s;
}

// The step on the device: one set of inputs, and a (qkv, caches, out) set per path.
struct DeviceStep {
  DeviceBuffer positions, slots, query_start, context_lens, block_tables, ids, inv_freq;
  DeviceBuffer qkv, k_cache, v_cache, out;
  size_t out_elems = 0, cache_elems = 0;
};

void reset_path(const Step& s, DeviceStep& d) {
  d.qkv = upload_bf16(s.qkv);
  d.k_cache = upload_bf16(s.k_cache);
  d.v_cache = upload_bf16(s.v_cache);
  d.out_elems = size_t(s.n) * s.q_width;
  d.cache_elems = s.k_cache.size();
  d.out = DeviceBuffer(d.out_elems * 2);
  poison(d.out);
}

DeviceStep upload_step(const Step& s) {
  DeviceStep d;
  d.positions = upload(s.positions);
  d.slots = upload(s.slots);
  d.query_start = upload(s.query_start);
  d.context_lens = upload(s.context_lens);
  d.block_tables = upload(s.block_tables);
  d.ids = upload(s.ids);
  d.inv_freq = upload(s.inv_freq);
  reset_path(s, d);
  return d;
}

PagedAttentionArgs args_for(const Step& s, const Layout& l, const DeviceStep& d, const bf16* qkv) {
  PagedAttentionArgs a;
  a.q = qkv;
  a.q_token_stride = s.stride;
  a.k_cache = d.k_cache.as<bf16>();
  a.v_cache = d.v_cache.as<bf16>();
  a.out = const_cast<bf16*>(d.out.as<bf16>());
  a.query_start = d.query_start.as<int32_t>();
  a.context_lens = d.context_lens.as<int32_t>();
  a.block_tables = d.block_tables.as<int32_t>();
  a.max_blocks_per_seq = s.max_blocks;
  a.num_q_heads = l.q_heads;
  a.num_kv_heads = l.kv_heads;
  a.head_dim = l.head_dim;
  a.block_size = l.block_size;
  a.num_cache_blocks = s.num_blocks;
  a.scale = static_cast<float>(1.0 / std::sqrt(double(l.head_dim)));
  return a;
}

DecodeRopeArgs rope_for(const Step& s, const Layout& l, const DeviceStep& d, const bf16* qkv) {
  DecodeRopeArgs r;
  r.positions = d.positions.as<int32_t>();
  r.inv_freq = d.inv_freq.as<float>();
  r.rotary_dim = l.rotary_dim;
  r.slots = d.slots.as<int32_t>();
  r.k_new = qkv + s.q_width;
  r.v_new = qkv + s.q_width + s.kv_width;
  r.k_cache = const_cast<bf16*>(d.k_cache.as<bf16>());
  r.v_cache = const_cast<bf16*>(d.v_cache.as<bf16>());
  return r;
}

// Today's path on d (its qkv roped in place, as CudaOps does).
void run_reference(const Step& s, const Layout& l, DeviceStep& d, const DecodePlan& plan, DeviceBuffer& ws,
                   cudaStream_t stream) {
  bf16* qkv = d.qkv.as<bf16>();
  rope_neox(qkv, qkv + s.q_width, s.stride, d.positions.as<int32_t>(), d.inv_freq.as<float>(), s.n, l.q_heads,
            l.kv_heads, l.head_dim, l.rotary_dim, stream);
  kv_cache_write(qkv + s.q_width, qkv + s.q_width + s.kv_width, s.stride, d.slots.as<int32_t>(), d.k_cache.as<bf16>(),
                 d.v_cache.as<bf16>(), s.n, l.kv_heads, l.head_dim, l.block_size, stream);
  paged_attention_decode(args_for(s, l, d, qkv), d.ids.as<int32_t>(), s.n, plan, ws.data(), ws.bytes(), stream);
}

void run_fused(const Step& s, const Layout& l, DeviceStep& d, const DecodePlan& plan, DeviceBuffer& ws,
               cudaStream_t stream, const bf16* qkv = nullptr) {
  if (qkv == nullptr) qkv = d.qkv.as<bf16>();
  paged_attention_decode_rope(args_for(s, l, d, qkv), rope_for(s, l, d, qkv), d.ids.as<int32_t>(), s.n, plan,
                              ws.data(), ws.bytes(), stream);
}

size_t bits_differ(const DeviceBuffer& a, const DeviceBuffer& b, size_t count16) {
  const auto x = download<uint16_t>(a, count16), y = download<uint16_t>(b, count16);
  size_t n = 0;
  for (size_t i = 0; i < count16; ++i) n += x[i] != y[i];
  return n;
}

// Where two outputs ([token][q head][D] bf16) differ: "seq s head h: n dims, max k ulp" for the first few
// (sequence, head) rows. A race shows as whole rows or varies run to run; a rounding-order difference in
// the q rotation as a few dims of single heads, a few bf16 ulps apart, the same every run.
std::string where_differ(const DeviceBuffer& a, const DeviceBuffer& b, int seqs, int heads, int D) {
  const auto x = download<uint16_t>(a, size_t(seqs) * heads * D), y = download<uint16_t>(b, size_t(seqs) * heads * D);
  std::string out;
  int rows = 0;
  for (int q = 0; q < seqs; ++q)
    for (int h = 0; h < heads; ++h) {
      int n = 0, ulp = 0;
      for (int d = 0; d < D; ++d) {
        const size_t i = (size_t(q) * heads + h) * D + d;
        if (x[i] == y[i]) continue;
        ++n;
        ulp = std::max(ulp, std::abs(int(int16_t(x[i])) - int(int16_t(y[i]))));
      }
      if (n == 0) continue;
      if (rows++ < 6)
        out += "; seq " + std::to_string(q) + " head " + std::to_string(h) + ": " + std::to_string(n) + " dims, max " +
               std::to_string(ulp) + " ulp";
    }
  if (rows > 6) out += "; ... " + std::to_string(rows) + " rows in all";
  return out;
}

// Float64: q and the new k roped in double and rounded to bf16 (the kernels store bf16), attention over
// the old keys and the new one; the caches' new slots against the rounded roped k and v.
void check_float64(Checker& c, const Step& s, const Layout& l, const DeviceStep& fused, const std::string& what) {
  const int D = l.head_dim, bs = l.block_size;
  std::vector<double> roped(s.qkv.begin(), s.qkv.end());
  ref_rope(roped, s.stride, 0, s.q_width, s.positions, s.inv_freq, l.q_heads, l.kv_heads, D, l.rotary_dim);
  const std::vector<float> out = download_bf16(fused.out, fused.out_elems);
  const std::vector<float> kc = download_bf16(fused.k_cache, fused.cache_elems);
  const std::vector<float> vc = download_bf16(fused.v_cache, fused.cache_elems);
  std::vector<float> cache_got, cache_ref_f;
  std::vector<double> cache_ref;
  for (int q = 0; q < s.real; ++q) {
    const int ctx = s.ctx[q];
    const int32_t* table = &s.block_tables[size_t(q) * s.max_blocks];
    std::vector<float> qrow(s.q_width), k(size_t(ctx) * s.kv_width), v(size_t(ctx) * s.kv_width);
    for (int64_t e = 0; e < s.q_width; ++e) qrow[e] = round_bf16(float(roped[size_t(q) * s.stride + e]));
    for (int t = 0; t < ctx; ++t)
      for (int h = 0; h < l.kv_heads; ++h)
        for (int d = 0; d < D; ++d) {
          const size_t kv = size_t(t) * s.kv_width + h * D + d;
          if (t + 1 < ctx) {
            const size_t src = ((size_t(table[t / bs]) * l.kv_heads + h) * bs + t % bs) * D + d;
            k[kv] = s.k_cache[src];
            v[kv] = s.v_cache[src];
          } else {
            const size_t row = size_t(q) * s.stride + s.q_width + h * D + d;
            k[kv] = round_bf16(float(roped[row]));
            v[kv] = s.qkv[row + s.kv_width];
            const size_t slot = ((size_t(s.slots[q] / bs) * l.kv_heads + h) * bs + s.slots[q] % bs) * D + d;
            cache_got.push_back(kc[slot]);
            cache_ref.push_back(roped[row]);
            cache_got.push_back(vc[slot]);
            cache_ref.push_back(s.qkv[row + s.kv_width]);
          }
        }
    const std::vector<double> ref = ref_attention(qrow, k, v, 1, ctx, l.q_heads, l.kv_heads, D, 1.0 / std::sqrt(double(D)));
    const std::vector<float> got(out.begin() + size_t(q) * s.q_width, out.begin() + size_t(q + 1) * s.q_width);
    // bf16 P adds about 2^-9 relative per weight on top of the bf16 output rounding (paged_attention_test's limits).
    c.expect(what + " float64 seq " + std::to_string(q) + " ctx " + std::to_string(ctx), compare(got, ref), 1e-2, 3e-2);
  }
  // The cached k is the float32 rotation rounded once: within one bf16 step of the float64 one.
  c.expect(what + " new K/V in the cache vs float64", compare(cache_got, cache_ref), 4e-3, 1.6e-2);
}

void run_case(Checker& c, std::mt19937& rng, const Layout& l, const std::vector<int>& ctxs, int num_sms,
              int padding = 0, int pos_offset = 0) {
  const Step s = make_step(l, ctxs, padding, pos_offset, rng);
  const std::string tag = tag_of(l) + " batch " + std::to_string(s.real) + (padding ? " +pad" : "") +
                          (pos_offset ? " pos+" + std::to_string(pos_offset) : "");
  int max_ctx = 1;
  for (int x : s.ctx) max_ctx = std::max(max_ctx, x);
  const DecodePlan planned = plan_paged_attention_decode(s.n, l.kv_heads, l.q_heads, max_ctx, num_sms);
  const DecodePlan single{((max_ctx + 31) / 32) * 32, 1};
  const DecodePlan graph = plan_paged_attention_decode(s.n, l.kv_heads, l.q_heads, 4 * max_ctx, num_sms);
  DeviceStep ref = upload_step(s), fused = upload_step(s);
  bool first = true;
  for (const DecodePlan& plan : {planned, single, graph}) {
    const std::string what = tag + " part " + std::to_string(plan.partition_tokens) + "x" +
                             std::to_string(plan.max_partitions);
    const size_t ws_bytes = paged_attention_decode_workspace_bytes(plan, s.n, l.q_heads, l.head_dim);
    DeviceBuffer ws_r(std::max<size_t>(ws_bytes, 16)), ws_f(std::max<size_t>(ws_bytes, 16));
    poison(ws_r);
    poison(ws_f);
    reset_path(s, ref);
    reset_path(s, fused);
    run_reference(s, l, ref, plan, ws_r, 0);
    run_fused(s, l, fused, plan, ws_f, 0);
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    // Real sequences only: a padding sequence reads block 0's slot 0 (its table is zeros, as in a graph),
    // which a real sequence's block may be writing this very step in the fused kernel (kv_cache_write
    // wrote it before in the reference). Padding outputs are discarded by the engine.
    const size_t out_d = bits_differ(fused.out, ref.out, size_t(s.real) * s.q_width);
    const size_t k_d = bits_differ(fused.k_cache, ref.k_cache, fused.cache_elems);
    const size_t v_d = bits_differ(fused.v_cache, ref.v_cache, fused.cache_elems);
    c.expect_true(what + " = rope+kv_cache_write+decode bit for bit (out, K, V)", out_d + k_d + v_d == 0,
                  std::to_string(out_d) + " out, " + std::to_string(k_d) + " K, " + std::to_string(v_d) +
                      " V elements differ" +
                      (out_d ? where_differ(fused.out, ref.out, s.real, l.q_heads, l.head_dim) : std::string()));
    const auto qkv_now = download<uint16_t>(fused.qkv, s.qkv.size());
    const auto qkv_in = to_bf16(s.qkv);
    c.expect_true(what + " leaves qkv unroped", std::memcmp(qkv_now.data(), qkv_in.data(), qkv_in.size() * 2) == 0);
    if (first) check_float64(c, s, l, fused, what);
    first = false;
    // The fused kernel again on the same inputs, after the checks above saw the first run (whose new-key slots
    // held 1e30): its caches hold the new K/V now and it rewrites the same bits, so the same output bits, or
    // it races.
    const auto first_out = download<uint16_t>(fused.out, size_t(s.real) * s.q_width);
    run_fused(s, l, fused, plan, ws_f, 0);
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    c.expect_true(what + " fused run twice: the same output bits",
                  download<uint16_t>(fused.out, size_t(s.real) * s.q_width) == first_out);
  }
}

// A slow producer writes qkv right before the fused kernel (PDL): output and caches as without overlap.
void check_pdl_chain(Checker& c, std::mt19937& rng, int num_sms) {
  const Layout l{32, 8, 128, 128, 16};
  const Step s = make_step(l, {17, 600, 129, 1}, 0, 0, rng);
  const DecodePlan plan = plan_paged_attention_decode(s.n, l.kv_heads, l.q_heads, 600, num_sms);
  DeviceStep d = upload_step(s);
  DeviceBuffer ws(std::max<size_t>(paged_attention_decode_workspace_bytes(plan, s.n, l.q_heads, l.head_dim), 16));
  cudaStream_t stream;
  PAGODA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto launch = [&](const bf16* x, cudaStream_t st) { run_fused(s, l, d, plan, ws, st, x); };
  std::vector<uint16_t> k_want, v_want; // the caches after the no-overlap run on the new qkv
  auto reference = [&](const bf16* x, cudaStream_t st) {
    launch(x, st);
    PAGODA_CUDA_CHECK(cudaStreamSynchronize(st));
    k_want = download<uint16_t>(d.k_cache, d.cache_elems);
    v_want = download<uint16_t>(d.v_cache, d.cache_elems);
  };
  expect_pdl_chain_equal(c, "fused rope decode after a slow qkv producer (PDL chain)", s.qkv.size(), d.out,
                         d.out_elems * 2, launch, reference, rng, stream);
  // The chain's last run had the new qkv, as the expected run had: the caches must hold the same K/V.
  c.expect_true("PDL chain: the caches after the last rep = after the no-overlap run",
                download<uint16_t>(d.k_cache, d.cache_elems) == k_want &&
                    download<uint16_t>(d.v_cache, d.cache_elems) == v_want);
  PAGODA_CUDA_CHECK(cudaStreamDestroy(stream));
}

// The bit-for-bit check can fail: one sequence's position moved by one must change its output and K.
void check_mutant(Checker& c, std::mt19937& rng, int num_sms) {
  const Layout l{32, 8, 128, 128, 16};
  Step s = make_step(l, {17, 129}, 0, 0, rng);
  const DecodePlan plan = plan_paged_attention_decode(s.n, l.kv_heads, l.q_heads, 129, num_sms);
  const size_t ws_bytes = std::max<size_t>(paged_attention_decode_workspace_bytes(plan, s.n, l.q_heads, 128), 16);
  DeviceBuffer ws_r(ws_bytes), ws_f(ws_bytes);
  DeviceStep ref = upload_step(s);
  run_reference(s, l, ref, plan, ws_r, 0);
  s.positions[1] += 1;
  DeviceStep fused = upload_step(s);
  run_fused(s, l, fused, plan, ws_f, 0);
  const size_t out_d = bits_differ(fused.out, ref.out, fused.out_elems);
  const size_t k_d = bits_differ(fused.k_cache, ref.k_cache, fused.cache_elems);
  c.expect_true("mutant (position + 1 in one sequence) breaks the bit-for-bit check", out_d > 0 && k_d > 0,
                std::to_string(out_d) + " out, " + std::to_string(k_d) + " K elements differ");
}

void check_refusals(Checker& c, std::mt19937& rng, int num_sms) {
  const Layout l{32, 8, 128, 128, 16};
  const Step s = make_step(l, {20}, 0, 0, rng);
  DeviceStep d = upload_step(s);
  const DecodePlan plan = plan_paged_attention_decode(1, 8, 32, 20, num_sms);
  DeviceBuffer ws(std::max<size_t>(paged_attention_decode_workspace_bytes(plan, 1, 32, 128), 16));
  const bf16* qkv = d.qkv.as<bf16>();
  expect_refused(c, "refuses an fp8 KV cache", [&] {
    PagedAttentionArgs a = args_for(s, l, d, qkv);
    a.k_cache_fp8 = reinterpret_cast<const uint8_t*>(d.k_cache.data());
    a.v_cache_fp8 = reinterpret_cast<const uint8_t*>(d.v_cache.data());
    paged_attention_decode_rope(a, rope_for(s, l, d, qkv), d.ids.as<int32_t>(), 1, plan, ws.data(), ws.bytes(), 0);
  }, "bf16 KV cache");
  expect_refused(c, "refuses rotary_dim 120 (not a multiple of 16)", [&] {
    DecodeRopeArgs r = rope_for(s, l, d, qkv);
    r.rotary_dim = 120;
    paged_attention_decode_rope(args_for(s, l, d, qkv), r, d.ids.as<int32_t>(), 1, plan, ws.data(), ws.bytes(), 0);
  }, "not served");
  expect_refused(c, "refuses group 32 (two m-tiles)", [&] {
    PagedAttentionArgs a = args_for(s, l, d, qkv);
    a.num_kv_heads = 1;
    DecodeRopeArgs r = rope_for(s, l, d, qkv);
    paged_attention_decode_rope(a, r, d.ids.as<int32_t>(), 1, plan, ws.data(), ws.bytes(), 0);
  }, "not served");
}

} // namespace

int main() {
  skip_without_device("fused_rope_decode_test");
  std::mt19937 rng(777);
  Checker c;
  try {
    int num_sms = 0;
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, 0));
    const std::vector<int> edges = {1, 15, 16, 17, 127, 128, 129, 600, 4096};
    for (int ctx : {1, 16, 17, 129, 4096}) run_case(c, rng, {32, 8, 128, 128, 16}, {ctx}, num_sms); // batch 1
    run_case(c, rng, {32, 8, 128, 128, 16}, edges, num_sms);     // Llama-3-8B heads: group 4
    run_case(c, rng, {8, 8, 64, 64, 16}, edges, num_sms);        // MHA (group 1), head_dim 64
    run_case(c, rng, {32, 4, 128, 128, 32}, edges, num_sms);     // group 8, block size 32
    run_case(c, rng, {16, 1, 128, 128, 16}, edges, num_sms);     // group 16: 16-row m-tile
    run_case(c, rng, {32, 8, 128, 64, 16}, edges, num_sms);      // rotary_dim < head_dim
    run_case(c, rng, {16, 2, 96, 96, 16}, edges, num_sms);       // head_dim 96 (padded pitch), group 8
    run_case(c, rng, {8, 2, 256, 256, 16}, {1, 17, 600, 4096}, num_sms); // head_dim 256: q fragments in smem
    run_case(c, rng, {32, 8, 128, 128, 8}, {1, 8, 9, 17, 129, 600}, num_sms); // block size 8: tiles span blocks
    // Graph-style padding sequences and large positions (sincosf's slow path).
    run_case(c, rng, {32, 8, 128, 128, 16}, {5, 17, 300}, num_sms, 3);
    run_case(c, rng, {32, 8, 128, 128, 16}, {16, 129, 4096}, num_sms, 0, 120000);
    // Batch 64 (the planner leaves it unsplit), contexts drawn over the edges and between.
    {
      std::vector<int> many;
      std::uniform_int_distribution<int> len(1, 700);
      for (int i = 0; i < 64; ++i) many.push_back(i < 9 ? edges[i] : len(rng));
      run_case(c, rng, {32, 8, 128, 128, 16}, many, num_sms, 0);
      run_case(c, rng, {8, 8, 64, 64, 16}, many, num_sms, 0);
    }
    // Batch 256 of short contexts: a million q elements through the rotation, so a rotation that rounds
    // unlike rope.cu (about one bf16 in 65,536 apart; batch 64 had 262,144) shows; 0..40 covers the first
    // partitions' edges.
    {
      std::vector<int> many;
      std::uniform_int_distribution<int> len(1, 40);
      for (int i = 0; i < 256; ++i) many.push_back(len(rng));
      run_case(c, rng, {32, 8, 128, 128, 16}, many, num_sms, 0);
      run_case(c, rng, {32, 8, 128, 64, 16}, many, num_sms, 0, 70000);
    }
    check_pdl_chain(c, rng, num_sms);
    check_mutant(c, rng, num_sms);
    check_refusals(c, rng, num_sms);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("fused_rope_decode_test");
}
