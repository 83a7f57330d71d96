// Checks cascade attention (attention_cascade.cu + the decode kernel's suffix partials and merge):
// random Q and paged K/V where every decode sequence shares a prefix of P whole blocks followed by
// blocks of its own (1..600 tokens), in shuffled block tables with unused blocks poisoned (1e30),
// decode ids in shuffled order. The cascade output must match paged_attention_decode on the same
// inputs (rel L2 < 1e-2) and a float64 reference on a sample of sequences; outputs and workspace
// are NaN-poisoned first. Block sizes 16 / 32, head_dim 64 / 128, groups 1 / 4 / 8 / 16, batches
// 8 / 37 / 128, prefixes 256..4096 tokens. Prints "cascade_attention_test: N/N passed".
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/cuda/cascade_plan.h"
#include "backend/cuda/kernels.h"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

struct Case {
  int q_heads, kv_heads, head_dim, block_size, batch, prefix_tokens, max_suffix;
};

// The float64 attention of one decode query row set (all q heads of one token) over ctx keys.
std::vector<double> reference(const std::vector<bf16>& q_rows, int64_t q_off, const std::vector<bf16>& kc,
                              const std::vector<bf16>& vc, const int32_t* table, int ctx, const Case& cs) {
  const int D = cs.head_dim, group = cs.q_heads / cs.kv_heads, bs = cs.block_size;
  std::vector<double> out(size_t(cs.q_heads) * D, 0.0), scores(ctx);
  const double scale = 1.0 / std::sqrt(double(D));
  for (int h = 0; h < cs.q_heads; ++h) {
    const int kvh = h / group;
    double mx = -1e300;
    for (int k = 0; k < ctx; ++k) {
      const size_t base = ((size_t(table[k / bs]) * cs.kv_heads + kvh) * bs + k % bs) * D;
      double dot = 0;
      for (int d = 0; d < D; ++d)
        dot += double(__bfloat162float(q_rows[q_off + size_t(h) * D + d])) * double(__bfloat162float(kc[base + d]));
      scores[k] = dot * scale;
      mx = std::max(mx, scores[k]);
    }
    double den = 0;
    for (int k = 0; k < ctx; ++k) den += (scores[k] = std::exp(scores[k] - mx));
    for (int k = 0; k < ctx; ++k) {
      const size_t base = ((size_t(table[k / bs]) * cs.kv_heads + kvh) * bs + k % bs) * D;
      for (int d = 0; d < D; ++d) out[size_t(h) * D + d] += scores[k] / den * double(__bfloat162float(vc[base + d]));
    }
  }
  return out;
}

