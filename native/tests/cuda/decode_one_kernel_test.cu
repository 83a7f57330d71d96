// Checks the one-kernel decode (PAGODA_DECODE_ONE_KERNEL: the last block of each (sequence, KV head, m-tile)
// merges the partitions, decode_merge.cuh) against the two-kernel path (decode kernel + merge kernel) on the
// same inputs, bit for bit: the merge reads the same partials in the same order with the same roundings.
// Covered: batches 1..64, contexts 1..8192 (a single partition, partition edges, 64+ partitions), every
// head_dim the kernels are built for, GQA 1 / 4 / 8 / 16 / 32 (two m-tiles), block sizes 8 / 16 / 32, bf16
// and e4m3 KV, planned / graph-sized (4x context: idle partitions) / forced-split plans, cascade's prefix_slots
// (paged_attention_decode_after_prefix over synthetic prefix partials), the fused-RoPE kernel
// (paged_attention_decode_rope, writes its new K/V: both paths on their own caches). Every one-kernel run
// starts from a NaN-poisoned output, runs twice in a row (same bits) and must leave every counter 0; a
// captured CUDA graph of it is replayed twice (same bits, counters 0): the reset that graph replay needs.
// Too few counters must fall back to the two-kernel path (same bits).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "backend/cuda/decode_one_kernel.h"
#include "backend/cuda/kernels.h"
#include "model/fp8.h"
#include "test_support.h" // before the batch helpers, which use it
#include "device_paged_batch.h"
#include "paged_batch.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

constexpr size_t kCounters = 64 * 64; // batch 64 x 64 q heads at most here

struct Counters {
  DeviceBuffer buf{kCounters * sizeof(int32_t)};
  Counters() { PAGODA_CUDA_CHECK(cudaMemset(buf.data(), 0, buf.bytes())); }
  int32_t* ptr() const { return buf.as<int32_t>(); }
  bool all_zero() const {
    const auto v = download<int32_t>(buf, kCounters);
    return std::all_of(v.begin(), v.end(), [](int32_t x) { return x == 0; });
  }
};

// Codes an e4m3 cache may hold (no NaN): the e4m3 encoding of the bf16 values.
std::vector<uint8_t> to_fp8_codes(const std::vector<float>& v) {
  std::vector<uint8_t> codes(v.size());
  for (size_t i = 0; i < v.size(); ++i) codes[i] = pagoda::f32_to_fp8_e4m3(v[i]);
  return codes;
}

size_t bits_differ(const DeviceBuffer& a, const std::vector<uint16_t>& want) {
  const auto x = download<uint16_t>(a, want.size());
  size_t n = 0;
  for (size_t i = 0; i < want.size(); ++i) n += x[i] != want[i];
  return n;
}

enum class Path { kPlain, kPrefix, kRope };

struct Case {
  AttentionLayout lay;
  std::vector<int> ctxs;
  bool fp8 = false;
  Path path = Path::kPlain;
};

std::string name_of(const Case& k, const DevicePagedBatch<bf16>& d) {
  std::string s = d.tag + (k.fp8 ? " fp8 KV" : "") + " batch " + std::to_string(k.ctxs.size());
  if (k.path == Path::kPrefix) s += " +prefix slots";
  if (k.path == Path::kRope) s += " fused rope";
  return s;
}

// The inputs of one case on the device; run() launches the chosen path (one kernel when counters are given)
// into d.out with workspace ws.
struct Setup {
  PagedBatch batch;
  DevicePagedBatch<bf16> d;
  DeviceBuffer k_codes, v_codes, ids, positions, slots, inv_freq, k_cache0, v_cache0;
  PagedAttentionArgs args;
  int prefix_slots = 0;
  std::vector<float> prefix; // the prefix slots' part_out, then part_stats, as floats (synthetic partials)
};

void run(const Case& k, Setup& s, const DecodePlan& plan, DeviceBuffer& ws, cudaStream_t stream) {
  const int n = static_cast<int>(k.ctxs.size());
  const int32_t* ids = s.ids.as<int32_t>();
  if (k.path == Path::kPlain) {
    paged_attention_decode(s.args, ids, n, plan, ws.data(), ws.bytes(), stream);
  } else if (k.path == Path::kPrefix) {
    paged_attention_decode_after_prefix(s.args, ids, n, plan, s.prefix_slots, ws.data(), stream);
  } else {
    DecodeRopeArgs r;
    r.positions = s.positions.as<int32_t>();
    r.inv_freq = s.inv_freq.as<float>();
    r.rotary_dim = s.d.args.head_dim;
    r.slots = s.slots.as<int32_t>();
    r.k_new = s.d.args.q + s.d.args.num_q_heads * int64_t(s.d.args.head_dim);
    r.v_new = r.k_new + s.d.args.num_kv_heads * int64_t(s.d.args.head_dim);
    r.k_cache = const_cast<bf16*>(s.d.args.k_cache);
    r.v_cache = const_cast<bf16*>(s.d.args.v_cache);
    paged_attention_decode_rope(s.args, r, ids, n, plan, ws.data(), ws.bytes(), stream);
  }
}

