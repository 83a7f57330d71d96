// The pooling engine on the GPU against sentence-transformers / transformers: every embedding
// and rerank checkpoint of wave2 (shared/models/wave2, goldens in shared/fixtures/wave2/golden),
// each golden case alone and all of a file's cases packed in one forward, in bf16: cosine
// >= 0.999 per embedding (0.99 for the bf16-weight decoder tiny-qwen3-embed, as the fixtures
// README allows), rerank logits within 2e-2 + 2e-2·|golden|. Also: a packed batch matches the
// same inputs alone, and bad ids are refused. The shared folder is PAGODA_SHARED or ../shared.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../check.h"
#include "engine/pooling_engine.h"
#include "json.h"
#include "model/golden.h"

using namespace pagoda;

namespace {

std::string shared_dir() {
  const char* env = std::getenv("PAGODA_SHARED");
  return env != nullptr ? env : "../shared";
}

std::vector<int32_t> ints(const json::Value& v) {
  std::vector<int32_t> out;
  for (const json::Value& x : v.as_array()) out.push_back(static_cast<int32_t>(x.as_int()));
  return out;
}

std::vector<float> golden_vector(const json::Value& c) {
  const std::vector<uint8_t> bytes = base64_decode(c.at("embedding_f32_b64").as_string());
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

PoolingInput input_of(const json::Value& c) {
  PoolingInput in;
  in.token_ids = ints(c.at("input_ids"));
  if (const json::Value* types = c.find("token_type_ids")) in.token_type_ids = ints(*types);
  return in;
}

EngineConfig config_for(const std::string& name) {
  EngineConfig e;
  e.model = shared_dir() + "/models/wave2/" + name;
  e.device = "cuda";
  return e;
}

json::Value golden_of(const std::string& name) {
  return json::parse_file(shared_dir() + "/fixtures/wave2/golden/" + name + ".golden.json");
}

void check_embedding_model(const std::string& name, double min_cosine) {
  const json::Value golden = golden_of(name);
  PoolingEngine engine(config_for(name));
  CHECK_EQ(engine.device(), std::string("cuda"));
  CHECK(engine.task() == PoolingTask::kEmbed);
  std::vector<PoolingInput> all;
  std::vector<std::vector<float>> expected;
  for (const json::Value& c : golden.at("cases").as_array()) {
    all.push_back(input_of(c));
    expected.push_back(golden_vector(c));
  }
  std::vector<std::vector<float>> alone;
  for (const PoolingInput& in : all) alone.push_back(engine.embed({in}).front());
  const std::vector<std::vector<float>> batched = engine.embed(all);
  double worst_cos = 1.0, worst_norm_err = 0.0, worst_batch_vs_alone = 1.0;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::vector<float>* results[] = {&alone[i], &batched[i]};
    for (const std::vector<float>* got : results) {
      CHECK_EQ(got->size(), expected[i].size());
      worst_cos = std::min(worst_cos, cosine(*got, expected[i]));
      double n2 = 0;
      for (float x : *got) n2 += double(x) * x;
      if (golden.at("normalize").as_bool()) worst_norm_err = std::max(worst_norm_err, std::fabs(std::sqrt(n2) - 1.0));
    }
    worst_batch_vs_alone = std::min(worst_batch_vs_alone, cosine(alone[i], batched[i]));
  }
  std::printf("%s (cuda, bf16): %zu cases, alone and packed: worst cosine %.6f (limit %.3f), packed vs alone %.6f, "
              "max | ||v|| - 1 | %.2e\n",
              name.c_str(), all.size(), worst_cos, min_cosine, worst_batch_vs_alone, worst_norm_err);
  CHECK(worst_cos >= min_cosine);
  CHECK(worst_batch_vs_alone >= 0.9999);
  CHECK(worst_norm_err < 1e-5);
  PoolingInput bad = all[0];
  bad.token_ids[0] = 1 << 20;
  CHECK_THROWS_WITH(engine.embed({bad}), "outside the vocabulary");
}

void check_rerank_model(const std::string& name) {
  const json::Value golden = golden_of(name);
  PoolingEngine engine(config_for(name));
  CHECK_EQ(engine.device(), std::string("cuda"));
  CHECK(engine.task() == PoolingTask::kScore);
  std::vector<PoolingInput> all;
  std::vector<double> expected;
  for (const json::Value& c : golden.at("cases").as_array()) {
    all.push_back(input_of(c));
    expected.push_back(c.at("logit").as_number());
  }
  const std::vector<float> batched = engine.score(all);
  double worst_excess = -1e9, worst_abs = 0.0;
  for (size_t i = 0; i < all.size(); ++i) {
    const float alone = engine.score({all[i]}).front();
    for (double got : {double(alone), double(batched[i])}) {
      const double err = std::fabs(got - expected[i]);
      worst_abs = std::max(worst_abs, err);
      worst_excess = std::max(worst_excess, err - (2e-2 + 2e-2 * std::fabs(expected[i])));
    }
  }
  std::printf("%s (cuda, bf16): %zu pairs, alone and packed: max |logit - golden| %.3g (within 2e-2 + 2e-2|golden|: %s)\n",
              name.c_str(), all.size(), worst_abs, worst_excess <= 0 ? "yes" : "NO");
  CHECK(worst_excess <= 0);
  PoolingInput bad = all[0];
  bad.token_ids[1] = 1 << 20;
  CHECK_THROWS_WITH(engine.score({bad}), "outside the vocabulary");
}

} // namespace

int main() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("SKIP pooling_golden_cuda_test: no CUDA device\n");
    return 0;
  }
  try {
    check_embedding_model("tiny-bert-embed", 0.999);
    check_embedding_model("tiny-xlmr-embed", 0.999);
    check_embedding_model("tiny-qwen3-embed", 0.99);
    check_rerank_model("tiny-bert-rerank");
    check_rerank_model("tiny-xlmr-rerank");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pooling_golden_cuda_test: %s\n", e.what());
    return 1;
  }
  return finish_checks("pooling_golden_cuda_test");
}
