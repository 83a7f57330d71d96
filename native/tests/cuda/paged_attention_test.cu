// Checks paged attention (prefill / chunked prefill and split-K decode) against the CPU
// reference on random K/V scattered through shuffled block tables, for MHA, GQA (groups 4, 7)
// and MQA (groups 8, 16, 32) head layouts, head_dim 64 / 128 / 256, block sizes 8 / 16 / 32,
// and every head_dim 32..256 in steps of 16 at GQA 1 / 4 / 8 / 16 (bf16 and e4m3 KV),
// in one mixed batch per layout; decode also with an unsplit plan and with a plan sized for a
// longer context than the batch has (as CUDA graphs use it), outputs and workspace poisoned; each also
// shallow and head-fastest over the ids longest context first, bit for bit the default launch.
// kv_cache_dtype fp8: the same cases with K/V drawn as e4m3 values and read from an e4m3
// cache, checked against the reference and bit for bit against the bf16 cache holding the same
// values; kv_cache_write's e4m3 codes equal the CPU backend's encoding.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "backend/cuda/decode_plan.h"
#include "backend/cuda/kernels.h"
#include "model/fp8.h"
#include "test_support.h"
#include "device_paged_batch.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

std::vector<uint8_t> to_fp8_codes(const std::vector<float>& v) {
  std::vector<uint8_t> codes(v.size());
  for (size_t i = 0; i < v.size(); ++i) codes[i] = pagoda::f32_to_fp8_e4m3(v[i]);
  return codes;
}

// Values an e4m3 cache holds exactly (and so does bf16): random ones rounded through e4m3.
std::vector<float> random_fp8_values(size_t n, std::mt19937& rng, float scale) {
  std::vector<float> v = random_bf16_values(n, rng, scale);
  for (float& x : v) x = pagoda::fp8_e4m3_to_f32(pagoda::f32_to_fp8_e4m3(x));
  return v;
}