void run_case(Checker& c, std::mt19937& rng, const Case& cs, int num_sms) {
  const int D = cs.head_dim, bs = cs.block_size, n = cs.batch;
  const int prefix_blocks = cs.prefix_tokens / bs;
  char tag_buf[160];
  std::snprintf(tag_buf, sizeof tag_buf, "%d/%d/%d bs %d batch %d prefix %d suffix <= %d", cs.q_heads, cs.kv_heads, D, bs,
                n, cs.prefix_tokens, cs.max_suffix);
  const std::string tag = tag_buf;

  // Contexts: prefix + 1..max_suffix own tokens; the first sequence 1, the second max_suffix.
  std::uniform_int_distribution<int> suffix_len(1, cs.max_suffix);
  std::vector<int32_t> ctx(n);
  int max_ctx = 0, total_blocks = prefix_blocks + 3;
  for (int s = 0; s < n; ++s) {
    const int own = s == 0 ? 1 : (s == 1 ? cs.max_suffix : suffix_len(rng));
    ctx[s] = cs.prefix_tokens + own;
    max_ctx = std::max(max_ctx, ctx[s]);
    total_blocks += (own + bs - 1) / bs;
  }
  const int max_blocks = (max_ctx + bs - 1) / bs + 2; // rows wider than any context
  std::vector<int32_t> free_blocks(total_blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  std::vector<int32_t> tables(size_t(n) * max_blocks, -1);
  size_t next = 0;
  std::vector<int32_t> shared(free_blocks.begin(), free_blocks.begin() + prefix_blocks);
  next = prefix_blocks;
  for (int s = 0; s < n; ++s) {
    for (int b = 0; b < (ctx[s] + bs - 1) / bs; ++b)
      tables[size_t(s) * max_blocks + b] = b < prefix_blocks ? shared[b] : free_blocks[next++];
  }
  // K/V of every used slot random, everything else 1e30 (a kernel reading it shows).
  const size_t block_elems = size_t(cs.kv_heads) * bs * D;
  std::vector<bf16> kc(size_t(total_blocks) * block_elems, __float2bfloat16(1e30f));
  std::vector<bf16> vc = kc;
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  std::vector<char> filled(total_blocks, 0);
  for (int s = 0; s < n; ++s)
    for (int b = 0; b < (ctx[s] + bs - 1) / bs; ++b) {
      const int blk = tables[size_t(s) * max_blocks + b];
      if (filled[blk]) continue; // the shared blocks, once
      filled[blk] = 1;
      const int valid = std::min(bs, ctx[s] - b * bs);
      for (int h = 0; h < cs.kv_heads; ++h)
        for (int r = 0; r < valid; ++r)
          for (int d = 0; d < D; ++d) {
            const size_t i = size_t(blk) * block_elems + (size_t(h) * bs + r) * D + d;
            kc[i] = __float2bfloat16(unit(rng));
            vc[i] = __float2bfloat16(unit(rng));
          }
    }
  // Q inside wider rows (as fused qkv), one token per sequence.
  const int64_t q_width = int64_t(cs.q_heads) * D, stride = q_width + 2 * int64_t(cs.kv_heads) * D;
  std::vector<bf16> q(size_t(n) * stride);
  for (auto& x : q) x = __float2bfloat16(3.f * unit(rng));
  std::vector<int32_t> query_start(n + 1), ids(n);
  std::iota(query_start.begin(), query_start.end(), 0);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng); // seq_index != seq: the slots must follow seq_index

  // The host decision finds exactly the shared blocks (the cap never binds: every suffix >= 1).
  const int found = common_prefix_blocks(tables.data(), max_blocks, ctx.data(), ids.data(), n, bs);
  c.expect_true("common_prefix_blocks " + tag, found == prefix_blocks,
                std::to_string(found) + " vs " + std::to_string(prefix_blocks));

  auto d_kc = upload(kc), d_vc = upload(vc), d_q = upload(q), d_qs = upload(query_start), d_ctx = upload(ctx);
  auto d_tables = upload(tables), d_ids = upload(ids);
  std::vector<int32_t> suffix(ctx);
  for (auto& x : suffix) x -= cs.prefix_tokens;
  auto d_suffix = upload(suffix);
  DeviceBuffer d_out(size_t(n) * q_width * 2);

  PagedAttentionArgs a;
  a.q = d_q.as<bf16>();
  a.q_token_stride = stride;
  a.k_cache = d_kc.as<bf16>();
  a.v_cache = d_vc.as<bf16>();
  a.out = d_out.as<bf16>();
  a.query_start = d_qs.as<int32_t>();
  a.context_lens = d_ctx.as<int32_t>();
  a.block_tables = d_tables.as<int32_t>();
  a.max_blocks_per_seq = max_blocks;
  a.num_q_heads = cs.q_heads;
  a.num_kv_heads = cs.kv_heads;
  a.head_dim = D;
  a.block_size = bs;
  a.scale = 1.f / std::sqrt(float(D));

  // The plain decode kernel's output on the same inputs.
  const DecodePlan plan = plan_paged_attention_decode(n, cs.kv_heads, cs.q_heads, max_ctx, num_sms);
  DeviceBuffer ws(std::max<size_t>(paged_attention_decode_workspace_bytes(plan, n, cs.q_heads, D), 16));
  poison(ws);
  poison(d_out);
  paged_attention_decode(a, d_ids.as<int32_t>(), n, plan, ws.data(), ws.bytes(), 0);
  const std::vector<float> plain = download_bf16(d_out, size_t(n) * q_width);

  // Cascade.
  CascadeStep step;
  step.prefix_blocks = found;
  step.prefix_table = d_tables.as<int32_t>() + size_t(ids[0]) * max_blocks;
  step.suffix_context_lens = d_suffix.as<int32_t>();
  plan_cascade_step(step, n, cs.kv_heads, cs.q_heads, bs, max_ctx, num_sms);
  DeviceBuffer cws(cascade_attention_workspace_bytes(step, n, cs.q_heads, D));
  poison(cws);
  poison(d_out);
  cascade_attention_decode(a, d_ids.as<int32_t>(), n, step, cws.data(), cws.bytes(), 0);
  const std::vector<float> cascade = download_bf16(d_out, size_t(n) * q_width);

  std::vector<double> plain_d(plain.begin(), plain.end());
  char plan_buf[96];
  std::snprintf(plan_buf, sizeof plan_buf, " (prefix %dx%d tok, %d row tiles; suffix %dx%d)", step.prefix_partitions,
                step.prefix_partition_tokens, step.prefix_row_tiles, step.suffix_plan.max_partitions,
                step.suffix_plan.partition_tokens);
  c.expect("cascade = decode " + tag + plan_buf, compare(cascade, plain_d), 1e-2, 3e-2);

  // Float64 reference on up to 8 sequences: the shortest, the longest and random others.
  std::vector<int> sample = {0, 1};
  for (int i = 0; i < 6 && i + 2 < n; ++i) sample.push_back(2 + static_cast<int>(rng() % (n - 2)));
  std::vector<float> got_all, plain_all;
  std::vector<double> ref_all;
  for (int s : sample) {
    const std::vector<double> ref =
        reference(q, int64_t(s) * stride, kc, vc, tables.data() + size_t(s) * max_blocks, ctx[s], cs);
    ref_all.insert(ref_all.end(), ref.begin(), ref.end());
    got_all.insert(got_all.end(), cascade.begin() + size_t(s) * q_width, cascade.begin() + size_t(s + 1) * q_width);
  }
  c.expect("cascade = float64 " + tag, compare(got_all, ref_all), 1e-2, 3e-2);
}

} // namespace

