// Times the CUDA kernels and the cuBLASLt GEMM on Llama-3-8B shapes and prints achieved
// bandwidth (or TFLOP/s) beside the device-to-device copy bandwidth measured in the same run.
// A benchmark, not a test: it prints figures and asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <numeric>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels.h"
#include "bench/workloads.h"
#include "bench_timing.h"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

// bench_timing.h's median for runs that do not need their index.
double median_ms(const std::function<void()>& fn, int warmup = 3, int reps = 20) {
  return test::median_ms([&](int) { fn(); }, warmup, reps);
}

DeviceBuffer random_device_bf16(size_t n, std::mt19937& rng, float scale = 1.f) {
  // Generated in chunks on the host: random data, never zeros (they run faster).
  DeviceBuffer buf(n * 2);
  const size_t chunk = size_t(1) << 24;
  for (size_t off = 0; off < n; off += chunk) {
    const size_t len = std::min(chunk, n - off);
    auto host = to_bf16(random_bf16_values(len, rng, scale));
    PAGODA_CUDA_CHECK(cudaMemcpy(buf.as<bf16>() + off, host.data(), len * 2, cudaMemcpyHostToDevice));
  }
  return buf;
}

// Random bf16 in [-scale, scale) from a hash of the index, on the device: the decode pool is
// gigabytes, too slow to draw on the host.
__global__ void fill_random_bf16_kernel(bf16* out, size_t n, uint32_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 0x9E3779B1u ^ static_cast<uint32_t>(i >> 32) ^ seed * 0x85EBCA77u;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    h *= 0x297A2D39u;
    h ^= h >> 15;
    out[i] = __float2bfloat16(scale * (2.f * (h >> 8) * (1.f / 16777216.f) - 1.f));
  }
}

void fill_random_bf16(bf16* out, size_t n, uint32_t seed, float scale) {
  fill_random_bf16_kernel<<<1024, 256>>>(out, n, seed, scale);
  PAGODA_CUDA_CHECK_LAUNCH("fill_random_bf16_kernel");
}

// e4m3 codes from the bf16 pool's hash: bit 6 (the exponent's top bit) cleared, so every code is a finite value of
// magnitude below 2 (no NaN 0x7f / 0xff among them).
__global__ void fill_random_fp8_kernel(const bf16* from, uint8_t* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = static_cast<uint8_t>(__bfloat16_as_ushort(from[i]) ^ (__bfloat16_as_ushort(from[i]) >> 8)) & 0xbf;
}

// One printed figure, kept for the JSON the "hdim" mode writes.
struct Row {
  std::string name;
  double ms, gbs, fraction_of_copy, tflops;
};

Row row(const char* name, double ms, double bytes, double flops, double copy_gbs) {
  const double gbs = bytes / ms / 1e6;
  std::printf("%-46s %9.3f ms %8.0f GB/s (%3.0f%% of copy)", name, ms, gbs, 100.0 * gbs / copy_gbs);
  if (flops > 0) std::printf(" %7.1f TFLOP/s", flops / ms / 1e9);
  std::printf("\n");
  return {name, ms, gbs, gbs / copy_gbs, flops > 0 ? flops / ms / 1e9 : 0.0};
}

// The GEMM rows on Llama-3-8B shapes: the kernel the per-shape timing picks, and skinny_gemm
// alone wherever it applies.
void gemm_rows(double copy_gbs, std::mt19937& rng) {
  CublasLt gemm;
  struct Shape { const char* name; int n, k; };
  const Shape shapes[] = {{"qkv", 6144, 4096}, {"o_proj", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}, {"lm_head", 128256, 4096}};
  const char* kernel_names[] = {"untimed", "cuBLASLt", "skinny"};
  for (const Shape& s : shapes) {
    // Enough weight copies, used in turn, that repeated runs cannot be served from L2.
    const size_t w_bytes = size_t(s.n) * s.k * 2;
    const size_t copies = std::max<size_t>(1, (size_t(200) << 20) / w_bytes + (w_bytes < (size_t(200) << 20)));
    std::vector<DeviceBuffer> ws;
    for (size_t i = 0; i < copies; ++i) ws.push_back(random_device_bf16(size_t(s.n) * s.k, rng, 0.02f));
    size_t turn = 0;
    auto next_w = [&] { return ws[turn++ % ws.size()].as<bf16>(); };
    for (int m : {1, 2, 4, 8, 16, 64, 4096}) {
      auto x = random_device_bf16(size_t(m) * s.k, rng);
      DeviceBuffer y(size_t(m) * s.n * 4);
      const bool f32 = std::string(s.name) == "lm_head";
      const GemmOutput out = f32 ? GemmOutput::kF32 : GemmOutput::kBf16;
      const double bytes = 2.0 * s.n * s.k + 2.0 * m * s.k + (f32 ? 4.0 : 2.0) * m * s.n;
      char name[96];
      gemm.linear(x.as<bf16>(), ws[0].as<bf16>(), y.data(), out, m, s.n, s.k, 0); // times and picks the kernel
      const double ms = median_ms([&] { gemm.linear(x.as<bf16>(), next_w(), y.data(), out, m, s.n, s.k, 0); });
      const int choice = gemm.kernel_choice(m, s.n, s.k, out);
      std::snprintf(name, sizeof name, "gemm %-7s m %4d n %6d k %5d [%s]", s.name, m, s.n, s.k,
                    choice >= 0 ? kernel_names[choice] : "?");
      row(name, ms, bytes, 2.0 * m * s.n * s.k, copy_gbs);
      if (skinny_gemm_supports(m, s.k, x.data(), ws[0].data())) {
        std::snprintf(name, sizeof name, "  skinny_gemm alone m %d", m);
        row(name, median_ms([&] { skinny_gemm(x.as<bf16>(), next_w(), y.data(), f32, m, s.n, s.k, 0.f, 0); }),
            bytes, 2.0 * m * s.n * s.k, copy_gbs);
      }
    }
  }
}

// A Llama-3-8B GEMM shape, and the weight copies a timing rotates over so that it reads DRAM as a step does.
struct GemmShape { const char* name; int n, k; int copies; };
struct WeightCopies {
  std::vector<DeviceBuffer> buffers;
  std::vector<const bf16*> ptrs;
};
WeightCopies weight_copies(const GemmShape& s, std::mt19937& rng) {
  WeightCopies c;
  for (int i = 0; i < s.copies; ++i) {
    c.buffers.push_back(random_device_bf16(size_t(s.n) * s.k, rng, 0.02f));
    c.ptrs.push_back(c.buffers.back().as<bf16>());
  }
  return c;
}

// What CublasLt::tune finds per shape and m (the heuristic's first algorithm beside the
// fastest candidate), over 32 weight copies like a 32-layer model's.
void tune_rows(double copy_gbs, std::mt19937& rng) {
  CublasLt gemm;
  const GemmShape shapes[] = {{"qkv", 6144, 4096, 8}, {"o_proj", 4096, 4096, 8}, {"gate_up", 28672, 4096, 4},
                              {"down", 4096, 14336, 4}, {"lm_head", 128256, 4096, 1}};
  const int ms[] = {1, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096, 8192};
  auto x = random_device_bf16(size_t(8192) * 14336, rng);
  DeviceBuffer y(size_t(8192) * 28672 * 2);
  for (const GemmShape& s : shapes) {
    const WeightCopies copies = weight_copies(s, rng);
    const std::vector<const bf16*>& w = copies.ptrs;
    const bool f32 = std::string(s.name) == "lm_head";
    for (int m : ms) {
      if (f32 && m > 512) continue;
      const auto timings = gemm.tune(x.as<bf16>(), w, y.data(), f32 ? GemmOutput::kF32 : GemmOutput::kBf16, m, s.n,
                                     s.k, 0);
      const GemmTiming* best = &timings.front();
      const GemmTiming* first = nullptr;
      for (const GemmTiming& t : timings) {
        if (t.ms < best->ms) best = &t;
        if (t.kernel == "cuBLASLt #0") first = &t;
      }
      const double bytes = 2.0 * s.n * s.k + 2.0 * m * s.k + (f32 ? 4.0 : 2.0) * m * s.n;
      const double flops = 2.0 * m * s.n * s.k;
      std::printf("tune %-7s m %5d: %zu candidates; first %.4f ms (%.0f TFLOP/s, %.0f%% of copy); best %.4f ms "
                  "(%.0f TFLOP/s, %.0f%% of copy) [%s], %.2fx\n",
                  s.name, m, timings.size(), first ? first->ms : 0.f, first ? flops / first->ms / 1e9 : 0.0,
                  first ? 100.0 * bytes / first->ms / 1e6 / copy_gbs : 0.0, best->ms, flops / best->ms / 1e9,
                  100.0 * bytes / best->ms / 1e6 / copy_gbs, best->kernel.c_str(), first ? first->ms / best->ms : 0.0);
    }
  }
}

// Llama-3-8B's four layer GEMMs (weight copies to rotate over: as many as keep a timing out of L2).
const GemmShape kLayerGemms[] = {{"qkv", 6144, 4096, 8}, {"o_proj", 4096, 4096, 8}, {"gate_up", 28672, 4096, 4},
                                 {"down", 4096, 14336, 4}};

// An input of the widest k and an output of the widest n, for up to the largest of ms rows of any of them.
struct LayerGemmBuffers {
  DeviceBuffer x, y;
  LayerGemmBuffers(const std::vector<int>& ms, std::mt19937& rng)
      : x(random_device_bf16(size_t(*std::max_element(ms.begin(), ms.end())) * 14336, rng)),
        y(size_t(*std::max_element(ms.begin(), ms.end())) * 28672 * 2) {}
};

double env_seconds(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atof(v) : fallback;
}