// Workspace for a plan: the plain size, or the prefix layout's (prefix_slots + partitions slots a head).
size_t ws_bytes_for(const Case& k, const Setup& s, const DecodePlan& plan) {
  const int n = static_cast<int>(k.ctxs.size());
  const int D = k.lay.head_dim;
  if (k.path != Path::kPrefix) return std::max<size_t>(paged_attention_decode_workspace_bytes(plan, n, k.lay.q_heads, D), 16);
  const size_t slots = size_t(n) * k.lay.q_heads * (s.prefix_slots + plan.max_partitions);
  return slots * (sizeof(float) * D + sizeof(float2));
}

// Fills the prefix slots of every (sequence, head) with the synthetic partials (the rest poisoned).
void fill_workspace(const Case& k, const Setup& s, const DecodePlan& plan, DeviceBuffer& ws, std::mt19937& rng) {
  poison(ws);
  if (k.path != Path::kPrefix) return;
  const int n = static_cast<int>(k.ctxs.size());
  const int D = k.lay.head_dim, per_head = s.prefix_slots + plan.max_partitions;
  const size_t slots = size_t(n) * k.lay.q_heads * per_head;
  std::vector<float> out(slots * D, NAN), stats(slots * 2, NAN);
  std::uniform_real_distribution<float> o(-1.f, 1.f), m(-4.f, 6.f), l(1.f, 60.f);
  for (size_t h = 0; h < size_t(n) * k.lay.q_heads; ++h)
    for (int p = 0; p < s.prefix_slots; ++p) {
      const size_t slot = h * per_head + p;
      for (int d = 0; d < D; ++d) out[slot * D + d] = o(rng);
      stats[slot * 2] = m(rng);
      stats[slot * 2 + 1] = l(rng);
    }
  PAGODA_CUDA_CHECK(cudaMemcpy(ws.data(), out.data(), out.size() * 4, cudaMemcpyHostToDevice));
  PAGODA_CUDA_CHECK(cudaMemcpy(ws.as<char>() + out.size() * 4, stats.data(), stats.size() * 4, cudaMemcpyHostToDevice));
}

Setup make_setup(const Case& k, std::mt19937& rng) {
  Setup s;
  std::vector<SeqSpec> specs;
  for (int c : k.ctxs) specs.push_back({1, c});
  s.batch = make_paged_batch(k.lay, specs, rng, 3, [&](size_t n, float scale) { return random_bf16_values(n, rng, scale); },
                             /*with_refs=*/false);
  s.d = upload_paged_batch<bf16>(s.batch, k.lay);
  s.args = s.d.args;
  if (k.fp8) {
    s.k_codes = upload(to_fp8_codes(s.batch.k_cache));
    s.v_codes = upload(to_fp8_codes(s.batch.v_cache));
    s.args.k_cache_fp8 = s.k_codes.as<uint8_t>();
    s.args.v_cache_fp8 = s.v_codes.as<uint8_t>();
    s.args.k_scale = 0.5f;
    s.args.v_scale = 0.25f;
  }
  const int n = static_cast<int>(k.ctxs.size());
  std::vector<int32_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng); // workspace slots by position in the list, not by sequence
  s.ids = upload(ids);
  if (k.path == Path::kPrefix) s.prefix_slots = 3;
  if (k.path == Path::kRope) { // the new token at position context_len - 1, written to its own slot
    std::vector<int32_t> pos(n), slot(n);
    const int bs = k.lay.block_size;
    for (int q = 0; q < n; ++q) {
      const int c = k.ctxs[q];
      pos[q] = c - 1;
      slot[q] = s.batch.block_tables[size_t(q) * s.batch.max_blocks + (c - 1) / bs] * bs + (c - 1) % bs;
    }
    std::vector<float> inv(k.lay.head_dim / 2);
    for (size_t i = 0; i < inv.size(); ++i) inv[i] = float(1.0 / std::pow(10000.0, 2.0 * i / k.lay.head_dim));
    s.positions = upload(pos);
    s.slots = upload(slot);
    s.inv_freq = upload(inv);
    s.k_cache0 = upload_bf16(s.batch.k_cache);
    s.v_cache0 = upload_bf16(s.batch.v_cache);
  }
  return s;
}