// fp8: K/V (and q) drawn as e4m3 values; the kernels read the e4m3 copy of the cache. Their mmas run in
// f16 with an e4m3 cache (P in f16; the decode kernel takes Q's terms in another order), so each output
// meets the reference as the bf16 cache's does, not its bits.
void run_case(Checker& c, std::mt19937& rng, const AttentionLayout& lay, const std::vector<SeqSpec>& seqs, int num_sms,
              bool fp8 = false) {
  const int num_seqs = static_cast<int>(seqs.size());
  const int D = lay.head_dim;
  const PagedBatch batch = make_paged_batch(lay, seqs, rng, 5, [&](size_t n, float scale) {
    return fp8 ? random_fp8_values(n, rng, scale) : random_bf16_values(n, rng, scale);
  });
  DevicePagedBatch<bf16> d = upload_paged_batch<bf16>(batch, lay);
  const PagedAttentionArgs bf16_args = d.args;
  PagedAttentionArgs fp8_args = d.args;
  DeviceBuffer k_codes, v_codes;
  if (fp8) {
    k_codes = upload(to_fp8_codes(batch.k_cache));
    v_codes = upload(to_fp8_codes(batch.v_cache));
    fp8_args.k_cache_fp8 = k_codes.as<uint8_t>();
    fp8_args.v_cache_fp8 = v_codes.as<uint8_t>();
    d.tag += " fp8 KV";
  }
  const PagedAttentionArgs& args = fp8 ? fp8_args : bf16_args;
  const auto& query_start = batch.query_start;
  const auto& refs = batch.refs;
  const int64_t q_width = batch.q_width;
  const std::string& tag = d.tag;
  DeviceBuffer& d_out = d.out;
  const size_t out_elems = d.out_elems;

  auto compare_seqs = [&](const std::vector<float>& out, const std::string& what) {
    for (int s = 0; s < num_seqs; ++s) {
      std::vector<float> got(out.begin() + size_t(query_start[s]) * q_width, out.begin() + size_t(query_start[s + 1]) * q_width);
      c.expect(what + " " + tag + " q " + std::to_string(seqs[s].query_len) + " ctx " + std::to_string(seqs[s].context_len),
               compare(got, refs[s]), 1.2e-2, 3e-2);
    }
  };

  // Prefill kernel over every sequence (it must also be right for query_len 1).
  std::vector<PrefillTile> tiles;
  for (int s = 0; s < num_seqs; ++s)
    for (int r = 0; r < seqs[s].query_len; r += kPrefillTileRows) tiles.push_back({s, r});
  auto d_tiles = upload(tiles);
  auto prefill = [&](const PagedAttentionArgs& a) {
    paged_attention_prefill(a, d_tiles.as<PrefillTile>(), static_cast<int>(tiles.size()), 0);
  };
  poison(d_out);
  prefill(args);
  const std::vector<float> prefill_out = download_bf16(d_out, out_elems);
  compare_seqs(prefill_out, "prefill");

  // Decode kernel over the query_len == 1 sequences, with the planner's split and forced ones.
  std::vector<int32_t> decode_ids;
  int decode_max_ctx = 0;
  for (int s = 0; s < num_seqs; ++s)
    if (seqs[s].query_len == 1) {
      decode_ids.push_back(s);
      decode_max_ctx = std::max(decode_max_ctx, seqs[s].context_len);
    }
  auto d_ids = upload(decode_ids);
  std::vector<int32_t> context_lens(num_seqs);
  for (int s = 0; s < num_seqs; ++s) context_lens[s] = seqs[s].context_len;
  std::vector<int32_t> longest_first = decode_ids;
  order_longest_first(longest_first, context_lens.data());
  auto d_longest_first = upload(longest_first);
  const int n_dec = static_cast<int>(decode_ids.size());
  DecodePlan planned = plan_paged_attention_decode(n_dec, lay.kv_heads, lay.q_heads, decode_max_ctx, num_sms);
  DecodePlan single{((decode_max_ctx + 31) / 32) * 32, 1};
  // A plan for 4x the longest context: the partitions past each context must exit at once.
  DecodePlan graph = plan_paged_attention_decode(n_dec, lay.kv_heads, lay.q_heads, 4 * decode_max_ctx, num_sms);
  for (const DecodePlan& plan : {planned, single, graph}) {
    const size_t ws_bytes = paged_attention_decode_workspace_bytes(plan, n_dec, lay.q_heads, D);
    DeviceBuffer ws(ws_bytes);
    if (ws_bytes) poison(ws);
    auto decode = [&](const PagedAttentionArgs& a) {
      paged_attention_decode(a, d_ids.as<int32_t>(), n_dec, plan, ws.data(), ws.bytes(), 0);
    };
    poison(d_out);
    decode(args);
    const auto out = download_bf16(d_out, out_elems);
    const std::string what = "decode(part " + std::to_string(plan.partition_tokens) + "x" + std::to_string(plan.max_partitions) + ")";
    // Shallow, and head-fastest over the ids longest context first: every block sums the same keys in the
    // same order, so the bits are the default launch's.
    for (const bool shallow : {true, false}) {
      DecodePlan variant = plan;
      variant.shallow = shallow;
      variant.heads_fastest = !shallow;
      if (ws_bytes) poison(ws);
      poison(d_out);
      paged_attention_decode(args, (shallow ? d_ids : d_longest_first).as<int32_t>(), n_dec, variant, ws.data(),
                             ws.bytes(), 0);
      const auto got = download_bf16(d_out, out_elems);
      size_t differ = 0;
      for (size_t i = 0; i < out.size(); ++i) differ += std::memcmp(&got[i], &out[i], sizeof(float)) != 0;
      c.expect_true(what + (shallow ? " shallow " : " longest first, heads fastest ") + tag + " = default bit for bit",
                    differ == 0, std::to_string(differ) + " differ");
    }
    // bf16 P adds about 2^-9 relative per weight on top of the bf16 output rounding.
    for (int s = 0; s < num_seqs; ++s) {
      if (seqs[s].query_len != 1) continue;
      std::vector<float> got(out.begin() + size_t(query_start[s]) * q_width, out.begin() + size_t(query_start[s + 1]) * q_width);
      c.expect(what + " " + tag + " ctx " + std::to_string(seqs[s].context_len), compare(got, refs[s]), 1e-2, 3e-2);
      // With an e4m3 cache both kernels round P to f16 (2^-12): a row decoded, then recomputed through the prefill
      // kernel after a preemption, comes out within about the bf16 output's last bit, not bf16 P's 2^-9.
      if (fp8) {
        const std::vector<double> recomputed(prefill_out.begin() + size_t(query_start[s]) * q_width,
                                             prefill_out.begin() + size_t(query_start[s + 1]) * q_width);
        c.expect(what + " " + tag + " ctx " + std::to_string(seqs[s].context_len) + " = prefill's row",
                 compare(got, recomputed), 2e-3, 3e-2);
      }
    }
  }
}

