// The pooling run against sentence-transformers / transformers: every embedding and rerank
// checkpoint of ../shared/models/wave2 on the CPU backend, each golden case alone and all of a
// file's cases packed in one batch (variable lengths, no padding), must match the golden:
// cosine >= 0.9999 and max abs component difference < 1e-4 (f32 weights; < 5e-3 for bf16
// weights computed in f32), rerank logits within 1e-4.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "check.h"
#include "engine/pooling_engine.h"
#include "pooling_golden.h"

using namespace pagoda;
using namespace pagoda::pooling_golden;

namespace {

EngineConfig config_for(const std::string& name) {
  EngineConfig e;
  e.model = model_dir(name);
  e.device = "cpu";
  e.num_threads = 2;
  return e;
}

void check_embedding_model(const std::string& name, double max_abs_tol) {
  const EmbeddingGolden golden = load_embedding_golden(name);
  PoolingEngine engine(config_for(name));
  CHECK(engine.task() == PoolingTask::kEmbed);
  CHECK_EQ(engine.max_input_tokens(), static_cast<int32_t>(golden.file.at("max_seq_length").as_int()));
  CHECK_EQ(std::string(pooling_mode_name(engine.pooling().mode)), golden.file.at("pooling").as_string());
  CHECK_EQ(engine.pooling().normalize, golden.file.at("normalize").as_bool());
  const std::vector<PoolingInput>& all = golden.inputs;
  std::vector<std::vector<float>> alone;
  for (const PoolingInput& in : all) alone.push_back(engine.embed({in}).front());
  const std::vector<std::vector<float>> batched = engine.embed(all);
  VectorAgreement agreement;
  for (size_t i = 0; i < all.size(); ++i) {
    agreement.add(alone[i], golden.expected[i]);
    agreement.add(batched[i], golden.expected[i]);
  }
  std::printf("%s: %zu cases, alone and batched: worst cosine %.8f, max abs diff %.3g\n", name.c_str(), all.size(),
              agreement.worst_cosine, agreement.max_abs);
  CHECK(agreement.sizes_match);
  CHECK(agreement.cosine_at_least(0.9999));
  CHECK(agreement.max_abs_below(max_abs_tol));
  // One token too many is refused, not truncated.
  PoolingInput over;
  over.token_ids.assign(static_cast<size_t>(engine.max_input_tokens()) + 1, all[0].token_ids[0]);
  CHECK_THROWS_WITH(engine.embed({over}), "more than the model's maximum");
  CHECK_THROWS_WITH(engine.embed({PoolingInput{}}), "is empty");
  CHECK_THROWS_WITH(engine.score({all[0]}), "cannot score");
}

void check_rerank_model(const std::string& name) {
  const RerankGolden golden = load_rerank_golden(name);
  PoolingEngine engine(config_for(name));
  CHECK(engine.task() == PoolingTask::kScore);
  const std::vector<PoolingInput>& all = golden.inputs;
  const std::vector<float> batched = engine.score(all);
  LogitAgreement agreement(1e-4, 0.0);
  for (size_t i = 0; i < all.size(); ++i) {
    agreement.add(engine.score({all[i]}).front(), golden.expected[i]);
    agreement.add(batched[i], golden.expected[i]);
  }
  std::printf("%s: %zu pairs, alone and batched: max |logit - golden| %.3g\n", name.c_str(), all.size(),
              agreement.max_abs);
  CHECK(agreement.max_abs < 1e-4);
  CHECK_THROWS_WITH(engine.embed({all[0]}), "cannot embed");
  PoolingInput bad = all[0];
  bad.token_ids[1] = 1 << 20;
  CHECK_THROWS_WITH(engine.score({bad}), "outside the vocabulary");
}

// The comparison itself: an all-zero output (cosine 0/0) or a NaN logit must fail, not read as
// agreement (std::min(1.0, NaN) is 1.0: the GPU test once passed zeros that way).
void check_comparison_fails_on_nan() {
  const std::vector<float> golden = {0.6f, 0.8f};
  VectorAgreement zeros;
  zeros.add({0.f, 0.f}, golden);
  zeros.add(golden, golden); // a good vector after the bad one must not wash it out
  CHECK(!zeros.cosine_at_least(0.5));
  VectorAgreement exact;
  exact.add(golden, golden);
  CHECK(exact.cosine_at_least(0.9999) && exact.max_abs_below(1e-12));
  VectorAgreement short_vector;
  short_vector.add({0.6f}, golden);
  CHECK(!short_vector.cosine_at_least(0.5));
  LogitAgreement nan_logit(1e-4, 0.0);
  nan_logit.add(std::nan(""), 1.0);
  nan_logit.add(1.0, 1.0);
  CHECK(!nan_logit.within() && !(nan_logit.max_abs < 1e-4));
  LogitAgreement close(2e-2, 2e-2);
  close.add(1.03, 1.0); // within 2e-2 + 2e-2 * 1
  CHECK(close.within());
  close.add(1.05, 1.0);
  CHECK(!close.within());
}

} // namespace

int main() {
  check_comparison_fails_on_nan();
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