// The fused-RoPE kernel writes the caches: each run starts from the same ones.
void restore_caches(const Case& k, Setup& s) {
  if (k.path != Path::kRope) return;
  PAGODA_CUDA_CHECK(cudaMemcpy(s.d.k_cache.data(), s.k_cache0.data(), s.k_cache0.bytes(), cudaMemcpyDeviceToDevice));
  PAGODA_CUDA_CHECK(cudaMemcpy(s.d.v_cache.data(), s.v_cache0.data(), s.v_cache0.bytes(), cudaMemcpyDeviceToDevice));
}

void run_case(Checker& c, std::mt19937& rng, const Case& k, Counters& counters, int num_sms, bool with_graph) {
  Setup s = make_setup(k, rng);
  const std::string tag = name_of(k, s.d);
  const int n = static_cast<int>(k.ctxs.size());
  int max_ctx = 1;
  for (int x : k.ctxs) max_ctx = std::max(max_ctx, x);
  const DecodePlan planned = plan_paged_attention_decode(n, k.lay.kv_heads, k.lay.q_heads, max_ctx, num_sms);
  const DecodePlan graph = plan_paged_attention_decode(n, k.lay.kv_heads, k.lay.q_heads, 4 * max_ctx, num_sms);
  const DecodePlan split{64, (max_ctx + 63) / 64};
  const size_t out16 = s.d.out_elems;
  for (const DecodePlan& plan : {planned, graph, split}) {
    const std::string what = tag + " part " + std::to_string(plan.partition_tokens) + "x" +
                             std::to_string(plan.max_partitions);
    DeviceBuffer ws(ws_bytes_for(k, s, plan));
    // The two-kernel path (no counters in scope).
    fill_workspace(k, s, plan, ws, rng);
    const std::vector<float> ws_host = download<float>(ws, ws.bytes() / 4);
    auto refill = [&] { PAGODA_CUDA_CHECK(cudaMemcpy(ws.data(), ws_host.data(), ws.bytes(), cudaMemcpyHostToDevice)); };
    restore_caches(k, s);
    poison(s.d.out);
    run(k, s, plan, ws, 0);
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    const auto want = download<uint16_t>(s.d.out, out16);
    // One kernel, twice in a row (the second run sees the counters the first reset).
    for (int rep = 0; rep < 2; ++rep) {
      refill();
      restore_caches(k, s);
      poison(s.d.out);
      {
        const DecodeMergeCounters scope(counters.ptr(), kCounters);
        run(k, s, plan, ws, 0);
      }
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
      const size_t diff = bits_differ(s.d.out, want);
      c.expect_true(what + " one kernel run " + std::to_string(rep + 1) + " = two kernels bit for bit", diff == 0,
                    std::to_string(diff) + " of " + std::to_string(out16) + " outputs differ");
      c.expect_true(what + " counters back to 0 after run " + std::to_string(rep + 1), counters.all_zero());
    }
    if (!with_graph) continue;
    // Captured once, replayed twice: the counters must be 0 again before each replay.
    cudaStream_t stream;
    PAGODA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cudaGraph_t g = nullptr;
    PAGODA_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    {
      const DecodeMergeCounters scope(counters.ptr(), kCounters);
      run(k, s, plan, ws, stream);
    }
    PAGODA_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
    cudaGraphExec_t exec = nullptr;
    PAGODA_CUDA_CHECK(cudaGraphInstantiate(&exec, g, 0));
    for (int rep = 0; rep < 2; ++rep) {
      refill();
      restore_caches(k, s);
      poison(s.d.out);
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize()); // the copies above ran on the legacy stream
      PAGODA_CUDA_CHECK(cudaGraphLaunch(exec, stream));
      PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
      const size_t diff = bits_differ(s.d.out, want);
      c.expect_true(what + " graph replay " + std::to_string(rep + 1) + " = two kernels bit for bit", diff == 0,
                    std::to_string(diff) + " of " + std::to_string(out16) + " outputs differ");
      c.expect_true(what + " counters back to 0 after replay " + std::to_string(rep + 1), counters.all_zero());
    }
    PAGODA_CUDA_CHECK(cudaGraphExecDestroy(exec));
    PAGODA_CUDA_CHECK(cudaGraphDestroy(g));
    PAGODA_CUDA_CHECK(cudaStreamDestroy(stream));
  }
}

