// The pooling run against sentence-transformers / transformers: every embedding and rerank
// checkpoint of ../shared/models/wave2 on the CPU backend, each golden case alone and all of a
// file's cases packed in one batch (variable lengths, no padding), must match the golden:
// cosine >= 0.9999 and max abs component difference < 1e-4 (f32 weights; < 5e-3 for bf16
// weights computed in f32), rerank logits within 1e-4.
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "engine/pooling_engine.h"
#include "json.h"
#include "model/golden.h"

using namespace pagoda;

namespace {

const std::string kModels = "../shared/models/wave2/";
const std::string kGolden = "../shared/fixtures/wave2/golden/";

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
  e.model = kModels + name;
  e.device = "cpu";
  e.num_threads = 2;
  return e;
}

void check_embedding_model(const std::string& name, double max_abs_tol) {
  const json::Value golden = json::parse_file(kGolden + name + ".golden.json");
  PoolingEngine engine(config_for(name));
  CHECK(engine.task() == PoolingTask::kEmbed);
  CHECK_EQ(engine.max_input_tokens(), static_cast<int32_t>(golden.at("max_seq_length").as_int()));
  CHECK_EQ(std::string(pooling_mode_name(engine.pooling().mode)), golden.at("pooling").as_string());
  CHECK_EQ(engine.pooling().normalize, golden.at("normalize").as_bool());
  std::vector<PoolingInput> all;
  std::vector<std::vector<float>> expected;
  for (const json::Value& c : golden.at("cases").as_array()) {
    all.push_back(input_of(c));
    expected.push_back(golden_vector(c));
  }
  std::vector<std::vector<float>> alone;
  for (const PoolingInput& in : all) alone.push_back(engine.embed({in}).front());
  const std::vector<std::vector<float>> batched = engine.embed(all);
  double worst_cos = 1.0, worst_abs = 0.0;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::vector<float>* results[] = {&alone[i], &batched[i]};
    for (const std::vector<float>* got : results) {
      CHECK_EQ(got->size(), expected[i].size());
      worst_cos = std::min(worst_cos, cosine(*got, expected[i]));
      for (size_t k = 0; k < got->size(); ++k) worst_abs = std::max(worst_abs, double(std::fabs((*got)[k] - expected[i][k])));
    }
  }
  std::printf("%s: %zu cases, alone and batched: worst cosine %.8f, max abs diff %.3g\n", name.c_str(), all.size(),
              worst_cos, worst_abs);
  CHECK(worst_cos >= 0.9999);
  CHECK(worst_abs < max_abs_tol);
  // One token too many is refused, not truncated.
  PoolingInput over;
  over.token_ids.assign(static_cast<size_t>(engine.max_input_tokens()) + 1, all[0].token_ids[0]);
  CHECK_THROWS_WITH(engine.embed({over}), "more than the model's maximum");
  CHECK_THROWS_WITH(engine.embed({PoolingInput{}}), "is empty");
  CHECK_THROWS_WITH(engine.score({all[0]}), "cannot score");
}

void check_rerank_model(const std::string& name) {
  const json::Value golden = json::parse_file(kGolden + name + ".golden.json");
  PoolingEngine engine(config_for(name));
  CHECK(engine.task() == PoolingTask::kScore);
  std::vector<PoolingInput> all;
  std::vector<double> expected;
  for (const json::Value& c : golden.at("cases").as_array()) {
    all.push_back(input_of(c));
    expected.push_back(c.at("logit").as_number());
  }
  const std::vector<float> batched = engine.score(all);
  double worst = 0.0;
  for (size_t i = 0; i < all.size(); ++i) {
    const float alone = engine.score({all[i]}).front();
    worst = std::max({worst, std::fabs(double(alone) - expected[i]), std::fabs(double(batched[i]) - expected[i])});
  }
  std::printf("%s: %zu pairs, alone and batched: max |logit - golden| %.3g\n", name.c_str(), all.size(), worst);
  CHECK(worst < 1e-4);
  CHECK_THROWS_WITH(engine.embed({all[0]}), "cannot embed");
  PoolingInput bad = all[0];
  bad.token_ids[1] = 1 << 20;
  CHECK_THROWS_WITH(engine.score({bad}), "outside the vocabulary");
}

} // namespace

int main() {
  try {
    check_embedding_model("tiny-bert-embed", 1e-4);
    check_embedding_model("tiny-xlmr-embed", 1e-4);
    // bf16 weights computed in float32: the golden upcast the same weights, so f32 agreement.
    check_embedding_model("tiny-qwen3-embed", 1e-4);
    check_rerank_model("tiny-bert-rerank");
    check_rerank_model("tiny-xlmr-rerank");
    EngineConfig llm = config_for("tiny-llama-awq-int4");
    CHECK_THROWS_WITH(PoolingEngine{llm}, "not an embedding or rerank model");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pooling_golden_test: %s\n", e.what());
    return 1;
  }
  return finish_checks("pooling_golden_test");
}
