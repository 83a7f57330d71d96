// kv_cache_dtype on the CPU backend: an fp8 (e4m3) KV cache holds twice the blocks of a bf16
// one in the same memory; greedy tokens with it equal the bf16 cache's on the tiny
// checkpoints up to the first near-tie; prefix caching and preemption give the same tokens as
// a roomy run (with an fp8 cache, and with a bf16 one; an fp8 cache on a GPU up to each request's
// first near-tie, as check_prefix_cache_and_preemption says); unknown dtypes fail at load with a message. `kv_cache_dtype_test cuda` runs
// the same checks on the CUDA backend (the device machine; ../shared or $PAGODA_SHARED);
// `kv_cache_dtype_test DEVICE MODEL...` compares only the checkpoints named.
//
// A near-tie here is a step whose top-1 / top-2 margin (in the bf16 run) is below 0.05 (the
// golden's definition) or below 1.5 times the largest change the fp8 cache makes to that
// margin over the prompt's positions: e4m3 keeps 3 mantissa bits, so each cached element may
// be off by up to 1/16 of itself, and a margin inside that noise can flip either way.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "test_util.h"
#include "engine/llm_engine.h"
#include "backend/backend.h"
#include "model/golden.h"

using namespace pagoda;

namespace {

std::string shared_dir() {
  const char* s = std::getenv("PAGODA_SHARED");
  return s && *s ? s : "../shared";
}
const std::string kModels = shared_dir() + "/models";
const std::string kGolden = shared_dir() + "/fixtures/golden";
std::string g_device = "cpu";

// kv_bytes: the CPU's KV space; on CUDA both dtypes get the same small share of the GPU
// (gpu_memory_utilization), so the block counts compare the same memory.
EngineConfig cpu_config(const std::string& model, const std::string& kv_dtype, int64_t kv_bytes) {
  EngineConfig e;
  e.model = kModels + "/" + model;
  e.device = g_device;
  e.num_threads = 2;
  e.kv_cache_dtype = kv_dtype;
  e.kv_cache_space_bytes = kv_bytes;
  e.gpu_memory_utilization = 0.05;
  e.block_size = 4;
  e.max_model_len = 320;
  e.max_num_batched_tokens = 64;
  e.max_num_seqs = 8;
  return e;
}

SamplingParams greedy(int32_t max_tokens) {
  SamplingParams p;
  p.temperature = 0.0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  p.logprobs = 2;
  return p;
}

using Outputs = std::map<std::string, std::vector<int32_t>>;

// Tokens per request, and each step's top-1 minus top-2 logprob (the logit margin).
Outputs run_to_end(LLMEngine& e, std::map<std::string, std::vector<float>>* margins = nullptr) {
  Outputs out;
  for (int i = 0; i < 100000 && e.has_unfinished(); ++i)
    for (const SequenceDelta& d : e.step().deltas) {
      auto& v = out[d.request_id];
      v.insert(v.end(), d.token_ids.begin(), d.token_ids.end());
      if (margins)
        for (const TokenLogprobs& lp : d.logprobs)
          (*margins)[d.request_id].push_back(lp.top.size() >= 2 ? lp.top[0].second - lp.top[1].second : 1e9f);
    }
  CHECK(!e.has_unfinished());
  return out;
}

// The largest change the fp8 cache makes to the bf16 run's top-1 minus top-2 logit margin
// over the prompt's positions.
double prompt_margin_noise(const std::string& model, const std::vector<int32_t>& prompt) {
  std::vector<float> logits[2];
  int i = 0;
  for (const char* dtype : {"bfloat16", "fp8"}) {
    auto backend = create_backend(cpu_config(model, dtype, 1 << 20));
    const int32_t n = static_cast<int32_t>(prompt.size()), bs = 16, blocks = (n + bs - 1) / bs;
    backend->allocate_kv_cache(blocks, bs);
    ForwardBatch b;
    b.token_ids = prompt;
    for (int32_t t = 0; t < n; ++t) {
      b.positions.push_back(t);
      b.slot_mapping.push_back(t);
    }
    b.query_start = {0, n};
    b.context_lens = {n};
    b.max_blocks_per_seq = blocks;
    for (int32_t k = 0; k < blocks; ++k) b.block_tables.push_back(k);
    b.all_logits = true;
    backend->forward(b, logits[i++]);
  }
  const size_t vocab = logits[0].size() / prompt.size();
  double noise = 0;
  for (size_t t = 0; t < prompt.size(); ++t) {
    const float* a = logits[0].data() + t * vocab;
    const float* b = logits[1].data() + t * vocab;
    size_t first = 0, second = 1;
    if (a[second] > a[first]) std::swap(first, second);
    for (size_t v = 2; v < vocab; ++v) {
      if (a[v] > a[first]) {
        second = first;
        first = v;
      } else if (a[v] > a[second]) {
        second = v;
      }
    }
    noise = std::max(noise, std::fabs(double(a[first] - a[second]) - double(b[first] - b[second])));
  }
  return noise;
}

// Every golden prompt at once, greedy for the golden's length.
Outputs generate(LLMEngine& e, const GoldenFile& golden, std::map<std::string, std::vector<float>>* margins = nullptr) {
  for (size_t i = 0; i < golden.cases.size(); ++i)
    e.add_request("c" + std::to_string(i), golden.cases[i].prompt_ids,
                  greedy(static_cast<int32_t>(golden.cases[i].greedy_ids.size())));
  return run_to_end(e, margins);
}

void check_fp8_matches_bf16(const std::string& model, const std::string& golden_name) {
  const GoldenFile golden = load_golden(kGolden + "/" + golden_name + ".golden.json");
  const int64_t space = int64_t(4) << 20;
  // One engine at a time: on a GPU the second would plan around the first one's cache.
  std::map<std::string, std::vector<float>> margins;
  auto bf16 = LLMEngine::load(cpu_config(model, "bfloat16", space));
  const int32_t bf16_blocks = bf16->stats().kv_blocks_total;
  const size_t bf16_block_bytes = bf16->memory_profile().kv_bytes_per_block;
  const Outputs a = generate(*bf16, golden, &margins);
  bf16.reset();
  auto fp8 = LLMEngine::load(cpu_config(model, "fp8", space));
  const int32_t fp8_blocks = fp8->stats().kv_blocks_total;
  // Half the bytes a block: twice the blocks (up to the one the floor of space / block drops;
  // on a GPU the activation peak measured at load may differ by a few MB between loads).
  CHECK(2 * fp8->memory_profile().kv_bytes_per_block == bf16_block_bytes);
  if (g_device == "cpu") CHECK(bf16_blocks > 0 && fp8_blocks >= 2 * bf16_blocks && fp8_blocks <= 2 * bf16_blocks + 1);
  else CHECK(bf16_blocks > 0 && std::fabs(double(fp8_blocks) / (2.0 * bf16_blocks) - 1.0) < 0.01);
  const Outputs b = generate(*fp8, golden);
  fp8.reset();
  int compared = 0;
  for (size_t i = 0; i < golden.cases.size(); ++i) {
    const GoldenCase& c = golden.cases[i];
    const std::string id = "c" + std::to_string(i);
    const double noise = prompt_margin_noise(model, c.prompt_ids);
    size_t until = 0;
    while (until < a.at(id).size() && margins[id][until] >= std::max(0.05, 1.5 * noise) &&
           (c.first_near_tie < 0 || until < size_t(c.first_near_tie)))
      ++until;
    size_t same = 0;
    while (same < until && same < b.at(id).size() && a.at(id)[same] == b.at(id)[same]) ++same;
    std::printf("  %-20s case %zu: fp8 KV = bf16 KV for %zu of %zu tokens before a near-tie (margin noise %.3f; "
                "blocks %d vs %d)\n", model.c_str(), i, same, until, noise, fp8_blocks, bf16_blocks);
    CHECK(same == until);
    compared += static_cast<int>(until);
  }
  CHECK(compared > 0);
}

// Requests sharing a long prefix, first in a cache too small for them all at once
// (preemption), then again (prefix cache hits): the tokens of a roomy run.
void check_prefix_cache_and_preemption(const std::string& kv_dtype) {
  const GoldenFile golden = load_golden(kGolden + "/tiny-llama3.golden.json");
  std::vector<int32_t> prefix = golden.cases.back().prompt_ids;
  const EngineConfig probe = cpu_config("tiny-llama3", kv_dtype, int64_t(8) << 20);
  const int64_t per_block = static_cast<int64_t>(LLMEngine::load(probe)->memory_profile().kv_bytes_per_block);
  std::map<std::string, std::vector<int32_t>> prompts;
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p = prefix;
    p.push_back(10 + i);
    p.push_back(20 + 3 * i);
    prompts["r" + std::to_string(i)] = p;
  }
  std::map<std::string, std::vector<float>> margins; // the roomy run's
  auto run = [&](int64_t kv_bytes, EngineStats* stats, std::map<std::string, std::vector<float>>* m) {
    EngineConfig c = cpu_config("tiny-llama3", kv_dtype, kv_bytes);
    // On a GPU the same number of blocks as the CPU's bytes give.
    if (g_device != "cpu") c.num_gpu_blocks_override = static_cast<int32_t>(kv_bytes / per_block);
    c.max_model_len = 224;
    auto e = LLMEngine::load(c);
    for (const auto& kv : prompts) e->add_request(kv.first, kv.second, greedy(24));
    Outputs out = run_to_end(*e, m);
    for (const auto& kv : prompts) e->add_request(kv.first + "-again", kv.second, greedy(24));
    const Outputs again = run_to_end(*e, m);
    out.insert(again.begin(), again.end());
    *stats = e->stats();
    return out;
  };
  EngineStats roomy_stats, tight_stats;
  const Outputs roomy = run(int64_t(8) << 20, &roomy_stats, &margins);
  // 60 blocks of 4: the shared prefix (48 blocks) and the own blocks of about two sequences
  // (7 each), so the six cannot all run together.
  const Outputs tight = run(per_block * 60, &tight_stats, nullptr);
  CHECK(tight_stats.num_preemptions > 0);
  CHECK(roomy_stats.prefix_cache_hits > 0 && tight_stats.prefix_cache_hits > 0);
  // A preempted sequence's K / V are computed again by the prefill's GEMMs, whose shapes differ from the decode
  // steps' that wrote them first: on a GPU their last bits may differ, and where one sits on an e4m3 rounding
  // boundary its code moves by a whole step (1/16 of the value, where bf16's last bit is 1/256). So with an fp8
  // cache on a GPU the tight run must give the roomy run's tokens up to the first near-tie (as fp8 against bf16
  // above); on the CPU, whose rows do not depend on the batch, and with a bf16 cache, every token.
  const bool up_to_near_tie = kv_dtype == "fp8" && g_device != "cpu";
  const double tie = up_to_near_tie ? std::max(0.05, 1.5 * prompt_margin_noise("tiny-llama3", prompts.begin()->second)) : 0;
  size_t compared = 0, total = 0;
  for (const auto& kv : roomy) {
    CHECK(tight.count(kv.first));
    const std::vector<int32_t>& got = tight.at(kv.first);
    size_t until = kv.second.size();
    if (up_to_near_tie) {
      const std::vector<float>& m = margins.at(kv.first);
      until = 0;
      while (until < kv.second.size() && until < m.size() && m[until] >= tie) ++until;
    }
    size_t same = 0;
    while (same < until && same < got.size() && got[same] == kv.second[same]) ++same;
    if (same < until)
      std::printf("  %s: tight run differs at token %zu of %zu (roomy margin there %.3f, near-tie below %.3f)\n",
                  kv.first.c_str(), same, kv.second.size(), up_to_near_tie ? margins.at(kv.first)[same] : 0.f, tie);
    CHECK(same == until);
    if (!up_to_near_tie) CHECK(got.size() == kv.second.size());
    compared += until;
    total += kv.second.size();
    if (kv.first.find("-again") != std::string::npos)
      CHECK(kv.second == roomy.at(kv.first.substr(0, kv.first.size() - 6)));
  }
  CHECK(compared > 0);
  if (up_to_near_tie)
    std::printf("  preemption with %s KV: tight = roomy for %zu of %zu tokens, each request up to its first near-tie "
                "(margin below %.3f)\n", kv_dtype.c_str(), compared, total, tie);
  std::printf("  prefix caching + preemption with %s KV: %lld preemptions, %lld / %lld cached tokens\n",
              kv_dtype.c_str(), static_cast<long long>(tight_stats.num_preemptions), static_cast<long long>(tight_stats.prefix_cache_hits),
              static_cast<long long>(roomy_stats.prefix_cache_hits));
}

