// Checks the Hopper (wgmma) prefill attention kernel (paged_attention_prefill_wgmma): first its two
// matrix products alone in a one-warpgroup probe (the layouts and descriptors), then the kernel
// against the float64 reference on random K/V scattered through shuffled block tables: several
// sequences in one launch, chunked prefill (context > query), MHA and GQA 4 / 8, query lengths that
// are not multiples of the 64-row tile or the 128-row CTA, block sizes 8, 16, 32 and 256 (TMA boxes of
// 8 rows up to whole 128-key tiles of one block), head_dim 64, 128 and 256, every schedule (simple
// with 2 and 3-4 K/V stages, overlap, simple-tma, pingpong with TMA and with cp.async, pingpong-lazy
// (bit for bit pingpong) and pingpong-two-issuers (the default, bit for bit too); head_dim 256 runs simple only),
// the TMA ones also without a block count (their cp.async fallback); the head_dims without a layout of their own
// (32 / 48 at 64, 80 / 96 / 112 at 128, 160 at 256: kPaddedHead; the test sets PAGODA_PREFILL_WGMMA_PADDED=1 so 160
// runs too), whatever the schedule named, against the reference;
// 8k contexts against the float32 GPU kernel (paged_attention_f32). Outputs are poisoned first, so a
// row the kernel never writes fails. Also: PAGODA_PREFILL_WGMMA=1 routes paged_attention_prefill to
// this kernel (bit for bit the same output), and a reference one key off the causal mask is told
// apart. Skips (passing) without an sm_90 device or an sm_90a build.
#include <cstdlib>
#include <cstring>

#include "backend/cuda/attention_prefill_wgmma_plan.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/wgmma.cuh"
#include "test_support.h"
#include "device_paged_batch.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace wp = pagoda::cuda::wgmma_prefill;

// The two products alone, one warpgroup, the kernel's layouts and descriptors: S = A K^T (A 64 x D
// and K N x D, both K-major through the swizzled layout; N = the kernel's keys per tile) and O = P V
// (P 64 x N from registers as the A fragment, V N x D read N-major). Run first, so that a wrong
// layout reading shows as "S" or "O" here rather than as a wrong attention further down.
template <int D>
__global__ void __launch_bounds__(128) wgmma_layout_probe(const bf16* a, const bf16* k, const bf16* v, const bf16* p,
                                                          float* s_out, float* o_out) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int N = wp::keys_per_tile(D);
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t base = (smem_u32(smem_raw) + 1023) & ~1023u;
  const uint32_t sa = base, sk = base + 64 * D * 2, sv = sk + N * D * 2;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid & 31;
  for (int i = tid; i < 64 * D / 8; i += 128)
    cp_async_16(sa + wp::swizzled_offset(64, i / (D / 8), i % (D / 8)), a + i * 8, true);
  for (int i = tid; i < N * D / 8; i += 128) {
    cp_async_16(sk + wp::swizzled_offset(N, i / (D / 8), i % (D / 8)), k + i * 8, true);
    cp_async_16(sv + wp::swizzled_offset(N, i / (D / 8), i % (D / 8)), v + i * 8, true);
  }
  cp_async_commit();
  cp_async_wait<0>();
  fence_proxy_async_shared();
  __syncthreads();
  float s[N / 2];
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const uint64_t da = wp::k_major_descriptor(sa, 64, kk), db = wp::k_major_descriptor(sk, N, kk);
    if constexpr (N == 128) wgmma_m64n128k16_ss(s, da, db, kk > 0);
    else wgmma_m64n64k16_ss(s, da, db, kk > 0);
  }
  wgmma_commit();
  wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < N / 2; ++i) {
    wgmma_fence_operand(s[i]);
    s_out[wp::acc_row(warp, lane, i) * N + wp::acc_col(lane, i)] = s[i];
  }
  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.f;