// n decode-only sequences of random contexts in [1, max_ctx].
std::vector<SeqSpec> random_decodes(std::mt19937& rng, int n, int max_ctx) {
  std::uniform_int_distribution<int> len(1, max_ctx);
  std::vector<SeqSpec> seqs;
  for (int i = 0; i < n; ++i) seqs.push_back({1, len(rng)});
  return seqs;
}

// kv_cache_write into an e4m3 cache: every code as the CPU backend encodes the bf16 value
// (round to nearest even, saturating; values past 448 included), padding slots untouched.
void check_kv_cache_write_fp8(Checker& c, std::mt19937& rng, int D) {
  const int tokens = 37, kv_heads = 8, bs = 16, blocks = 6;
  const int64_t stride = 3 * int64_t(kv_heads) * D; // k and v inside wider rows, as in fused qkv
  std::vector<float> rows = random_bf16_values(size_t(tokens) * stride, rng, 600.f);
  std::vector<int32_t> slots(tokens);
  std::vector<int32_t> order(blocks * bs);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int t = 0; t < tokens; ++t) slots[t] = t % 9 == 4 ? -1 : order[t];
  auto d_rows = upload_bf16(rows);
  auto d_slots = upload(slots);
  const size_t cache_bytes = size_t(blocks) * kv_heads * bs * D;
  DeviceBuffer k_cache(cache_bytes), v_cache(cache_bytes);
  PAGODA_CUDA_CHECK(cudaMemset(k_cache.data(), 0x5a, cache_bytes));
  PAGODA_CUDA_CHECK(cudaMemset(v_cache.data(), 0x5a, cache_bytes));
  const bf16* k = d_rows.as<bf16>() + kv_heads * D;
  kv_cache_write(k, k + kv_heads * D, stride, d_slots.as<int32_t>(), k_cache.as<uint8_t>(), v_cache.as<uint8_t>(), 1.f,
                 2.f, tokens, kv_heads, D, bs, 0);
  const auto got_k = download<uint8_t>(k_cache, cache_bytes), got_v = download<uint8_t>(v_cache, cache_bytes);
  std::vector<uint8_t> want_k(cache_bytes, 0x5a), want_v(cache_bytes, 0x5a);
  for (int t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    for (int h = 0; h < kv_heads; ++h)
      for (int e = 0; e < D; ++e) {
        const size_t dst = ((size_t(slots[t] / bs) * kv_heads + h) * bs + slots[t] % bs) * D + e;
        const size_t src = size_t(t) * stride + size_t(kv_heads + h) * D + e;
        want_k[dst] = pagoda::f32_to_fp8_e4m3(rows[src]);
        want_v[dst] = pagoda::f32_to_fp8_e4m3(rows[src + size_t(kv_heads) * D] / 2.f);
      }
  }
  size_t differ = 0;
  for (size_t i = 0; i < cache_bytes; ++i) differ += (got_k[i] != want_k[i]) + (got_v[i] != want_v[i]);
  c.expect_true("kv_cache_write fp8 head_dim " + std::to_string(D) +
                    " codes = the CPU encoding (v scale 2, padding slots skipped)",
                differ == 0, std::to_string(differ) + " differ");
}

} // namespace