void check_bad_dtype() {
  CHECK(test::throws_with([] { LLMEngine::load(cpu_config("tiny-llama3", "fp8_e5m2", 1 << 20)); },
                          {"kv_cache_dtype", "fp8_e5m2", "fp8"}));
  if (g_device == "cuda") { // the float32 compute path keeps its own (float32) cache
    EngineConfig c = cpu_config("tiny-llama3", "fp8", 1 << 20);
    c.dtype = "float32";
    CHECK(test::throws_with([&] { LLMEngine::load(c); }, {"kv_cache_dtype", "fp8", "float32"}));
  }
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  if (argc > 1) g_device = argv[1];
  // The checkpoints to compare (all by default; a device bundle names the ones it carries).
  std::vector<std::string> models;
  for (int i = 2; i < argc; ++i) models.emplace_back(argv[i]);
  if (models.empty()) models = {"tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-llama-mqa-fp16", "stories260k-hd64"};
  for (const std::string& m : models) // stories260k-hd64 shares stories260k's golden
    check_fp8_matches_bf16(m, m == "stories260k-hd64" ? "stories260k" : m);
  check_prefix_cache_and_preemption("fp8");
  check_prefix_cache_and_preemption("auto"); // the same engine paths with a bf16 cache
  check_bad_dtype();
  return test::finish("kv_cache_dtype_test");
}