// "search [m ...]": every configuration cuBLASLt accepts for the prompt-step GEMMs of Llama-3-8B at m (default 896
// and 1,024, ShareGPT's mixed steps), beside the heuristic's first and the best of its first eight (what tune() picks
// from): whether a tile the heuristic leaves out fills the 132 SMs better. PAGODA_SEARCH_BUDGET_S caps each search.
void search_rows(const std::vector<int>& ms, std::mt19937& rng) {
  CublasLt gemm;
  const double budget_s = env_seconds("PAGODA_SEARCH_BUDGET_S", 20.0);
  const LayerGemmBuffers io(ms, rng);
  const DeviceBuffer& x = io.x;
  const DeviceBuffer& y = io.y;
  for (const GemmShape& s : kLayerGemms) {
    const WeightCopies copies = weight_copies(s, rng);
    const std::vector<const bf16*>& w = copies.ptrs;
    for (int m : ms) {
      std::vector<GemmTiming> t = gemm.search(x.as<bf16>(), w, y.data(), m, s.n, s.k, 0, budget_s);
      if (t.empty()) continue;
      const double flops = 2.0 * m * s.n * s.k;
      std::sort(t.begin(), t.end(), [](const GemmTiming& a, const GemmTiming& b) { return a.ms < b.ms; });
      // After the sort: the heuristic's first, and the fastest of its first eight (the first of them in time order).
      const GemmTiming* first = nullptr;
      const GemmTiming* tuned = nullptr;
      for (const GemmTiming& g : t) {
        if (g.kernel.rfind("heuristic #0:", 0) == 0) first = &g;
        for (int i = 0; i < 8 && tuned == nullptr; ++i)
          if (g.kernel.rfind("heuristic #" + std::to_string(i) + ":", 0) == 0) tuned = &g;
      }
      auto line = [&](const char* label, const GemmTiming* g) {
        if (g != nullptr)
          std::printf("search %-7s m %5d %-9s %.4f ms %4.0f TFLOP/s  %s\n", s.name, m, label, g->ms,
                      flops / g->ms / 1e9, g->kernel.c_str());
      };
      line("first", first);
      line("tune-8", tuned);
      for (size_t i = 0; i < std::min<size_t>(10, t.size()); ++i) line(("#" + std::to_string(i + 1)).c_str(), &t[i]);
      std::fflush(stdout);
    }
  }
}

// "tune-every [m ...]": tune() over the heuristic's eight beside tune() over every configuration (coarse first pass
// within PAGODA_TUNE_DECODE_EVERY_CONFIG_BUDGET_S, default 0.5 s, then the fastest eight in full), for the four
// Llama-3-8B decode GEMMs at m (default 136, 192, 256): the best full time of each, the host seconds each tune took
// (a shape's first m in the second includes checking the library's ~12,400 configurations), and where the winner
// stood in the coarse ranking. Whether PAGODA_TUNE_DECODE_EVERY_CONFIG_FROM can pay, in a minute of device time.
void tune_every_rows(const std::vector<int>& ms, std::mt19937& rng) {
  const double budget_s = env_seconds("PAGODA_TUNE_DECODE_EVERY_CONFIG_BUDGET_S", 0.5);
  const LayerGemmBuffers io(ms, rng);
  const DeviceBuffer& x = io.x;
  const DeviceBuffer& y = io.y;
  using Clock = std::chrono::steady_clock;
  for (const GemmShape& s : kLayerGemms) {
    const WeightCopies copies = weight_copies(s, rng);
    CublasLt heuristic, every;
    for (int m : ms) {
      const double flops = 2.0 * m * s.n * s.k;
      auto began = Clock::now();
      const auto h = heuristic.tune(x.as<bf16>(), copies.ptrs, y.data(), GemmOutput::kBf16, m, s.n, s.k, 0);
      const double h_s = std::chrono::duration<double>(Clock::now() - began).count();
      began = Clock::now();
      const auto e = every.tune(x.as<bf16>(), copies.ptrs, y.data(), GemmOutput::kBf16, m, s.n, s.k, 0,
                                TuneCandidates::kEveryConfiguration, budget_s);
      const double e_s = std::chrono::duration<double>(Clock::now() - began).count();
      const GemmTiming* h_best = nullptr;
      const GemmTiming* e_best = nullptr;
      std::vector<GemmTiming> coarse;
      for (const GemmTiming& t : h)
        if (h_best == nullptr || t.ms < h_best->ms) h_best = &t;
      for (const GemmTiming& t : e) {
        if (t.kernel.find("(coarse)") != std::string::npos) coarse.push_back(t);
        else if (e_best == nullptr || t.ms < e_best->ms) e_best = &t;
      }
      if (h_best == nullptr || e_best == nullptr) continue;
      std::stable_sort(coarse.begin(), coarse.end(), [](const GemmTiming& a, const GemmTiming& b) { return a.ms < b.ms; });
      size_t rank = 0; // the winner's place in the coarse ranking (1 = the coarse pass's fastest)
      for (size_t i = 0; i < coarse.size(); ++i)
        if (coarse[i].kernel == e_best->kernel + " (coarse)") rank = i + 1;
      std::printf("tune-every %-7s m %4d: heuristic-8 %.4f ms %4.0f TFLOP/s (%.2f s); every configuration %.4f ms %4.0f "
                  "TFLOP/s [%s, coarse rank %zu of %zu] (%.2f s); %.3fx\n",
                  s.name, m, h_best->ms, flops / h_best->ms / 1e9, h_s, e_best->ms, flops / e_best->ms / 1e9,
                  e_best->kernel.c_str(), rank, coarse.size(), e_s, h_best->ms / e_best->ms);
      std::fflush(stdout);
    }
  }
}

} // namespace

// Copies of a batch's block table (table_blocks ids each) over disjoint random blocks of a pool, as many as make
// the K / V a layer reads (`bytes` a copy) add up to 400 MB, past L2: a timing that rotates over them reads DRAM.
std::vector<DeviceBuffer> rotated_block_tables(size_t pool_blocks, size_t table_blocks, double bytes, std::mt19937& rng) {
  const size_t copies = std::max<size_t>(1, std::min<size_t>(pool_blocks / table_blocks, size_t((400 << 20) / bytes)));
  std::vector<int32_t> order(pool_blocks);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<DeviceBuffer> tables;
  for (size_t c = 0; c < copies; ++c)
    tables.push_back(upload(std::vector<int32_t>(order.begin() + c * table_blocks, order.begin() + (c + 1) * table_blocks)));
  return tables;
}

// Decode attention on one layer's paged cache at head_dim D: every configuration reads K and V
// through a shuffled block table over one pool, rotating over disjoint copies larger than L2 so
// the figures are DRAM figures (a real step's layer finds no K/V of its own in L2).
struct DecodeConfig { int q_heads, kv_heads, batch, ctx, plan_ctx; };

// fp8: the same through an e4m3 copy of the pool (kv_cache_dtype fp8), its bytes half of bf16's.
std::vector<Row> decode_attention_rows(int D, const std::vector<DecodeConfig>& configs, bool sweep, double copy_gbs,
                                       int num_sms, std::mt19937& rng, bool fp8 = false) {
  std::vector<Row> rows;
  const int bs = 16;
  size_t pool_tokens = 4096; // the largest configuration, once
  int pool_kv_heads = 1;
  for (const DecodeConfig& cf : configs) {
    pool_tokens = std::max(pool_tokens, size_t(cf.batch) * cf.ctx + 4096);
    pool_kv_heads = std::max(pool_kv_heads, cf.kv_heads);
  }
  const size_t pool_elems = pool_tokens * pool_kv_heads * D; // per K or V
  DeviceBuffer kc(pool_elems * 2), vc(pool_elems * 2);
  fill_random_bf16(kc.as<bf16>(), pool_elems, 11, 1.f);
  fill_random_bf16(vc.as<bf16>(), pool_elems, 12, 1.f);
  DeviceBuffer kq(fp8 ? pool_elems : 0), vq(fp8 ? pool_elems : 0);
  if (fp8) {
    fill_random_fp8_kernel<<<1024, 256>>>(kc.as<bf16>(), kq.as<uint8_t>(), pool_elems);
    fill_random_fp8_kernel<<<1024, 256>>>(vc.as<bf16>(), vq.as<uint8_t>(), pool_elems);
    PAGODA_CUDA_CHECK_LAUNCH("fill_random_fp8_kernel");
  }
  const int elem_bytes = fp8 ? 1 : 2;
  for (const DecodeConfig& cf : configs) {
    const int blocks_per_seq = cf.ctx / bs;
    const size_t pool_blocks = pool_elems / (size_t(cf.kv_heads) * bs * D);
    const size_t blocks = size_t(cf.batch) * blocks_per_seq;
    const double bytes = double(cf.batch) * cf.ctx * cf.kv_heads * D * 2 * elem_bytes;
    const std::vector<DeviceBuffer> tables = rotated_block_tables(pool_blocks, blocks, bytes, rng);
    const size_t copies = tables.size();
    std::vector<int32_t> qs(cf.batch + 1), lens(cf.batch, cf.ctx), ids(cf.batch);
    std::iota(qs.begin(), qs.end(), 0);
    std::iota(ids.begin(), ids.end(), 0);
    auto d_qs = upload(qs), d_lens = upload(lens), d_ids = upload(ids);
    const int q_width = cf.q_heads * D;
    auto q = random_device_bf16(size_t(cf.batch) * q_width, rng, 2.f);
    DeviceBuffer out(size_t(cf.batch) * q_width * 2);
    PagedAttentionArgs a;
    a.q = q.as<bf16>(); a.q_token_stride = q_width; a.k_cache = kc.as<bf16>(); a.v_cache = vc.as<bf16>(); a.out = out.as<bf16>();
    a.query_start = d_qs.as<int32_t>(); a.context_lens = d_lens.as<int32_t>();
    a.max_blocks_per_seq = blocks_per_seq; a.num_q_heads = cf.q_heads; a.num_kv_heads = cf.kv_heads; a.head_dim = D;
    a.block_size = bs; a.scale = 1.f / std::sqrt(float(D));
    if (fp8) {
      a.k_cache_fp8 = kq.as<uint8_t>();
      a.v_cache_fp8 = vq.as<uint8_t>();
    }
    auto time_plan = [&](const DecodePlan& plan, const char* label) {
      DeviceBuffer ws(paged_attention_decode_workspace_bytes(plan, cf.batch, cf.q_heads, D));
      size_t turn = 0;
      char name[112];
      std::snprintf(name, sizeof name, "%s %d/%d/%d b %3d ctx %4d%s (part %4dx%d)", label, cf.q_heads, cf.kv_heads, D,
                    cf.batch, cf.ctx, cf.plan_ctx != cf.ctx ? " plan 4096" : "", plan.partition_tokens,
                    plan.max_partitions);
      rows.push_back(row(name, median_ms([&] {
                           a.block_tables = tables[turn++ % copies].as<int32_t>();
                           paged_attention_decode(a, d_ids.as<int32_t>(), cf.batch, plan, ws.data(), ws.bytes(), 0);
                         }), bytes, 4.0 * cf.batch * cf.ctx * cf.q_heads * D, copy_gbs));
    };
    time_plan(plan_paged_attention_decode(cf.batch, cf.kv_heads, cf.q_heads, cf.plan_ctx, num_sms),
              fp8 ? "decode fp8" : "decode attn");
    // "decode sweep": every partition length as well, to see what the planner should pick.
    if (sweep && cf.batch <= 64)
      for (int p = 32; p < 2 * cf.plan_ctx; p *= 2)
        time_plan(DecodePlan{std::min(p, (cf.plan_ctx + 31) / 32 * 32), (cf.plan_ctx + p - 1) / p}, "  sweep");
  }
  return rows;
}