// Too few counters for a launch: the two-kernel path, same bits, counters untouched.
void check_fallback(Checker& c, std::mt19937& rng, Counters& counters, int num_sms) {
  const Case k{{32, 8, 128, 16}, {300, 2000}};
  Setup s = make_setup(k, rng);
  const DecodePlan plan = plan_paged_attention_decode(2, 8, 32, 2000, num_sms);
  DeviceBuffer ws(ws_bytes_for(k, s, plan));
  poison(s.d.out);
  run(k, s, plan, ws, 0);
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
  const auto want = download<uint16_t>(s.d.out, s.d.out_elems);
  poison(s.d.out);
  {
    const DecodeMergeCounters scope(counters.ptr(), 15); // 2 sequences x 8 KV heads need 16
    run(k, s, plan, ws, 0);
  }
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
  c.expect_true("15 counters for 16 (sequence, KV head)s: the two-kernel path, same bits",
                bits_differ(s.d.out, want) == 0 && counters.all_zero());
}

} // namespace

int main() {
  skip_without_device("decode_one_kernel_test");
  std::mt19937 rng(4242);
  Checker c;
  try {
    int num_sms = 0;
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, 0));
    Counters counters;
    const AttentionLayout llama{32, 8, 128, 16};
    // Batch 1 (the case the switch is for), Llama-3-8B's heads, contexts 1..8192, with graph replays.
    for (int ctx : {1, 63, 64, 65, 577, 2048, 4097, 8192})
      for (bool fp8 : {false, true}) run_case(c, rng, {llama, {ctx}, fp8}, counters, num_sms, true);
    for (int ctx : {1, 600, 8192}) {
      run_case(c, rng, {llama, {ctx}, false, Path::kPrefix}, counters, num_sms, true);
      run_case(c, rng, {llama, {ctx}, false, Path::kRope}, counters, num_sms, true);
    }
    // Batches 2..64 with mixed contexts.
    const std::vector<int> edges = {1, 15, 16, 17, 64, 65, 127, 128, 129, 600, 1000, 3000};
    for (int batch : {2, 7, 16, 64}) {
      std::vector<int> ctxs;
      std::uniform_int_distribution<int> len(1, batch >= 16 ? 1500 : 5000);
      for (int i = 0; i < batch; ++i) ctxs.push_back(i < int(edges.size()) ? edges[i] : len(rng));
      for (bool fp8 : {false, true}) run_case(c, rng, {llama, ctxs, fp8}, counters, num_sms, batch == 7);
      run_case(c, rng, {llama, ctxs, false, Path::kPrefix}, counters, num_sms, false);
      run_case(c, rng, {llama, ctxs, false, Path::kRope}, counters, num_sms, batch == 16);
    }
    // Every head_dim, and the groups / block sizes around Llama's: MHA, 8, 16 (16-row m-tile), 32 (two m-tiles).
    for (int D : cuda_head_dims()) {
      run_case(c, rng, {{8, 2, D, 16}, {1, 200, 1500}}, counters, num_sms, false);
      run_case(c, rng, {{8, 2, D, 16}, {1, 200, 1500}, true}, counters, num_sms, false);
    }
    run_case(c, rng, {{16, 16, 64, 16}, {5, 700, 3000}}, counters, num_sms, false);   // MHA, head_dim 64
    run_case(c, rng, {{32, 4, 128, 32}, {5, 700, 3000}}, counters, num_sms, false);   // group 8, block 32
    run_case(c, rng, {{16, 1, 128, 16}, {5, 700, 3000}}, counters, num_sms, false);   // group 16
    run_case(c, rng, {{32, 1, 128, 16}, {5, 700, 3000}}, counters, num_sms, false);   // group 32: two m-tiles
    run_case(c, rng, {{32, 8, 128, 8}, {9, 129, 2500}}, counters, num_sms, false);    // block 8: tiles span blocks
    run_case(c, rng, {{16, 8, 64, 16}, {9, 129, 2500}, false, Path::kRope}, counters, num_sms, false);
    run_case(c, rng, {{16, 2, 64, 16}, {9, 129, 2500}, false, Path::kPrefix}, counters, num_sms, false);
    check_fallback(c, rng, counters, num_sms);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("decode_one_kernel_test");
}