#pragma unroll
  for (int kk = 0; kk < N / 16; ++kk) {
    uint32_t frag[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const bf16* row = p + wp::a_frag_row(warp, lane, j) * N + 16 * kk;
      frag[j] = pack_bf16(__bfloat162float(row[wp::a_frag_col(lane, j, 0)]), __bfloat162float(row[wp::a_frag_col(lane, j, 1)]));
    }
    wgmma_fence(); // frag was just written
    const uint64_t dv = wp::n_major_descriptor(sv, N, kk);
    if constexpr (D == 256) wgmma_m64n256k16_rs_ntrans(o, frag, dv);
    else if constexpr (D == 128) wgmma_m64n128k16_rs_ntrans(o, frag, dv);
    else wgmma_m64n64k16_rs_ntrans(o, frag, dv);
    wgmma_commit();
    wgmma_wait<0>(); // frag is reused by the next step
  }
#pragma unroll
  for (int i = 0; i < D / 2; ++i) {
    wgmma_fence_operand(o[i]);
    o_out[wp::acc_row(warp, lane, i) * D + wp::acc_col(lane, i)] = o[i];
  }
#endif
}

template <int D> void check_layout_probe(Checker& c, std::mt19937& rng) {
  constexpr int N = wp::keys_per_tile(D);
  const std::vector<float> a = random_bf16_values(64 * D, rng, 1.f), k = random_bf16_values(N * D, rng, 1.f),
                           v = random_bf16_values(N * D, rng, 1.f), p = random_bf16_values(64 * N, rng, 1.f);
  auto da = upload_bf16(a), dk = upload_bf16(k), dv = upload_bf16(v), dp = upload_bf16(p);
  DeviceBuffer ds(64 * N * 4), dout(64 * D * 4);
  poison(ds);
  poison(dout);
  const int smem = (64 + 2 * N) * D * 2 + 1024;
  PAGODA_CUDA_CHECK(cudaFuncSetAttribute(wgmma_layout_probe<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  wgmma_layout_probe<D><<<1, 128, smem>>>(da.as<bf16>(), dk.as<bf16>(), dv.as<bf16>(), dp.as<bf16>(), ds.as<float>(),
                                          dout.as<float>());
  PAGODA_CUDA_CHECK_LAUNCH("wgmma_layout_probe");
  const std::vector<float> s = download<float>(ds, 64 * N), o = download<float>(dout, 64 * D);
  std::vector<double> s_ref(64 * N), o_ref(64 * D);
  for (int r = 0; r < 64; ++r) {
    for (int n = 0; n < N; ++n)
      for (int e = 0; e < D; ++e) s_ref[r * N + n] += double(a[r * D + e]) * k[n * D + e];
    for (int e = 0; e < D; ++e)
      for (int n = 0; n < N; ++n) o_ref[r * D + e] += double(p[r * N + n]) * v[n * D + e];
  }
  // f32 accumulation of exact bf16 products: far under 1e-5.
  c.expect("wgmma layout probe D " + std::to_string(D) + ": S = Q K^T (K-major SW128 descriptors)", compare(s, s_ref),
           1e-5, 1e-3);
  c.expect("wgmma layout probe D " + std::to_string(D) + ": O = P V (P in registers, V N-major)", compare(o, o_ref), 1e-5,
           1e-3);
}

namespace {

std::vector<PrefillTile> planner_tiles(const std::vector<SeqSpec>& seqs) {
  std::vector<PrefillTile> tiles; // as step_inputs.cpp plans them: every 64-row tile of each sequence
  for (int s = 0; s < static_cast<int>(seqs.size()); ++s)
    for (int r = 0; r < seqs[s].query_len; r += kPrefillTileRows) tiles.push_back({s, r});
  return tiles;
}

size_t bits_differ(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

// One K or V row sequence of sequence s, gathered back out of the paged cache ([ctx, kv_heads, D]).
std::vector<float> gather(const PagedBatch& b, const std::vector<float>& cache, const AttentionLayout& lay, int s,
                          int ctx) {
  const int D = lay.head_dim;
  std::vector<float> out(size_t(ctx) * lay.kv_heads * D);
  for (int t = 0; t < ctx; ++t) {
    const int blk = b.block_tables[size_t(s) * b.max_blocks + t / lay.block_size];
    for (int h = 0; h < lay.kv_heads; ++h)
      for (int d = 0; d < D; ++d)
        out[(size_t(t) * lay.kv_heads + h) * D + d] =
            cache[((size_t(blk) * lay.kv_heads + h) * lay.block_size + t % lay.block_size) * D + d];
  }
  return out;
}

void run_case(Checker& c, std::mt19937& rng, const AttentionLayout& lay, const std::vector<SeqSpec>& seqs,
              bool wrong_mask_check = false) {
  const PagedBatch batch = make_paged_batch(lay, seqs, rng, 5, [&](size_t n, float scale) {
    return random_bf16_values(n, rng, scale);
  });
  DevicePagedBatch<bf16> d = upload_paged_batch<bf16>(batch, lay);
  const std::vector<PrefillTile> tiles = planner_tiles(seqs);
  auto d_tiles = upload(tiles);
  const int n = static_cast<int>(tiles.size());
  std::vector<float> first, simple, deep, pingpong;
  PagedAttentionArgs no_count = d.args; // the TMA schedules' cp.async fallback
  no_count.num_cache_blocks = 0;
  static constexpr WgmmaPrefillSchedule kRuns[] = {
      WgmmaPrefillSchedule::kDefault,      WgmmaPrefillSchedule::kSimple,          WgmmaPrefillSchedule::kSimpleDeep,
      WgmmaPrefillSchedule::kOverlap,      WgmmaPrefillSchedule::kSimpleTma,       WgmmaPrefillSchedule::kPingpong,
      WgmmaPrefillSchedule::kPingpongCpAsync, WgmmaPrefillSchedule::kPingpongLazy,
      WgmmaPrefillSchedule::kPingpongTwoIssuers,
      // without a block count (the cp.async fallbacks) from here on
      WgmmaPrefillSchedule::kSimpleTma,    WgmmaPrefillSchedule::kPingpong,        WgmmaPrefillSchedule::kPingpongLazy};
  constexpr int kFirstFallback = 9;
  for (int run = 0; run < static_cast<int>(sizeof kRuns / sizeof kRuns[0]); ++run) {
    const WgmmaPrefillSchedule schedule = kRuns[run];
    const bool fallback = run >= kFirstFallback;
    const std::string name = std::string(wgmma_prefill_schedule_name(schedule)) + (fallback ? " (no block count)" : "");
    poison(d.out);
    paged_attention_prefill_wgmma(fallback ? no_count : d.args, d_tiles.as<PrefillTile>(), n, 0, schedule);
    PAGODA_CUDA_CHECK(cudaGetLastError());
    const std::vector<float> out = download_bf16(d.out, d.out_elems);
    for (size_t s = 0; s < seqs.size(); ++s) {
      std::vector<float> got(out.begin() + size_t(batch.query_start[s]) * batch.q_width,
                             out.begin() + size_t(batch.query_start[s + 1]) * batch.q_width);
      c.expect("wgmma prefill " + name + " " + d.tag + " q " + std::to_string(seqs[s].query_len) + " ctx " +
                   std::to_string(seqs[s].context_len),
               compare(got, batch.refs[s]), 1.2e-2, 3e-2);
    }
    if (first.empty()) first = out;
    // The ring depth changes no arithmetic: simple and simple-deep agree bit for bit.
    // The producer changes no arithmetic either: TMA or cp.async, the same bits.
    if (schedule == WgmmaPrefillSchedule::kSimple) simple = out;
    if (schedule == WgmmaPrefillSchedule::kSimpleDeep) {
      deep = out;
      c.expect_true("wgmma prefill " + d.tag + ": simple = simple-deep bit for bit", bits_differ(simple, out) == 0);
    }
    if (schedule == WgmmaPrefillSchedule::kSimpleTma)
      c.expect_true("wgmma prefill " + d.tag + ": " + name + " = simple-deep bit for bit", bits_differ(deep, out) == 0);
    if (schedule == WgmmaPrefillSchedule::kPingpong && !fallback) pingpong = out;
    // The lazy rescale skips only multiplies by exactly 1: the same bits as pingpong. Two issuers land the same
    // bytes in the same places.
    const bool pingpong_twin = schedule == WgmmaPrefillSchedule::kPingpongCpAsync ||
                               schedule == WgmmaPrefillSchedule::kPingpongLazy ||
                               schedule == WgmmaPrefillSchedule::kPingpongTwoIssuers ||
                               (schedule == WgmmaPrefillSchedule::kPingpong && fallback);
    if (pingpong_twin)
      c.expect_true("wgmma prefill " + d.tag + ": " + name + " = pingpong bit for bit", bits_differ(pingpong, out) == 0);
  }
  // The default (run first) is pingpong-two-issuers: pingpong's bits too.
  c.expect_true("wgmma prefill " + d.tag + ": default = pingpong bit for bit", bits_differ(pingpong, first) == 0);
  // The switch: paged_attention_prefill takes this kernel's default schedule (same output, bit for bit).
  poison(d.out);
  paged_attention_prefill(d.args, d_tiles.as<PrefillTile>(), n, 0);
  const std::vector<float> routed = download_bf16(d.out, d.out_elems);
  const size_t differ = bits_differ(first, routed);
  c.expect_true("PAGODA_PREFILL_WGMMA=1: paged_attention_prefill runs the wgmma kernel " + d.tag, differ == 0,
                std::to_string(differ) + " differ");
  if (!wrong_mask_check) return;
  // A reference one key late (every row also sees the next position's key) must not pass. Checked on
  // fresh prefills, where the first rows see a handful of keys, so one more moves their output a lot
  // (after a long cached prefix one key in thousands moves a row by ~1/sqrt(n), near the tolerance).
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int q_len = seqs[s].query_len, ctx = seqs[s].context_len;
    if (ctx != q_len) continue;
    std::vector<float> k = gather(batch, batch.k_cache, lay, int(s), ctx), v = gather(batch, batch.v_cache, lay, int(s), ctx);
    const std::vector<float> extra = random_bf16_values(size_t(2) * lay.kv_heads * lay.head_dim, rng, 1.f);
    k.insert(k.end(), extra.begin(), extra.begin() + lay.kv_heads * lay.head_dim);
    v.insert(v.end(), extra.begin() + lay.kv_heads * lay.head_dim, extra.end());
    std::vector<float> q(size_t(q_len) * batch.q_width);
    for (int i = 0; i < q_len; ++i)
      std::copy_n(&batch.qkv[size_t(batch.query_start[s] + i) * batch.stride], batch.q_width, &q[size_t(i) * batch.q_width]);
    // Positions shifted by one: row i sits at ctx - q_len + i + 1 and sees one key more.
    const std::vector<double> late = ref_attention(q, k, v, q_len, ctx + 1, lay.q_heads, lay.kv_heads, lay.head_dim,
                                                   1.0 / std::sqrt(double(lay.head_dim)));
    std::vector<float> got(first.begin() + size_t(batch.query_start[s]) * batch.q_width,
                           first.begin() + size_t(batch.query_start[s + 1]) * batch.q_width);
    const ErrorStats e = compare(got, late);
    c.expect_true("a reference with the mask one key late is told apart " + d.tag + " q " + std::to_string(q_len),
                  e.rel_l2 > 1.2e-2, "rel_l2 " + std::to_string(e.rel_l2));
  }
}

// Long contexts: the float64 reference would take minutes on the CPU, so the float32 GPU kernel
// (one block per token and head, plainly written) is the reference here.
void run_long_case(Checker& c, std::mt19937& rng, const AttentionLayout& lay, const std::vector<SeqSpec>& seqs) {
  const PagedBatch batch = make_paged_batch(
      lay, seqs, rng, 5, [&](size_t n, float scale) { return random_bf16_values(n, rng, scale); }, false);
  DevicePagedBatch<bf16> d = upload_paged_batch<bf16>(batch, lay);
  DevicePagedBatch<float> f = upload_paged_batch<float>(batch, lay);
  const std::vector<PrefillTile> tiles = planner_tiles(seqs);
  auto d_tiles = upload(tiles);
  poison(f.out);
  paged_attention_f32(f.args, batch.num_tokens, static_cast<int>(seqs.size()), 0);
  const std::vector<float> ref32 = download<float>(f.out, f.out_elems);
  std::vector<float> pingpong;
  for (WgmmaPrefillSchedule schedule :
       {WgmmaPrefillSchedule::kSimple, WgmmaPrefillSchedule::kOverlap, WgmmaPrefillSchedule::kSimpleTma,
        WgmmaPrefillSchedule::kPingpong, WgmmaPrefillSchedule::kPingpongLazy, WgmmaPrefillSchedule::kPingpongTwoIssuers}) {
    poison(d.out);
    paged_attention_prefill_wgmma(d.args, d_tiles.as<PrefillTile>(), static_cast<int>(tiles.size()), 0, schedule);
    PAGODA_CUDA_CHECK(cudaGetLastError());
    const std::vector<float> out = download_bf16(d.out, d.out_elems);
    if (schedule == WgmmaPrefillSchedule::kPingpong) pingpong = out;
    if (schedule == WgmmaPrefillSchedule::kPingpongLazy || schedule == WgmmaPrefillSchedule::kPingpongTwoIssuers)
      c.expect_true(std::string("wgmma prefill ") + wgmma_prefill_schedule_name(schedule) + " = pingpong bit for bit " +
                        d.tag + " (8k)",
                    bits_differ(pingpong, out) == 0);
    for (size_t s = 0; s < seqs.size(); ++s) {
      const size_t lo = size_t(batch.query_start[s]) * batch.q_width, hi = size_t(batch.query_start[s + 1]) * batch.q_width;
      std::vector<float> got(out.begin() + lo, out.begin() + hi);
      std::vector<double> ref(ref32.begin() + lo, ref32.begin() + hi);
      c.expect(std::string("wgmma prefill ") + wgmma_prefill_schedule_name(schedule) + " vs f32 kernel " + d.tag +
                   " q " + std::to_string(seqs[s].query_len) + " ctx " + std::to_string(seqs[s].context_len),
               compare(got, ref), 1.2e-2, 3e-2);
    }
  }
}

// Fresh prefills, chunked prefill after a cached prefix, one-token and tile-edge query lengths (64 / 128 / 129 rows:
// one or two warpgroups, one or two CTAs), several sequences per launch.
const std::vector<SeqSpec> kMixed = {{100, 100}, {70, 300}, {1, 1}, {5, 200}, {130, 130},
                                     {64, 64},   {128, 128}, {129, 500}, {257, 257}, {1, 3000}};

// The head_dims with a layout of their own (64, 128, 256): every schedule.
void layout_cases(Checker& c, std::mt19937& rng) {
  check_layout_probe<128>(c, rng);
  check_layout_probe<64>(c, rng);
  check_layout_probe<256>(c, rng);
  run_case(c, rng, {32, 8, 128, 16}, kMixed, true); // Llama-3-8B heads, GQA 4
  run_case(c, rng, {32, 8, 128, 32}, kMixed);       // block size 32
  run_case(c, rng, {16, 2, 128, 16}, kMixed);       // GQA 8
  run_case(c, rng, {16, 2, 128, 8}, kMixed);        // block size 8: TMA boxes of 8 rows
  run_case(c, rng, {8, 2, 128, 256}, {{333, 333}, {190, 1100}, {1, 600}}); // a block holds two key tiles
  run_case(c, rng, {8, 2, 64, 8}, {{333, 333}, {190, 1100}, {3, 77}});
  run_case(c, rng, {4, 4, 128, 32}, {{333, 333}, {190, 1100}}); // MHA
  run_case(c, rng, {32, 8, 64, 16}, kMixed, true);  // head_dim 64
  run_case(c, rng, {16, 2, 64, 32}, {{333, 333}, {190, 1100}, {3, 77}});
  run_case(c, rng, {8, 1, 128, 32}, {{130, 8192}, {63, 4100}}); // long context, chunked (GQA 8)
  run_case(c, rng, {16, 4, 256, 16}, kMixed, true);  // head_dim 256: tiles of 64 keys, simple only
  run_case(c, rng, {8, 1, 256, 32}, {{333, 333}, {190, 1100}, {3, 77}});
  // 8k contexts in full against the float32 kernel.
  run_long_case(c, rng, {8, 2, 128, 16}, {{8192, 8192}});
  run_long_case(c, rng, {8, 1, 128, 32}, {{2000, 8192}, {1000, 1000}});
  run_long_case(c, rng, {8, 2, 64, 16}, {{8192, 8192}});
  run_long_case(c, rng, {4, 1, 256, 16}, {{8192, 8192}});
}

// The others, at the next layout up (kPaddedHead).
void padded_cases(Checker& c, std::mt19937& rng) {
  // Padded head_dims: every schedule name runs the one padded kernel (so its twins agree by construction); the
  // float64 reference decides, and the routed call (paged_attention_prefill) must give the same bits.
  run_case(c, rng, {32, 8, 96, 16}, kMixed, true); // Phi-3's head_dim, GQA 4
  run_case(c, rng, {16, 2, 80, 16}, kMixed);
  run_case(c, rng, {8, 2, 32, 16}, {{333, 333}, {190, 1100}, {3, 77}});
  run_case(c, rng, {8, 2, 48, 32}, {{333, 333}, {190, 1100}, {3, 77}});
  run_case(c, rng, {8, 1, 112, 8}, {{333, 333}, {190, 1100}, {3, 77}});  // block size 8
  run_case(c, rng, {8, 1, 160, 16}, {{333, 333}, {190, 1100}, {3, 77}}); // at 256: tiles of 64 keys
  run_long_case(c, rng, {8, 2, 96, 16}, {{8192, 8192}});
}
} // namespace

int main() {
  skip_without_device("paged_attention_wgmma_test");
  // Before the first paged_attention_prefill call: the switch is read once.
  setenv("PAGODA_PREFILL_WGMMA", "1", 1);
  setenv("PAGODA_PREFILL_WGMMA_PADDED", "1", 1);
  PagedAttentionArgs probe;
  probe.head_dim = 128;
  if (!paged_attention_prefill_wgmma_supported(probe)) {
    std::printf("paged_attention_wgmma_test: skipped (needs an sm_90 device and a build for sm_90a)\n");
    return 0;
  }
  // PAGODA_WGMMA_TEST_CASES: "layouts" (the head_dims with a layout of their own: the gate of a device call that
  // times them), "padded" (the others), unset: both.
  const char* which = std::getenv("PAGODA_WGMMA_TEST_CASES");
  const bool layouts = which == nullptr || std::strcmp(which, "padded") != 0;
  const bool padded = which == nullptr || std::strcmp(which, "layouts") != 0;
  std::mt19937 rng(2020);
  Checker c;
  try {
    if (layouts) layout_cases(c, rng);
    if (padded) padded_cases(c, rng);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("paged_attention_wgmma_test");
}
