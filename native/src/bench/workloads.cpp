// Builders of pagoda-bench's request sets; see workloads.h.
#include "bench/workloads.h"

#include <algorithm>

#include "error.h"
#include "json.h"

namespace pagoda {

std::vector<int32_t> random_tokens(std::mt19937& rng, int32_t len, int32_t vocab) {
  // Ids 0-2 are often BOS / EOS / padding; a prompt of ordinary tokens avoids them.
  std::uniform_int_distribution<int32_t> pick(3, std::max(4, vocab - 1));
  std::vector<int32_t> p(static_cast<size_t>(len));
  for (auto& t : p) t = pick(rng);
  return p;
}

std::vector<BenchRequest> dataset_requests(const std::string& path, int32_t num_prompts, int32_t max_model_len,
                                           int32_t vocab, std::mt19937& rng, int64_t* skipped) {
  json::Value doc = json::parse_file(path);
  const json::Value* pairs = doc.find("pairs_input_output");
  if (!pairs) throw Error(path + " has no \"pairs_input_output\" array of [input_len, output_len] pairs");
  const auto& list = pairs->as_array();
  const size_t n = num_prompts > 0 ? std::min<size_t>(static_cast<size_t>(num_prompts), list.size()) : list.size();
  std::vector<BenchRequest> out;
  int64_t left_out = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto in = static_cast<int32_t>(list[i][0].as_int()), len = static_cast<int32_t>(list[i][1].as_int());
    if (in + len > max_model_len) {
      ++left_out;
      continue;
    }
    out.push_back({"r" + std::to_string(i), random_tokens(rng, in, vocab), len});
  }
  if (skipped) *skipped = left_out;
  return out;
}

std::vector<BenchRequest> random_requests(int32_t num_prompts, int32_t input_len, int32_t output_len, int32_t vocab,
                                          std::mt19937& rng) {
  if (num_prompts < 1 || input_len < 1 || output_len < 1)
    throw Error("the random dataset needs --num-prompts, --random-input-len and --random-output-len of at least 1");
  std::vector<BenchRequest> out;
  out.reserve(static_cast<size_t>(num_prompts));
  for (int32_t i = 0; i < num_prompts; ++i)
    out.push_back({"r" + std::to_string(i), random_tokens(rng, input_len, vocab), output_len});
  return out;
}

std::vector<BenchRequest> shared_prefix_requests(int32_t num_prompts, int32_t prefix_len, int32_t suffix_len,
                                                 int32_t output_len, int32_t vocab, std::mt19937& rng) {
  if (num_prompts < 1 || prefix_len < 1 || suffix_len < 1 || output_len < 1)
    throw Error("the prefix workload needs --num-prompts, --prefix-len, --suffix-len and --output-len of at least 1");
  const std::vector<int32_t> prefix = random_tokens(rng, prefix_len, vocab);
  std::vector<BenchRequest> out;
  out.reserve(static_cast<size_t>(num_prompts));
  for (int32_t i = 0; i < num_prompts; ++i) {
    std::vector<int32_t> prompt = prefix;
    const std::vector<int32_t> own = random_tokens(rng, suffix_len, vocab);
    prompt.insert(prompt.end(), own.begin(), own.end());
    out.push_back({"s" + std::to_string(i), std::move(prompt), output_len});
  }
  return out;
}

} // namespace pagoda