// "uneven [dataset.json]": one layer's decode attention at ShareGPT's large batches (Llama-3-8B heads), whose
// contexts are short and uneven: ShareGPT's decode steps read their KV at 2.5-2.8 TB/s where uniform contexts
// read at copy speed (session 21). Contexts are drawn uniformly from 50..1,500 and, given the dataset, as a
// ShareGPT-like request part-way through its output (its prompt plus a uniform share of its output). Each batch
// runs the engine's plan in the given order, longest context first with head-fastest blocks, shallow (two stages
// a warp), both, and uniform contexts of the same total as the reference; rotating over block-table copies
// larger than L2 as decode_attention_rows does. profile_once (for Nsight Compute): the last distribution at batch
// 256 only, each variant launched twice (warm, then the one to profile: odd launch indices 1, 3, 5, 7, 9, 11).
void uneven_decode_rows(double copy_gbs, int num_sms, std::mt19937& rng, const char* dataset, bool profile_once) {
  constexpr int D = 128, kQHeads = 32, kKvHeads = 8, bs = 16;
  std::vector<std::pair<int, int>> pairs; // (prompt, output) lengths
  if (dataset != nullptr) {
    int64_t skipped = 0;
    for (const pagoda::BenchRequest& r : pagoda::dataset_requests(dataset, 0, 4096, 1000, rng, &skipped))
      pairs.emplace_back(static_cast<int>(r.prompt.size()), r.max_tokens);
  }
  struct Dist { const char* name; std::function<int()> draw; };
  std::vector<Dist> dists = {{"uniform 50-1500", [&] { return std::uniform_int_distribution<int>(50, 1500)(rng); }}};
  if (!pairs.empty())
    dists.push_back({"sharegpt-like", [&] {
                       const auto& [in, out] = pairs[rng() % pairs.size()];
                       return std::min(4096, in + std::uniform_int_distribution<int>(1, std::max(1, out))(rng));
                     }});
  const size_t pool_tokens = size_t(256) * 4096 + 4096;
  const size_t pool_elems = pool_tokens * kKvHeads * D;
  DeviceBuffer kc(pool_elems * 2), vc(pool_elems * 2);
  fill_random_bf16(kc.as<bf16>(), pool_elems, 21, 1.f);
  fill_random_bf16(vc.as<bf16>(), pool_elems, 22, 1.f);
  const size_t pool_blocks = pool_tokens / bs;
  if (profile_once) dists.erase(dists.begin(), dists.end() - 1);
  for (const Dist& dist : dists)
    for (int batch : {64, 128, 256}) {
      if (profile_once && batch != 256) continue;
      std::vector<int32_t> lens(batch);
      int64_t total = 0;
      int longest = 0;
      for (int32_t& l : lens) {
        l = dist.draw();
        total += l;
        longest = std::max(longest, l);
      }
      const int max_blocks = (longest + bs - 1) / bs;
      const double bytes = double(total) * kKvHeads * D * 2 * 2;
      const size_t table_blocks = size_t(batch) * max_blocks;
      const std::vector<DeviceBuffer> tables = rotated_block_tables(pool_blocks, table_blocks, bytes, rng);
      const size_t copies = tables.size();
      std::vector<int32_t> qs(batch + 1), ids(batch);
      std::iota(qs.begin(), qs.end(), 0);
      std::iota(ids.begin(), ids.end(), 0);
      std::vector<int32_t> longest_first = ids;
      order_longest_first(longest_first, lens.data());
      std::vector<int32_t> even(batch, static_cast<int32_t>(total / batch));
      auto d_qs = upload(qs), d_lens = upload(lens), d_even = upload(even), d_ids = upload(ids),
           d_longest = upload(longest_first);
      auto q = random_device_bf16(size_t(batch) * kQHeads * D, rng, 2.f);
      DeviceBuffer out(size_t(batch) * kQHeads * D * 2);
      PagedAttentionArgs a;
      a.q = q.as<bf16>(); a.q_token_stride = kQHeads * D; a.k_cache = kc.as<bf16>(); a.v_cache = vc.as<bf16>();
      a.out = out.as<bf16>(); a.query_start = d_qs.as<int32_t>(); a.max_blocks_per_seq = max_blocks;
      a.num_q_heads = kQHeads; a.num_kv_heads = kKvHeads; a.head_dim = D; a.block_size = bs;
      a.scale = 1.f / std::sqrt(float(D));
      std::printf("%s, batch %d: contexts mean %lld, longest %d, %.0f MB of K/V a layer\n", dist.name, batch,
                  static_cast<long long>(total / batch), longest, bytes / 1e6);
      auto time = [&](const char* label, const DeviceBuffer& ctx, const DeviceBuffer& seq_ids, bool shallow,
                      bool heads_fastest) {
        DecodePlan plan = plan_paged_attention_decode(batch, kKvHeads, kQHeads, longest, num_sms);
        plan.shallow = shallow;
        plan.heads_fastest = heads_fastest;
        DeviceBuffer ws(std::max<size_t>(paged_attention_decode_workspace_bytes(plan, batch, kQHeads, D), 16));
        a.context_lens = ctx.as<int32_t>();
        size_t turn = 0;
        char name[96];
        std::snprintf(name, sizeof name, "  %-30s (part %4dx%d)", label, plan.partition_tokens, plan.max_partitions);
        const auto launch = [&] {
          a.block_tables = tables[turn++ % copies].as<int32_t>();
          paged_attention_decode(a, seq_ids.as<int32_t>(), batch, plan, ws.data(), ws.bytes(), 0);
        };
        if (profile_once) {
          launch();
          launch();
          PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
          std::printf("%s: launched twice\n", name);
          return;
        }
        row(name, median_ms(launch), bytes, 4.0 * total * kQHeads * D, copy_gbs);
      };
      time("given order", d_lens, d_ids, false, false);
      time("longest first, heads fastest", d_lens, d_longest, false, true);
      time("shallow", d_lens, d_ids, true, false);
      time("shallow, longest first", d_lens, d_longest, true, true);
      time("uniform contexts, same total", d_even, d_ids, false, false);
      time("uniform contexts, shallow", d_even, d_ids, true, false);
    }
}

// "plans": the host time of a cuBLASLt plan for a GEMM shape first seen at run time (a step carrying prompt tokens
// brings a new m, its prompt tokens plus its decode rows, to each of the layer's four shapes: one heuristic search
// a new m), and the GPU time of what it chose over 40 m's of 300-2,000 (Llama-3-8B shapes, weights in DRAM). A search
// a bucket of m was measured in session 23 (H100: 40-47 us a plan instead of 141-155, its choices 7-16% slower on the
// GPU, ShareGPT 37.18 -> 36.85 req/s) and removed.
void plan_rows(std::mt19937& rng) {
  const int H = 4096, I = 14336, kMaxM = 2048;
  struct Shape { const char* name; int n, k; };
  const Shape shapes[] = {{"qkv", 6144, H}, {"o_proj", H, H}, {"gate_up", 2 * I, H}, {"down", H, I}};
  std::vector<int> ms;
  std::uniform_int_distribution<int> m_dist(300, 2000);
  for (int i = 0; i < 40; ++i) ms.push_back(m_dist(rng));
  auto x = random_device_bf16(size_t(kMaxM) * I, rng);
  DeviceBuffer y(size_t(kMaxM) * 2 * I * 2);
  for (const Shape& sh : shapes) {
    auto w = random_device_bf16(size_t(sh.n) * sh.k, rng);
    double flops = 0;
    for (int m : ms) flops += 2.0 * m * sh.n * sh.k;
    CublasLt gemm;
    auto run_all = [&] {
      for (int m : ms) gemm.linear(x.as<bf16>(), w.as<bf16>(), y.data(), GemmOutput::kBf16, m, sh.n, sh.k, 0);
    };
    run_all(); // every plan made here
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    const double host_us = 1e6 * gemm.plan_host_seconds() / std::max<int64_t>(1, gemm.plans_made());
    const double gpu_ms = median_ms(run_all, 1, 5);
    std::printf("plans %-8s one search a new m  %3lld plans, %7.1f us of host time each; GPU %.3f ms for the 40 m's "
                "(%.0f TFLOP/s)\n",
                sh.name, static_cast<long long>(gemm.plans_made()), host_us, gpu_ms, flops / gpu_ms / 1e9);
  }
}

