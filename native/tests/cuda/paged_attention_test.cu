// Checks paged attention (prefill / chunked prefill and split-K decode) against the CPU
// reference on random K/V scattered through shuffled block tables, for MHA, GQA (groups 4, 7)
// and MQA (groups 8, 16, 32) head layouts, head_dim 64 / 128 / 256, block sizes 8 / 16 / 32,
// in one mixed batch per layout; decode also with an unsplit plan and with a plan sized for a
// longer context than the batch has (as CUDA graphs use it), outputs and workspace poisoned.
#include <algorithm>
#include <numeric>

#include "backend/cuda/kernels.h"
#include "test_support.h"
#include "device_paged_batch.h"
#include "reference.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

void run_case(Checker& c, std::mt19937& rng, const AttentionLayout& lay, const std::vector<SeqSpec>& seqs, int num_sms) {
  const int num_seqs = static_cast<int>(seqs.size());
  const int D = lay.head_dim;
  const PagedBatch batch =
      make_paged_batch(lay, seqs, rng, 5, [&](size_t n, float scale) { return random_bf16_values(n, rng, scale); });
  DevicePagedBatch<bf16> d = upload_paged_batch<bf16>(batch, lay);
  const PagedAttentionArgs& args = d.args;
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
  poison(d_out);
  paged_attention_prefill(args, d_tiles.as<PrefillTile>(), static_cast<int>(tiles.size()), 0);
  compare_seqs(download_bf16(d_out, out_elems), "prefill");

  // Decode kernel over the query_len == 1 sequences, with the planner's split and forced ones.
  std::vector<int32_t> decode_ids;
  int decode_max_ctx = 0;
  for (int s = 0; s < num_seqs; ++s)
    if (seqs[s].query_len == 1) {
      decode_ids.push_back(s);
      decode_max_ctx = std::max(decode_max_ctx, seqs[s].context_len);
    }
  auto d_ids = upload(decode_ids);
  const int n_dec = static_cast<int>(decode_ids.size());
  DecodePlan planned = plan_paged_attention_decode(n_dec, lay.kv_heads, lay.q_heads, decode_max_ctx, num_sms);
  DecodePlan single{((decode_max_ctx + 31) / 32) * 32, 1};
  // A plan for 4x the longest context: the partitions past each context must exit at once.
  DecodePlan graph = plan_paged_attention_decode(n_dec, lay.kv_heads, lay.q_heads, 4 * decode_max_ctx, num_sms);
  for (const DecodePlan& plan : {planned, single, graph}) {
    const size_t ws_bytes = paged_attention_decode_workspace_bytes(plan, n_dec, lay.q_heads, D);
    DeviceBuffer ws(ws_bytes);
    if (ws_bytes) poison(ws);
    poison(d_out);
    paged_attention_decode(args, d_ids.as<int32_t>(), n_dec, plan, ws.data(), ws.bytes(), 0);
    const auto out = download_bf16(d_out, out_elems);
    const std::string what = "decode(part " + std::to_string(plan.partition_tokens) + "x" + std::to_string(plan.max_partitions) + ")";
    // bf16 P adds about 2^-9 relative per weight on top of the bf16 output rounding.
    for (int s = 0; s < num_seqs; ++s) {
      if (seqs[s].query_len != 1) continue;
      std::vector<float> got(out.begin() + size_t(query_start[s]) * q_width, out.begin() + size_t(query_start[s + 1]) * q_width);
      c.expect(what + " " + tag + " ctx " + std::to_string(seqs[s].context_len), compare(got, refs[s]), 1e-2, 3e-2);
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
    // Enough sequences that the planner does not split (Llama-3-8B heads, 40 x 8 blocks).
    run_case(c, rng, {32, 8, 128, 16}, random_decodes(rng, 40, 1200), num_sms);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return c.finish("paged_attention_test");
}