int main() {
  skip_without_device("cascade_attention_test");
  std::mt19937 rng(2020);
  Checker c;
  try {
    int num_sms = 0;
    PAGODA_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, 0));
    const std::vector<Case> cases = {
        {32, 8, 128, 16, 128, 1536, 600}, // the prefix workload: Llama-3-8B heads
        {32, 8, 128, 16, 8, 256, 600},
        {32, 8, 128, 32, 37, 4096, 600},
        {16, 2, 128, 32, 37, 2048, 300},  // group 8
        {8, 8, 128, 16, 37, 512, 64},     // group 1
        {32, 2, 128, 16, 8, 512, 200},    // group 16 (two decode m-tiles)
        {32, 4, 128, 16, 128, 1024, 600}, // group 8, batch 128
        {32, 8, 128, 16, 37, 1552, 100},  // 97 blocks: a partial last K/V tile
        {8, 8, 64, 16, 37, 768, 600},     // head_dim 64, group 1
        {8, 2, 64, 32, 128, 2048, 600},   // group 4
        {16, 2, 64, 16, 8, 4096, 600},    // group 8
        {16, 4, 64, 16, 37, 336, 33},     // 21 blocks, short suffixes
        {32, 8, 64, 32, 128, 256, 1},     // every suffix one token
    };
    for (const Case& cs : cases) run_case(c, rng, cs, num_sms);

    // Refusals: an fp8 cache, an unsupported head_dim, a plan that does not cover the prefix.
    PagedAttentionArgs a;
    a.num_q_heads = 8;
    a.num_kv_heads = 2;
    a.head_dim = 128;
    a.block_size = 16;
    bf16 dummy{};
    a.k_cache = a.v_cache = &dummy;
    CascadeStep step;
    step.prefix_blocks = 32;
    int32_t table[32] = {};
    step.prefix_table = table;
    step.suffix_context_lens = table;
    plan_cascade_step(step, 8, 2, 8, 16, 600, num_sms);
    uint8_t codes = 0;
    PagedAttentionArgs fp8 = a;
    fp8.k_cache_fp8 = fp8.v_cache_fp8 = &codes;
    expect_refused(c, "cascade refuses an fp8 KV cache", [&] { cascade_prefix_attention(fp8, nullptr, 8, step, nullptr, 0); },
                   "fp8");
    PagedAttentionArgs d96 = a;
    d96.head_dim = 96;
    expect_refused(c, "cascade refuses head_dim 96", [&] { cascade_prefix_attention(d96, nullptr, 8, step, nullptr, 0); },
                   "head_dim 96");
    CascadeStep short_plan = step;
    short_plan.prefix_partitions = 1;
    short_plan.prefix_partition_tokens = 64;
    expect_refused(c, "cascade refuses a plan short of the prefix",
                   [&] { cascade_prefix_attention(a, nullptr, 8, short_plan, nullptr, 0); }, "plan_cascade_prefix");
    expect_refused(c, "cascade refuses a small workspace",
                   [&] { cascade_attention_decode(a, nullptr, 8, step, nullptr, 16, 0); }, "workspace");
  } catch (const std::exception& e) {
    c.expect_true(std::string("no exception: ") + e.what(), false);
  }
  std::printf("cascade_attention_test: %d/%d passed\n", c.passed(), c.passed() + c.failed());
  return c.finish("cascade_attention_test");
}