// One L-token prompt for paged_attention_prefill, 32 query / 8 KV heads: its K / V in blocks of bs
// tokens at cache blocks 0, 1, 2, ... in order, its rows in tiles of kPrefillTileRows, and the
// block table, query range, context length and tiles on the device.
struct OnePromptPrefill {
  int L, bs, blocks;
  std::vector<PrefillTile> tiles;
  DeviceBuffer d_table, d_qs, d_lens, d_tiles;

  OnePromptPrefill(int L_, int bs_) : L(L_), bs(bs_), blocks(L_ / bs_) {
    std::vector<int32_t> table(blocks);
    std::iota(table.begin(), table.end(), 0);
    std::vector<int32_t> qs = {0, L}, lens = {L};
    for (int r = 0; r < L; r += kPrefillTileRows) tiles.push_back({0, r});
    d_table = upload(table);
    d_qs = upload(qs);
    d_lens = upload(lens);
    d_tiles = upload(tiles);
  }

  // The arguments over q (fused qkv rows of 48 D, q first), the caches and this metadata; out and
  // num_cache_blocks are left to the caller.
  PagedAttentionArgs args(const DeviceBuffer& q, const DeviceBuffer& k_cache, const DeviceBuffer& v_cache,
                          int D) const {
    PagedAttentionArgs a;
    a.q = q.as<bf16>(); a.q_token_stride = 48 * D; a.k_cache = k_cache.as<bf16>(); a.v_cache = v_cache.as<bf16>();
    a.query_start = d_qs.as<int32_t>(); a.context_lens = d_lens.as<int32_t>(); a.block_tables = d_table.as<int32_t>();
    a.max_blocks_per_seq = blocks; a.num_q_heads = 32; a.num_kv_heads = 8; a.head_dim = D; a.block_size = bs;
    a.scale = 1.f / std::sqrt(float(D));
    return a;
  }
};

// What one causal L-token prompt's attention costs at head_dim D, 32 query / 8 KV heads (q in a 48-head qkv
// row): its FLOPs, and the bytes of q, K and V read and out written once.
struct PrefillCost {
  double flops, bytes;
};
PrefillCost prefill_cost(int D, int L) {
  return {4.0 * 32 * D * (double(L) * (L + 1) / 2), double(L) * (48 * D + 32 * D) * 2};
}

// Causal prefill attention of one 4,096-token prompt, 32 query / 8 KV heads of head_dim D.
Row prefill_attention_row(int D, double copy_gbs, std::mt19937& rng) {
  const int L = 4096, bs = 16, blocks = L / bs, q_width = 32 * D, stride = 48 * D;
  auto kc = random_device_bf16(size_t(blocks) * 8 * bs * D, rng), vc = random_device_bf16(size_t(blocks) * 8 * bs * D, rng);
  const OnePromptPrefill prompt(L, bs);
  auto q = random_device_bf16(size_t(L) * stride, rng, 2.f);
  DeviceBuffer out(size_t(L) * q_width * 2);
  PagedAttentionArgs a = prompt.args(q, kc, vc, D);
  a.out = out.as<bf16>();
  const PrefillCost cost = prefill_cost(D, L);
  char name[80];
  std::snprintf(name, sizeof name, "prefill attention 1 x 4096 causal 32/8/%d", D);
  const int n = static_cast<int>(prompt.tiles.size());
  return row(name, median_ms([&] { paged_attention_prefill(a, prompt.d_tiles.as<PrefillTile>(), n, 0); }),
             cost.bytes, cost.flops, copy_gbs);
}

// sum (a - b)^2 and sum b^2 over n bf16 pairs, into acc[0] and acc[1] (float64 atomics).
__global__ void diff_norms_kernel(const bf16* a, const bf16* b, size_t n, double* acc) {
  double d2 = 0, b2 = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const double x = __bfloat162float(a[i]), y = __bfloat162float(b[i]);
    d2 += (x - y) * (x - y);
    b2 += y * y;
  }
  atomicAdd(&acc[0], d2);
  atomicAdd(&acc[1], b2);
}

// ||a - b|| / ||b|| of two bf16 device arrays.
double rel_l2_device(const bf16* a, const bf16* b, size_t n) {
  DeviceBuffer acc(2 * sizeof(double));
  PAGODA_CUDA_CHECK(cudaMemset(acc.data(), 0, acc.bytes()));
  diff_norms_kernel<<<1024, 256>>>(a, b, n, acc.as<double>());
  PAGODA_CUDA_CHECK_LAUNCH("diff_norms_kernel");
  const std::vector<double> h = download<double>(acc, 2);
  return std::sqrt(h[0] / (h[1] > 0 ? h[1] : 1));
}

// One causal prompt of L tokens for the prefill benches: random K / V caches (8 KV heads, block size 16) and q
// (32 query heads inside a 48-head qkv row), the same seeds for every bench so their rows compare.
struct PrefillInputs {
  static constexpr int kBlockSize = 16; // the engine's default
  PrefillInputs(int D, int L, int bs = kBlockSize)
      : kc(cache_elems(D, L) * 2), vc(cache_elems(D, L) * 2), q(size_t(L) * 48 * D * 2), prompt(L, bs) {
    fill_random_bf16(kc.as<bf16>(), cache_elems(D, L), 21, 1.f);
    fill_random_bf16(vc.as<bf16>(), cache_elems(D, L), 22, 1.f);
    fill_random_bf16(q.as<bf16>(), size_t(L) * 48 * D, 23, 2.f);
  }
  // Block sizes dividing L, so the element count is the same whatever the block size.
  static size_t cache_elems(int D, int L) { return size_t(L) * 8 * D; }
  DeviceBuffer kc, vc, q;
  OnePromptPrefill prompt;
};

// Causal prefill attention of one L-token prompt (32 query / 8 KV heads of head_dim D, block size
// 16): paged_attention_prefill's default kernel beside the wgmma kernel's schedules, in one run on
// the same data, and how far the wgmma output is from the default one (rel L2). Fewer
// repeats for the long prompts (one 131,072-token run of the mma.sync kernel is ~0.85 s).
std::vector<Row> prefill_compare_rows(int D, int L, double copy_gbs) {
  const int q_width = 32 * D;
  PrefillInputs in(D, L);
  const OnePromptPrefill& prompt = in.prompt;
  DeviceBuffer &q = in.q, &kc = in.kc, &vc = in.vc;
  DeviceBuffer out_default(size_t(L) * q_width * 2), out_wgmma(size_t(L) * q_width * 2);
  PagedAttentionArgs a = prompt.args(q, kc, vc, D);
  a.num_cache_blocks = L / PrefillInputs::kBlockSize;
  const PrefillCost cost = prefill_cost(D, L);
  const int warmup = L <= 4096 ? 3 : L <= 32768 ? 2 : 1, reps = L <= 4096 ? 20 : L <= 32768 ? 10 : 3;
  const int n = static_cast<int>(prompt.tiles.size());
  const PrefillTile* tiles = prompt.d_tiles.as<PrefillTile>();
  std::vector<Row> rows;
  char name[96];
  a.out = out_default.as<bf16>();
  std::snprintf(name, sizeof name, "prefill 1 x %d causal 32/8/%d %s", L, D,
                paged_attention_prefill_wgmma_switch() ? "default (switch on: wgmma)" : "mma.sync");
  rows.push_back(row(name, median_ms([&] { paged_attention_prefill(a, tiles, n, 0); }, warmup, reps),
                     cost.bytes, cost.flops, copy_gbs));
  if (!paged_attention_prefill_wgmma_supported(a)) {
    std::printf("prefill 1 x %d: no wgmma kernel here (needs sm_90 and a build for sm_90a)\n", L);
    return rows;
  }
  a.out = out_wgmma.as<bf16>();
  std::vector<WgmmaPrefillSchedule> schedules = {WgmmaPrefillSchedule::kSimple};
  if (D != 256) // head_dim 256 runs simple whatever is asked
    for (WgmmaPrefillSchedule more : {WgmmaPrefillSchedule::kSimpleDeep, WgmmaPrefillSchedule::kOverlap,
                                      WgmmaPrefillSchedule::kSimpleTma, WgmmaPrefillSchedule::kPingpong,
                                      WgmmaPrefillSchedule::kPingpongCpAsync, WgmmaPrefillSchedule::kPingpongLazy,
                                      WgmmaPrefillSchedule::kPingpongTwoIssuers})
      schedules.push_back(more);
  for (WgmmaPrefillSchedule schedule : schedules) {
    const char* sched = wgmma_prefill_schedule_name(schedule);
    std::snprintf(name, sizeof name, "prefill 1 x %d causal 32/8/%d wgmma %s", L, D, sched);
    rows.push_back(row(name, median_ms([&] { paged_attention_prefill_wgmma(a, tiles, n, 0, schedule); },
                                       warmup, reps),
                       cost.bytes, cost.flops, copy_gbs));
    std::printf("  wgmma %s vs default output: rel L2 %.2e\n", sched,
                rel_l2_device(out_wgmma.as<bf16>(), out_default.as<bf16>(), size_t(L) * q_width));
  }
  return rows;
}

