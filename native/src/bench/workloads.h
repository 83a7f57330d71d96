// The request sets pagoda-bench submits all at once: pairs of lengths from a workload file
// (sharegpt-like), fixed random lengths (vLLM's random dataset with range 0), and prompts
// sharing one prefix. Token ids are random draws from a fixed seed; every request ignores
// EOS so the lengths are exact.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace pagoda {

struct BenchRequest {
  std::string id;
  std::vector<int32_t> prompt;
  int32_t max_tokens = 0;
};

std::vector<int32_t> random_tokens(std::mt19937& rng, int32_t len, int32_t vocab);

// The first num_prompts (0: all) pairs of a file with "pairs_input_output"; pairs longer than
// max_model_len in all are left out and counted in *skipped.
std::vector<BenchRequest> dataset_requests(const std::string& path, int32_t num_prompts, int32_t max_model_len,
                                           int32_t vocab, std::mt19937& rng, int64_t* skipped);

std::vector<BenchRequest> random_requests(int32_t num_prompts, int32_t input_len, int32_t output_len, int32_t vocab,
                                          std::mt19937& rng);

// num_prompts prompts of one shared prefix_len-token prefix followed by suffix_len tokens of
// their own.
std::vector<BenchRequest> shared_prefix_requests(int32_t num_prompts, int32_t prefix_len, int32_t suffix_len,
                                                 int32_t output_len, int32_t vocab, std::mt19937& rng);

} // namespace pagoda