int main() {
  skip_without_device("paged_attention_test");
  std::mt19937 rng(4242);
  Checker c;
  try {
    int num_sms = 0;
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, 0));
    // Prefill from scratch, chunked prefill after a cached prefix, short and long decodes.
    const std::vector<SeqSpec> mixed = {{100, 100}, {70, 300}, {1, 1}, {1, 3000}, {5, 200}, {1, 517}, {130, 130}};
    run_case(c, rng, {32, 8, 128, 16}, mixed, num_sms);  // Llama-3-8B heads
    run_case(c, rng, {4, 4, 64, 16}, mixed, num_sms);    // MHA
    run_case(c, rng, {8, 1, 128, 32}, mixed, num_sms);   // MQA, block size 32
    run_case(c, rng, {8, 2, 256, 16}, {{65, 65}, {1, 700}, {3, 90}}, num_sms);
    run_case(c, rng, {4, 2, 64, 16}, {{1, 4096}, {1, 33}}, num_sms);
    // Decode edges: one key, a 16-key tile boundary (15, 16, 17), a long context.
    const std::vector<SeqSpec> edges = {{1, 1}, {1, 15}, {1, 16}, {1, 17}, {1, 4095}, {1, 300}, {3, 40}};
    run_case(c, rng, {32, 8, 128, 16}, edges, num_sms);
    run_case(c, rng, {28, 4, 128, 16}, edges, num_sms);  // Qwen2.5-7B, group 7
    run_case(c, rng, {16, 1, 128, 32}, edges, num_sms);  // group 16, one full m-tile
    run_case(c, rng, {32, 1, 64, 16}, edges, num_sms);   // MQA group 32, two m-tiles
    run_case(c, rng, {24, 1, 128, 16}, {{1, 17}, {1, 700}}, num_sms); // group 24: the second m-tile half full
    run_case(c, rng, {8, 2, 256, 32}, edges, num_sms);
    run_case(c, rng, {16, 1, 256, 16}, {{1, 15}, {1, 1000}}, num_sms);
    run_case(c, rng, {32, 8, 128, 8}, {{1, 1}, {1, 17}, {1, 250}, {2, 30}}, num_sms); // block size 8: tiles span blocks
    // Enough sequences that the planner does not split (Llama-3-8B heads, 40 x 8 blocks), and a ShareGPT-sized
    // batch of uneven contexts (256 x 8 blocks, several to an SM: where the shallow and ordered launches are for).
    run_case(c, rng, {32, 8, 128, 16}, random_decodes(rng, 40, 1200), num_sms);
    run_case(c, rng, {32, 8, 128, 16}, random_decodes(rng, 256, 1500), num_sms);
    // Every head_dim 32..256 in steps of 16, bf16 and e4m3 KV, GQA 1 / 4 / 8 (block sizes 8 /
    // 16 / 32) and 16 (decode's 16-row m-tiles): prefill over two query tiles, chunked prefill after a 130-token prefix (the
    // last key tile partial), decodes of 1, 17 and 900 keys (split and unsplit plans).
    const std::vector<SeqSpec> per_dim = {{65, 65}, {70, 200}, {1, 1}, {1, 17}, {1, 900}, {3, 40}};
    for (int D : cuda_head_dims())
      for (bool fp8 : {false, true}) {
        run_case(c, rng, {2, 2, D, 8}, per_dim, num_sms, fp8);
        run_case(c, rng, {8, 2, D, 16}, per_dim, num_sms, fp8);
        run_case(c, rng, {16, 2, D, 32}, per_dim, num_sms, fp8);
        run_case(c, rng, {32, 2, D, 16}, {{1, 17}, {1, 700}, {3, 40}}, num_sms, fp8); // group 16: 16-row m-tiles
      }
    // kv_cache_dtype fp8: the same kernels reading e4m3 codes.
    for (int D : cuda_head_dims()) check_kv_cache_write_fp8(c, rng, D);
    run_case(c, rng, {32, 8, 128, 16}, mixed, num_sms, true);
    run_case(c, rng, {4, 4, 64, 16}, mixed, num_sms, true);
    run_case(c, rng, {8, 2, 256, 16}, {{65, 65}, {1, 700}, {3, 90}}, num_sms, true);
    run_case(c, rng, {32, 8, 128, 16}, edges, num_sms, true);
    run_case(c, rng, {28, 4, 128, 16}, edges, num_sms, true);
    run_case(c, rng, {32, 1, 64, 16}, edges, num_sms, true);
    run_case(c, rng, {8, 2, 256, 32}, edges, num_sms, true);
    run_case(c, rng, {32, 8, 128, 8}, {{1, 1}, {1, 17}, {1, 250}, {2, 30}}, num_sms, true);
    run_case(c, rng, {32, 8, 128, 16}, random_decodes(rng, 40, 1200), num_sms, true);
    run_case(c, rng, {32, 8, 128, 16}, random_decodes(rng, 256, 1500), num_sms, true);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("paged_attention_test");
}