// "prefill-quick [L ...]": head_dim 128 only, the default wgmma schedule beside the others worth a same-run
// comparison, at the engine's block size 16 and at 128 (2 bulk copies a K or V tile instead of 16), so a kernel
// change is measured in a short call. Rel L2 against pingpong-lazy at the same block size (the cache layout, and
// so the data, differs between block sizes).
void prefill_quick_rows(double copy_gbs, const std::vector<int>& lengths) {
  const int D = 128, q_width = 32 * D;
  for (int L : lengths) {
    const PrefillCost cost = prefill_cost(D, L);
    const int warmup = L <= 32768 ? 2 : 1, reps = L <= 32768 ? 10 : 3;
    DeviceBuffer reference(size_t(L) * q_width * 2), out(size_t(L) * q_width * 2);
    for (int bs : {16, 128}) {
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
      PrefillInputs in(D, L, bs);
      PagedAttentionArgs a = in.prompt.args(in.q, in.kc, in.vc, D);
      a.num_cache_blocks = L / bs;
      const int n = static_cast<int>(in.prompt.tiles.size());
      const PrefillTile* tiles = in.prompt.d_tiles.as<PrefillTile>();
      for (WgmmaPrefillSchedule schedule :
           {WgmmaPrefillSchedule::kPingpongLazy, WgmmaPrefillSchedule::kPingpongTwoIssuers,
            WgmmaPrefillSchedule::kPingpong, WgmmaPrefillSchedule::kSimpleTma}) {
        const bool first = schedule == WgmmaPrefillSchedule::kPingpongLazy;
        a.out = first ? reference.as<bf16>() : out.as<bf16>();
        char name[96];
        std::snprintf(name, sizeof name, "prefill 1 x %d causal 32/8/128 bs %d %s", L, bs,
                      wgmma_prefill_schedule_name(schedule));
        row(name, median_ms([&] { paged_attention_prefill_wgmma(a, tiles, n, 0, schedule); }, warmup, reps),
            cost.bytes, cost.flops, copy_gbs);
        if (!first)
          std::printf("  vs %s: rel L2 %.2e\n", wgmma_prefill_schedule_name(WgmmaPrefillSchedule::kPingpongLazy),
                      rel_l2_device(out.as<bf16>(), reference.as<bf16>(), size_t(L) * q_width));
      }
    }
  }
}

// "prefill-padded [L ...]": the head_dims without a wgmma layout of their own (kPaddedHead: 32 / 48 at 64, 80 / 96 /
// 112 at 128, 160 at 256), the mma.sync kernel they run on now beside the padded wgmma kernel, same data, and
// how far apart their outputs are (rel L2). The caller sets PAGODA_PREFILL_WGMMA_PADDED=1 before the first launch.
void prefill_padded_rows(double copy_gbs, const std::vector<int>& lengths) {
  for (int L : lengths)
    for (int D : {32, 48, 80, 96, 112, 160}) {
      const int q_width = 32 * D;
      const PrefillCost cost = prefill_cost(D, L);
      const int warmup = L <= 4096 ? 3 : 2, reps = L <= 4096 ? 20 : 5;
      PrefillInputs in(D, L);
      DeviceBuffer mma_out(size_t(L) * q_width * 2), wgmma_out(size_t(L) * q_width * 2);
      PagedAttentionArgs a = in.prompt.args(in.q, in.kc, in.vc, D);
      a.num_cache_blocks = L / PrefillInputs::kBlockSize;
      const int n = static_cast<int>(in.prompt.tiles.size());
      const PrefillTile* tiles = in.prompt.d_tiles.as<PrefillTile>();
      char name[96];
      a.out = mma_out.as<bf16>();
      std::snprintf(name, sizeof name, "prefill 1 x %d causal 32/8/%d mma.sync", L, D);
      row(name, median_ms([&] { paged_attention_prefill_mma(a, tiles, n, 0); }, warmup, reps), cost.bytes,
          cost.flops, copy_gbs);
      if (!paged_attention_prefill_wgmma_supported(a)) {
        std::printf("  head_dim %d: no padded wgmma kernel (PAGODA_PREFILL_WGMMA_PADDED=1, sm_90, sm_90a build)\n", D);
        continue;
      }
      a.out = wgmma_out.as<bf16>();
      std::snprintf(name, sizeof name, "prefill 1 x %d causal 32/8/%d wgmma padded", L, D);
      row(name, median_ms([&] { paged_attention_prefill_wgmma(a, tiles, n, 0, WgmmaPrefillSchedule::kDefault); },
                          warmup, reps),
          cost.bytes, cost.flops, copy_gbs);
      std::printf("  vs mma.sync: rel L2 %.2e\n",
                  rel_l2_device(wgmma_out.as<bf16>(), mma_out.as<bf16>(), size_t(L) * q_width));
    }
}

// "prefill-profile [L]": the default prefill kernel on one L-token prompt (head_dim 128, block size 16), launched
// twice untimed, for Nsight Compute (launch-skip 1 profiles the second, warm launch).
void prefill_profile_once(int L) {
  PrefillInputs in(128, L);
  DeviceBuffer out(size_t(L) * 32 * 128 * 2);
  PagedAttentionArgs a = in.prompt.args(in.q, in.kc, in.vc, 128);
  a.num_cache_blocks = L / PrefillInputs::kBlockSize;
  a.out = out.as<bf16>();
  const int n = static_cast<int>(in.prompt.tiles.size());
  for (int i = 0; i < 2; ++i) paged_attention_prefill(a, in.prompt.d_tiles.as<PrefillTile>(), n, 0);
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
  std::printf("prefill-profile: 2 launches of 1 x %d causal 32/8/128\n", L);
}

// The prompt lengths a mode names after its own name (argv[2] on), or `fallback` when it names none.
std::vector<int> lengths_argument(int argc, char** argv, std::vector<int> fallback) {
  std::vector<int> lengths;
  for (int i = 2; i < argc; ++i) lengths.push_back(std::atoi(argv[i]));
  return lengths.empty() ? fallback : lengths;
}

// Opens a figures file and writes its first fields: which bench, the device, the commit.
FILE* open_bench_json(const char* json_path, const char* bench, const cudaDeviceProp& prop) {
  FILE* f = std::fopen(json_path, "w");
  if (f == nullptr) {
    std::printf("kernel_bench: cannot write %s\n", json_path);
    std::exit(1);
  }
  const char* commit = std::getenv("PAGODA_GIT_COMMIT");
  std::fprintf(f, "{\n  \"bench\": \"cuda_kernel_bench %s\",\n  \"device\": \"%s\",\n  \"commit\": \"%s\",\n", bench,
               prop.name, commit ? commit : "unknown");
  return f;
}

// Writes the prefill benches' rows (name, ms, TFLOP/s) after their "rows" key and closes the file.
void close_prefill_json(FILE* f, const std::vector<Row>& rows, const char* json_path) {
  for (size_t i = 0; i < rows.size(); ++i)
    std::fprintf(f, "    {\"name\": \"%s\", \"ms\": %.4f, \"tflops\": %.1f}%s\n", rows[i].name.c_str(), rows[i].ms,
                 rows[i].tflops, i + 1 < rows.size() ? "," : "");
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
  std::printf("kernel_bench: wrote %s\n", json_path);
}

// "prefill [out.json]": the default prefill kernel beside the wgmma one at 1 x 4,096, 32,768 and
// 131,072 tokens, head_dim 128 and 64 (256 at 4,096 and 32,768).
void prefill_rows(double copy_gbs, const cudaDeviceProp& prop, const char* json_path) {
  std::vector<Row> rows;
  for (int D : {128, 64})
    for (int L : {4096, 32768, 131072})
      for (const Row& r : prefill_compare_rows(D, L, copy_gbs)) rows.push_back(r);
  for (int L : {4096, 32768})
    for (const Row& r : prefill_compare_rows(256, L, copy_gbs)) rows.push_back(r);
  if (json_path == nullptr) return;
  FILE* f = open_bench_json(json_path, "prefill", prop);
  std::fprintf(f, "  \"timing\": \"median of event-timed runs (20 at 4,096, 10 at 32,768, 3 at 131,072 tokens)\",\n"
                  "  \"flops\": \"4 x 32 heads x head_dim x L (L + 1) / 2 (causal)\",\n  \"rows\": [\n");
  close_prefill_json(f, rows, json_path);
}

// "hdim": decode and prefill attention at head_dim 64, 80, 96, 128 and 256 side by side (Llama-3
// head counts, 32 query / 8 KV heads), written as JSON to `json_path` when one is given.
void head_dim_rows(double copy_gbs, int num_sms, const cudaDeviceProp& prop, std::mt19937& rng, const char* json_path) {
  std::vector<DecodeConfig> configs;
  for (int batch : {1, 16, 64, 256}) configs.push_back({32, 8, batch, 2048, 2048});
  for (int batch : {1, 64}) configs.push_back({32, 8, batch, 4096, 4096});
  std::vector<std::pair<int, std::vector<Row>>> by_dim;
  for (int D : {64, 80, 96, 128, 256}) {
    std::vector<Row> rows = decode_attention_rows(D, configs, false, copy_gbs, num_sms, rng);
    rows.push_back(prefill_attention_row(D, copy_gbs, rng));
    by_dim.emplace_back(D, std::move(rows));
  }
  if (json_path == nullptr) return;
  FILE* f = open_bench_json(json_path, "hdim", prop);
  std::fprintf(f, "  \"copy_gbs_read_plus_write\": %.1f,\n  \"timing\": \"median of 20 event-timed runs after 3 warm-ups; "
                  "decode K/V rotated over copies larger than L2\",\n  \"head_dims\": {\n", copy_gbs);
  for (size_t i = 0; i < by_dim.size(); ++i) {
    std::fprintf(f, "    \"%d\": [\n", by_dim[i].first);
    const auto& rows = by_dim[i].second;
    for (size_t j = 0; j < rows.size(); ++j)
      std::fprintf(f, "      {\"name\": \"%s\", \"ms\": %.5f, \"gbs\": %.1f, \"fraction_of_copy\": %.4f, \"tflops\": %.1f}%s\n",
                   rows[j].name.c_str(), rows[j].ms, rows[j].gbs, rows[j].fraction_of_copy, rows[j].tflops,
                   j + 1 < rows.size() ? "," : "");
    std::fprintf(f, "    ]%s\n", i + 1 < by_dim.size() ? "," : "");
  }
  std::fprintf(f, "  }\n}\n");
  std::fclose(f);
  std::printf("kernel_bench: wrote %s\n", json_path);
}

// "cascade": one layer's decode attention of the prefix-caching workload (128 sequences sharing a
// 1,536-token prefix, 576 tokens of their own each, Llama-3-8B heads, block size 16): the plain
// decode kernel on the shared tables, the same with every prefix private (no L2 reuse), and cascade
// attention (prefix kernel + suffix decode + merge) whole and in its parts. Four copies of the layer's
// cache rotate so the figures are DRAM ones; bytes are each call's K/V reads.
void cascade_rows(double copy_gbs, int num_sms) {
  const int D = 128, bs = 16, n = 128, qh = 32, kvh = 8, prefix = 1536, own = 576, ctx = prefix + own;
  const int pb = prefix / bs, sb = own / bs, max_blocks = pb + sb, copies = 4;
  const size_t block_elems = size_t(kvh) * bs * D;
  const size_t shared_blocks = pb + size_t(n) * sb; // one copy with the prefix shared
  const size_t private_blocks = size_t(n) * max_blocks;
  const size_t pool_blocks = copies * shared_blocks + private_blocks;
  DeviceBuffer kc(pool_blocks * block_elems * 2), vc(pool_blocks * block_elems * 2);
  fill_random_bf16(kc.as<bf16>(), pool_blocks * block_elems, 21, 1.f);
  fill_random_bf16(vc.as<bf16>(), pool_blocks * block_elems, 22, 1.f);
  std::mt19937 rng(7);
  std::vector<int32_t> order(pool_blocks);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<DeviceBuffer> tables;
  size_t next = 0;
  for (int c = 0; c < copies; ++c) {
    std::vector<int32_t> t(size_t(n) * max_blocks);
    const size_t prefix0 = next;
    next += pb;
    for (int s = 0; s < n; ++s)
      for (int b = 0; b < max_blocks; ++b) t[size_t(s) * max_blocks + b] = order[b < pb ? prefix0 + b : next++];
    tables.push_back(upload(t));
  }
  std::vector<int32_t> private_table(order.begin() + next, order.begin() + next + private_blocks);
  DeviceBuffer d_private = upload(private_table);
  std::vector<int32_t> qs(n + 1), lens(n, ctx), suffix(n, own), ids(n);
  std::iota(qs.begin(), qs.end(), 0);
  std::iota(ids.begin(), ids.end(), 0);
  auto d_qs = upload(qs), d_lens = upload(lens), d_suffix = upload(suffix), d_ids = upload(ids);
  DeviceBuffer q(size_t(n) * qh * D * 2), out(size_t(n) * qh * D * 2);
  fill_random_bf16(q.as<bf16>(), size_t(n) * qh * D, 23, 2.f);
  PagedAttentionArgs a;
  a.q = q.as<bf16>(); a.q_token_stride = qh * D; a.k_cache = kc.as<bf16>(); a.v_cache = vc.as<bf16>(); a.out = out.as<bf16>();
  a.query_start = d_qs.as<int32_t>(); a.context_lens = d_lens.as<int32_t>(); a.max_blocks_per_seq = max_blocks;
  a.num_q_heads = qh; a.num_kv_heads = kvh; a.head_dim = D; a.block_size = bs; a.scale = 1.f / std::sqrt(float(D));
  const double token_bytes = double(kvh) * D * 2 * 2; // K and V of one token, one layer
  const double plain_bytes = double(n) * ctx * token_bytes;
  const double cascade_bytes = (double(prefix) + double(n) * own) * token_bytes;
  const double flops = 4.0 * n * ctx * qh * D;

  const DecodePlan plan = plan_paged_attention_decode(n, kvh, qh, ctx, num_sms);
  DeviceBuffer ws(std::max<size_t>(paged_attention_decode_workspace_bytes(plan, n, qh, D), 16));
  size_t turn = 0;
  const Row plain = row("decode attn, prefix shared (1 layer)", median_ms([&] {
                          a.block_tables = tables[turn++ % copies].as<int32_t>();
                          paged_attention_decode(a, d_ids.as<int32_t>(), n, plan, ws.data(), ws.bytes(), 0);
                        }), plain_bytes, flops, copy_gbs);
  row("decode attn, every prefix private", median_ms([&] {
        a.block_tables = d_private.as<int32_t>();
        paged_attention_decode(a, d_ids.as<int32_t>(), n, plan, ws.data(), ws.bytes(), 0);
      }), plain_bytes, flops, copy_gbs);

  CascadeStep step;
  step.prefix_blocks = pb;
  step.suffix_context_lens = d_suffix.as<int32_t>();
  plan_cascade_step(step, n, kvh, qh, bs, ctx, num_sms);
  DeviceBuffer cws(cascade_attention_workspace_bytes(step, n, qh, D));
  auto use_copy = [&](CascadeStep& st) {
    a.block_tables = tables[turn++ % copies].as<int32_t>();
    st.prefix_table = a.block_tables;
  };
  const Row cascade = row("cascade attn (prefix + suffix + merge)", median_ms([&] {
                            use_copy(step);
                            cascade_attention_decode(a, d_ids.as<int32_t>(), n, step, cws.data(), cws.bytes(), 0);
                          }), cascade_bytes, flops, copy_gbs);
  row("  cascade prefix kernel alone", median_ms([&] {
        use_copy(step);
        cascade_prefix_attention(a, d_ids.as<int32_t>(), n, step, cws.data(), 0);
      }), double(prefix) * token_bytes, 4.0 * n * prefix * qh * D, copy_gbs);
  row("  suffix decode + merge alone", median_ms([&] {
        use_copy(step);
        PagedAttentionArgs sa = a;
        sa.block_tables = a.block_tables + pb;
        sa.context_lens = d_suffix.as<int32_t>();
        paged_attention_decode_after_prefix(sa, d_ids.as<int32_t>(), n, step.suffix_plan, step.prefix_partitions,
                                            cws.data(), 0);
      }), double(n) * own * token_bytes, 4.0 * n * own * qh * D, copy_gbs);
  { // the same numbers both ways (the test checks this closely; here a guard on the timed setup)
    DeviceBuffer out2(out.bytes());
    a.block_tables = tables[0].as<int32_t>();
    paged_attention_decode(a, d_ids.as<int32_t>(), n, plan, ws.data(), ws.bytes(), 0);
    a.out = out2.as<bf16>();
    step.prefix_table = a.block_tables;
    cascade_attention_decode(a, d_ids.as<int32_t>(), n, step, cws.data(), cws.bytes(), 0);
    a.out = out.as<bf16>();
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    std::printf("cascade vs plain output: rel L2 %.2e\n",
                rel_l2_device(out.as<bf16>(), out2.as<bf16>(), size_t(n) * qh * D));
  }
  std::printf("cascade plan: prefix %d partitions x %d tokens, %d row tiles (%d CTAs); suffix %d x %d\n",
              step.prefix_partitions, step.prefix_partition_tokens, step.prefix_row_tiles,
              step.prefix_partitions * step.prefix_row_tiles * kvh, step.suffix_plan.max_partitions,
              step.suffix_plan.partition_tokens);
  std::printf("K/V bytes a layer: plain %.1f MB, cascade %.1f MB; x 32 layers: plain %.2f ms, cascade %.2f ms "
              "(saves %.2f ms a decode step)\n",
              plain_bytes / 1e6, cascade_bytes / 1e6, 32 * plain.ms, 32 * cascade.ms, 32 * (plain.ms - cascade.ms));
}

// Whether a step that carries prompt tokens beside long-context decode rows gains from running the two as separate
// forwards side by side on two streams (issue 20: random 1,024 / 1,024's mixed steps run at ~59% of the per-step
// roofline, whose max(bytes, FLOPs) counts the decode rows' KV read as hidden under the prompt's compute-bound
// GEMMs; one stream runs them one after the other). Llama-3-8B's four projections a layer over 32 layers (two weight
// copies alternated, 436 MB a layer, past L2) and decode attention over D rows of C tokens; prompt attention,
// norms and the rest are left out (the same in every variant). Variants: the step as it runs now (one GEMM of
// P + D rows a projection, then the D rows' attention), the split on one stream (weights read twice), the split on
// two streams, and the same with the decode stream at the higher priority. A measurement: it asserts nothing.
void overlap_rows(double copy_gbs, double gemm_tflops, int num_sms, std::mt19937& rng, int P, int D, int C) {
  constexpr int kLayers = 32, kKvHeads = 8, kQHeads = 32, kD = 128, kBs = 16;
  struct Shape { int n, k; };
  const Shape shapes[4] = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}};
  std::vector<DeviceBuffer> w[2];
  for (auto& copy : w)
    for (const Shape& sh : shapes) {
      copy.emplace_back(size_t(sh.n) * sh.k * 2);
      fill_random_bf16(copy.back().as<bf16>(), size_t(sh.n) * sh.k, uint32_t(rng()), 0.02f);
    }
  auto buffer = [&](size_t elems) {
    DeviceBuffer b(elems * 2);
    fill_random_bf16(b.as<bf16>(), elems, uint32_t(rng()), 1.f);
    return b;
  };
  DeviceBuffer x = buffer(size_t(P + D) * 14336), y = buffer(size_t(P + D) * 28672);
  DeviceBuffer xd = buffer(size_t(D) * 14336), yd = buffer(size_t(D) * 28672);
  // The D rows' KV: one layer's pool (D x C tokens, 4 KiB each for K and V), read by every layer in a shuffled order.
  const int blocks_per_seq = (C + kBs - 1) / kBs;
  const size_t pool_blocks = size_t(D) * blocks_per_seq;
  const size_t pool_elems = pool_blocks * kKvHeads * kBs * kD;
  DeviceBuffer kc(pool_elems * 2), vc(pool_elems * 2);
  fill_random_bf16(kc.as<bf16>(), pool_elems, 21, 1.f);
  fill_random_bf16(vc.as<bf16>(), pool_elems, 22, 1.f);
  std::vector<int32_t> table(pool_blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  std::vector<int32_t> qs(D + 1), lens(D, C), ids(D);
  std::iota(qs.begin(), qs.end(), 0);
  std::iota(ids.begin(), ids.end(), 0);
  auto d_table = upload(table), d_qs = upload(qs), d_lens = upload(lens), d_ids = upload(ids);
  DeviceBuffer q = buffer(size_t(D) * kQHeads * kD), attn_out = buffer(size_t(D) * kQHeads * kD);
  PagedAttentionArgs a;
  a.q = q.as<bf16>(); a.q_token_stride = kQHeads * kD; a.k_cache = kc.as<bf16>(); a.v_cache = vc.as<bf16>();
  a.out = attn_out.as<bf16>(); a.query_start = d_qs.as<int32_t>(); a.context_lens = d_lens.as<int32_t>();
  a.block_tables = d_table.as<int32_t>(); a.max_blocks_per_seq = blocks_per_seq; a.num_q_heads = kQHeads;
  a.num_kv_heads = kKvHeads; a.head_dim = kD; a.block_size = kBs; a.scale = 1.f / std::sqrt(float(kD));
  const DecodePlan plan = plan_paged_attention_decode(D, kKvHeads, kQHeads, C, num_sms);
  DeviceBuffer ws(paged_attention_decode_workspace_bytes(plan, D, kQHeads, kD));

  CublasLt gemm_a, gemm_b; // a workspace each: the two streams run GEMMs at once
  int lo = 0, hi = 0;
  PAGODA_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&lo, &hi));
  cudaStream_t sa, sb, sb_high;
  PAGODA_CUDA_CHECK(cudaStreamCreateWithFlags(&sa, cudaStreamNonBlocking));
  PAGODA_CUDA_CHECK(cudaStreamCreateWithFlags(&sb, cudaStreamNonBlocking));
  PAGODA_CUDA_CHECK(cudaStreamCreateWithPriority(&sb_high, cudaStreamNonBlocking, hi));
  auto projections = [&](CublasLt& g, const DeviceBuffer& in, DeviceBuffer& out, int m, int layer, cudaStream_t st) {
    for (int i = 0; i < 4; ++i)
      g.linear(in.as<bf16>(), w[layer & 1][i].as<bf16>(), out.data(), GemmOutput::kBf16, m, shapes[i].n, shapes[i].k, st);
  };
  auto attention = [&](cudaStream_t st) { paged_attention_decode(a, d_ids.as<int32_t>(), D, plan, ws.data(), ws.bytes(), st); };
  // Each (m, n, k) picks its kernel on first use (timed); do that for every m before timing.
  for (int m : {P + D, P, D}) projections(gemm_a, m == D ? xd : x, m == D ? yd : y, m, 0, sa);
  projections(gemm_b, xd, yd, D, 0, sb);
  PAGODA_CUDA_CHECK(cudaDeviceSynchronize());

  cudaEvent_t start, stop, forked, joined;
  PAGODA_CUDA_CHECK(cudaEventCreate(&start));
  PAGODA_CUDA_CHECK(cudaEventCreate(&stop));
  PAGODA_CUDA_CHECK(cudaEventCreateWithFlags(&forked, cudaEventDisableTiming));
  PAGODA_CUDA_CHECK(cudaEventCreateWithFlags(&joined, cudaEventDisableTiming));
  auto time_ms = [&](const std::function<void()>& step) {
    std::vector<double> t;
    for (int rep = 0; rep < 7; ++rep) {
      PAGODA_CUDA_CHECK(cudaEventRecord(start, sa));
      step();
      PAGODA_CUDA_CHECK(cudaEventRecord(stop, sa));
      PAGODA_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      if (rep > 0) t.push_back(ms); // the first is a warm-up
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  // The prompt's GEMMs through `prompt` on sa, the decode rows on decode_stream, joined on sa.
  auto split_on = [&](CublasLt& prompt, cudaStream_t decode_stream) {
    return [&, decode_stream, prompt_gemm = &prompt] {
      PAGODA_CUDA_CHECK(cudaEventRecord(forked, sa));
      PAGODA_CUDA_CHECK(cudaStreamWaitEvent(decode_stream, forked));
      for (int l = 0; l < kLayers; ++l) projections(*prompt_gemm, x, y, P, l, sa);
      for (int l = 0; l < kLayers; ++l) {
        projections(gemm_b, xd, yd, D, l, decode_stream);
        attention(decode_stream);
      }
      PAGODA_CUDA_CHECK(cudaEventRecord(joined, decode_stream));
      PAGODA_CUDA_CHECK(cudaStreamWaitEvent(sa, joined));
    };
  };
  double flops = 0, weight_bytes = 0;
  for (const Shape& sh : shapes) {
    flops += 2.0 * sh.n * sh.k * kLayers;
    weight_bytes += 2.0 * sh.n * sh.k * kLayers;
  }
  const double kv_bytes = double(D) * C * kKvHeads * kD * 2 * 2 * kLayers;
  const double gemm_ms = flops * (P + D) / gemm_tflops / 1e9, kv_ms = kv_bytes / copy_gbs / 1e6;
  const double bytes_ms = (weight_bytes + kv_bytes) / copy_gbs / 1e6;
  std::printf("overlap P %d prompt tokens + D %d decode rows of %d tokens, 32 layers: GEMM FLOPs at %.0f TFLOP/s %.2f ms, "
              "weights + KV at %.0f GB/s %.2f ms (KV %.2f): per-step roofline %.2f ms, serial %.2f ms\n",
              P, D, C, gemm_tflops, gemm_ms, copy_gbs, bytes_ms, kv_ms, std::max(gemm_ms, bytes_ms),
              std::max(gemm_ms, weight_bytes / copy_gbs / 1e6) + kv_ms);
  const double now_ms = time_ms([&] {
    for (int l = 0; l < kLayers; ++l) {
      projections(gemm_a, x, y, P + D, l, sa);
      attention(sa);
    }
  });
  const double roof = std::max(gemm_ms, bytes_ms);
  auto report = [&](const char* name, double ms) {
    std::printf("  %-44s %9.2f ms  %.3fx the step as it runs  %5.1f%% of the per-step roofline\n", name, ms, ms / now_ms,
                100.0 * roof / ms);
  };
  report("as it runs: P + D rows a GEMM, then attention", now_ms);
  report("split, one stream (weights read twice)", time_ms([&] {
           for (int l = 0; l < kLayers; ++l) {
             projections(gemm_a, x, y, P, l, sa);
             projections(gemm_a, xd, yd, D, l, sa);
             attention(sa);
           }
         }));
  report("split, two streams", time_ms(split_on(gemm_a, sb)));
  report("split, two streams, decode at high priority", time_ms(split_on(gemm_a, sb_high)));
  // The prompt's GEMMs held to fewer SMs (cuBLASLt's SM count target), so the decode stream's kernels find SMs free
  // beside them rather than only between two GEMMs.
  for (int spare : {16, 32, 48}) {
    CublasLt held;
    held.set_sm_count_target(num_sms - spare);
    for (int m : {P, P + D}) projections(held, x, y, m, 0, sa); // picks its kernels
    PAGODA_CUDA_CHECK(cudaStreamSynchronize(sa));
    char name[96];
    std::snprintf(name, sizeof name, "split, two streams, prompt GEMMs on %d SMs", num_sms - spare);
    report(name, time_ms(split_on(held, sb_high)));
    std::snprintf(name, sizeof name, "  its prompt GEMMs alone on %d SMs", num_sms - spare);
    report(name, time_ms([&] {
             for (int l = 0; l < kLayers; ++l) projections(held, x, y, P, l, sa);
           }));
  }
  report("the prompt's GEMMs alone", time_ms([&] {
           for (int l = 0; l < kLayers; ++l) projections(gemm_a, x, y, P, l, sa);
         }));
  report("the decode rows alone (GEMMs + attention)", time_ms([&] {
           for (int l = 0; l < kLayers; ++l) {
             projections(gemm_a, xd, yd, D, l, sa);
             attention(sa);
           }
         }));
  for (cudaEvent_t e : {start, stop, forked, joined}) cudaEventDestroy(e);
  for (cudaStream_t st : {sa, sb, sb_high}) cudaStreamDestroy(st);
}

int main(int argc, char** argv) {
  skip_without_device("kernel_bench");
  // "decode": the copy and decode attention rows only; "decode sweep": also every partition; "decode fp8": each
  // row again through an e4m3 cache (kv_cache_dtype fp8);
  // "gemm": the copy and GEMM rows only; "tune": what GEMM tuning finds per shape and m; "search [m ...]": every
  // cuBLASLt configuration for the prompt-step GEMMs at m; "tune-every [m ...]": tune() over the heuristic's eight
  // beside tune() over every configuration at decode sizes;
  // "hdim [out.json]": decode and prefill attention at head_dim 64, 80, 96, 128, 256;
  // "prefill [out.json]": the default prefill kernel beside the wgmma one up to 131,072 tokens;
  // "prefill-padded [L ...]": the padded head_dims on wgmma beside mma.sync;
  // "prefill-quick [L ...]": head_dim 128's wgmma schedules at block sizes 16 and 128; "prefill-profile [L]": the
  // default prefill kernel launched twice for Nsight Compute;
  // "cascade": decode attention of the prefix-caching workload, plain vs cascade (one layer);
  // "uneven [dataset.json [profile]]": decode attention over ShareGPT-like uneven contexts at batch 64-256 (one
  // layer); "profile": batch 256 only, each variant launched twice untimed, for Nsight Compute;
  // "plans": cuBLASLt's host time for a GEMM shape first seen at run time (a search a new m);
  // "overlap [P D C ...]": a step of P prompt tokens beside D decode rows of C tokens, as it runs and split over two
  // streams (default: random 1,024 / 1,024's mixed step, 1,792 + 256 x 1,536, and ShareGPT's, 700 + 256 x 400).
  const bool decode_only = argc > 1 && std::string(argv[1]) == "decode";
  const bool gemm_only = argc > 1 && std::string(argv[1]) == "gemm";
  const bool tune_only = argc > 1 && std::string(argv[1]) == "tune";
  const bool sweep = decode_only && argc > 2 && std::string(argv[2]) == "sweep";
  const bool hdim_only = argc > 1 && std::string(argv[1]) == "hdim";
  const bool prefill_only = argc > 1 && std::string(argv[1]) == "prefill";
  const bool cascade_only = argc > 1 && std::string(argv[1]) == "cascade";
  const bool overlap_only = argc > 1 && std::string(argv[1]) == "overlap";
  const bool uneven_only = argc > 1 && std::string(argv[1]) == "uneven";
  const bool plans_only = argc > 1 && std::string(argv[1]) == "plans";
  std::mt19937 rng(1);
  cudaDeviceProp prop{};
  PAGODA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);

  const size_t copy_bytes = size_t(1) << 30;
  DeviceBuffer src(copy_bytes), dst(copy_bytes);
  PAGODA_CUDA_CHECK(cudaMemset(src.data(), 1, copy_bytes));
  const double copy_ms = median_ms([&] { PAGODA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), copy_bytes, cudaMemcpyDeviceToDevice)); });
  const double copy_gbs = 2.0 * copy_bytes / copy_ms / 1e6;
  std::printf("%-46s %9.3f ms %8.0f GB/s (read + write)\n", "device-to-device copy 1 GiB", copy_ms, copy_gbs);

  if (gemm_only) {
    gemm_rows(copy_gbs, rng);
    return 0;
  }
  if (tune_only) {
    tune_rows(copy_gbs, rng);
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "tune-every") {
    tune_every_rows(lengths_argument(argc, argv, {136, 192, 256}), rng);
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "search") {
    search_rows(lengths_argument(argc, argv, {896, 1024}), rng);
    return 0;
  }
  if (prefill_only) {
    prefill_rows(copy_gbs, prop, argc > 2 ? argv[2] : nullptr);
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "prefill-quick") {
    prefill_quick_rows(copy_gbs, lengths_argument(argc, argv, {32768}));
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "prefill-padded") {
    setenv("PAGODA_PREFILL_WGMMA_PADDED", "1", 1); // read once, at the first launch
    prefill_padded_rows(copy_gbs, lengths_argument(argc, argv, {4096, 32768}));
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "prefill-profile") {
    prefill_profile_once(argc > 2 ? std::atoi(argv[2]) : 32768);
    return 0;
  }
  if (cascade_only) {
    cascade_rows(copy_gbs, prop.multiProcessorCount);
    return 0;
  }
  if (overlap_only) {
    const double tflops = pagoda::cuda_gemm_tflops(4096, 4096, 14336);
    std::printf("%-46s %9.1f TFLOP/s (cuBLASLt 4096 x 4096 x 14336, as pagoda-bench measures it)\n", "bf16 GEMM rate",
                tflops);
    std::vector<int> shapes = {1792, 256, 1536, 700, 256, 400};
    if (argc > 4) {
      shapes.clear();
      for (int i = 2; i + 2 < argc; i += 3)
        for (int j = 0; j < 3; ++j) shapes.push_back(std::atoi(argv[i + j]));
    }
    for (size_t i = 0; i + 2 < shapes.size(); i += 3)
      overlap_rows(copy_gbs, tflops, prop.multiProcessorCount, rng, shapes[i], shapes[i + 1], shapes[i + 2]);
    return 0;
  }
  if (plans_only) {
    plan_rows(rng);
    return 0;
  }
  if (uneven_only) {
    const bool profile_once = argc > 3 && std::string(argv[3]) == "profile";
    uneven_decode_rows(copy_gbs, prop.multiProcessorCount, rng, argc > 2 ? argv[2] : nullptr, profile_once);
    return 0;
  }
  if (hdim_only) {
    head_dim_rows(copy_gbs, prop.multiProcessorCount, prop, rng, argc > 2 ? argv[2] : nullptr);
    return 0;
  }

  std::vector<DecodeConfig> configs;
  for (int ctx : {512, 2048, 4096})
    for (int batch : {1, 16, 64, 256}) configs.push_back({32, 8, batch, ctx, ctx});
  configs.push_back({28, 4, 64, 2048, 2048}); // Qwen2.5-7B
  // As CUDA graphs run it: the plan sized for max_model_len 4096, shorter contexts.
  for (int batch : {1, 16}) configs.push_back({32, 8, batch, 512, 4096});
  configs.push_back({32, 8, 64, 1024, 4096});
  decode_attention_rows(128, configs, sweep, copy_gbs, prop.multiProcessorCount, rng);
  if (decode_only && argc > 2 && std::string(argv[2]) == "fp8")
    decode_attention_rows(128, configs, false, copy_gbs, prop.multiProcessorCount, rng, true);
  if (decode_only) return 0;

  const int H = 4096, I = 14336, T = 8192, V = 128256;
  {
    auto x = random_device_bf16(size_t(T) * H, rng), w = random_device_bf16(H, rng), r = random_device_bf16(size_t(T) * H, rng);
    DeviceBuffer out(size_t(T) * H * 2);
    row("rms_norm 8192 x 4096", median_ms([&] { rms_norm(x.as<bf16>(), w.as<bf16>(), out.as<bf16>(), T, H, 1e-5f, 0); }),
        2.0 * T * H * 2, 0, copy_gbs);
    row("add_rms_norm 8192 x 4096", median_ms([&] { add_rms_norm(r.as<bf16>(), x.as<bf16>(), w.as<bf16>(), out.as<bf16>(), T, H, 1e-5f, 0); }),
        4.0 * T * H * 2, 0, copy_gbs);
    auto ids = std::vector<int32_t>(T);
    for (auto& id : ids) id = rng() % V;
    auto d_ids = upload(ids);
    auto table = random_device_bf16(size_t(V) * H, rng);
    row("embedding 8192 tokens x 4096", median_ms([&] { embedding_gather(d_ids.as<int32_t>(), table.as<bf16>(), out.as<bf16>(), T, H, V, 0); }),
        2.0 * T * H * 2, 0, copy_gbs);
  }
  {
    const int tokens = 4096;
    auto gu = random_device_bf16(size_t(tokens) * 2 * I, rng);
    DeviceBuffer out(size_t(tokens) * I * 2);
    row("silu_mul 4096 x 14336", median_ms([&] { silu_mul(gu.as<bf16>(), out.as<bf16>(), tokens, I, 0); }),
        3.0 * tokens * I * 2, 0, copy_gbs);
  }
  {
    const int tokens = 8192, stride = 6144;
    auto qkv = random_device_bf16(size_t(tokens) * stride, rng);
    std::vector<int32_t> pos(tokens);
    std::iota(pos.begin(), pos.end(), 0);
    std::vector<float> freq(64);
    for (int i = 0; i < 64; ++i) freq[i] = std::pow(500000.f, -2.f * i / 128);
    auto d_pos = upload(pos), d_freq = upload(freq);
    row("rope q+k 8192 tokens (32+8 heads)", median_ms([&] {
          rope_neox(qkv.as<bf16>(), qkv.as<bf16>() + 4096, stride, d_pos.as<int32_t>(), d_freq.as<float>(), tokens, 32, 8, 128, 128, 0);
        }), 2.0 * tokens * 5120 * 2, 0, copy_gbs);
    std::vector<int32_t> slots(tokens);
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), rng);
    auto d_slots = upload(slots);
    DeviceBuffer kc(size_t(tokens) * 1024 * 2), vc(size_t(tokens) * 1024 * 2);
    row("kv_cache_write 8192 tokens", median_ms([&] {
          kv_cache_write(qkv.as<bf16>() + 4096, qkv.as<bf16>() + 5120, stride, d_slots.as<int32_t>(), kc.as<bf16>(), vc.as<bf16>(), tokens, 8, 128, 16, 0);
        }), 4.0 * tokens * 1024 * 2, 0, copy_gbs);
  }
  prefill_attention_row(128, copy_gbs, rng);
  prefill_compare_rows(128, 4096, copy_gbs);
  gemm_rows(copy_gbs, rng);
  return 0;
}
