// The model files' forward passes as the ops they ask a backend for, recorded: each architecture's
// layer in order, and the rows cut to the logit rows once, between the last attention and the last
// o_proj (the last layer's o_proj and MLP serve only the tokens that give logits).
#include <string>
#include <vector>

#include "engine/engine_config.h"
#include "model/model_loader.h"
#include "models/causal_lm.h"
#include "models/model_ops.h"
#include "test_util.h"

using namespace pagoda;

namespace {

// Every op a forward asks for, by name ("attention 3", "linear o_proj", "keep_logit_rows").
class RecordingOps : public ModelOps {
public:
  std::vector<std::string> calls;
  void embed(const Param&) override { calls.push_back("embed"); }
  void rms_norm(const Param&, Act) override { calls.push_back("rms_norm"); }
  void add_rms_norm(Act, const Param&, Act) override { calls.push_back("add_rms_norm"); }
  void linear(const LinearLayer& layer, Act, Act) override { calls.push_back("linear " + layer.name); }
  void bias_add(Act, const Param&) override { calls.push_back("bias_add"); }
  void qk_norm(Act, const Param&, const Param&) override { calls.push_back("qk_norm"); }
  void rope(Act) override { calls.push_back("rope"); }
  void attention(int layer, Act, Act) override { calls.push_back("attention " + std::to_string(layer)); }
  void silu_mul(Act, Act) override { calls.push_back("silu_mul"); }
  void keep_logit_rows(Act a) override {
    calls.push_back("keep_logit_rows");
    CHECK(a == Act::kAttn); // the attention output is what o_proj reads next
  }
};

int count(const std::vector<std::string>& v, const std::string& what) {
  int n = 0;
  for (const auto& s : v) n += s == what;
  return n;
}

void check_forward(const std::string& model) {
  EngineConfig e;
  e.model = "../shared/models/" + model;
  LoadedModel m = load_model(e);
  const int layers = m.config.num_hidden_layers;
  auto lm = create_causal_lm(std::move(m.config), std::move(m.weights));
  RecordingOps ops;
  lm->forward(ops);
  const auto& c = ops.calls;
  std::printf("  %-12s %zu ops over %d layers\n", model.c_str(), c.size(), layers);
  CHECK(count(c, "keep_logit_rows") == 1);
  CHECK(count(c, "linear o_proj") == layers);
  // The cut comes right after the last attention (every token's K and V are in the cache by then) and
  // before the last o_proj; nothing after it attends.
  size_t cut = 0;
  for (size_t i = 0; i < c.size(); ++i)
    if (c[i] == "keep_logit_rows") cut = i;
  CHECK(cut > 0 && c[cut - 1] == "attention " + std::to_string(layers - 1));
  CHECK(cut + 1 < c.size() && c[cut + 1] == "linear o_proj");
  for (size_t i = cut + 1; i < c.size(); ++i) CHECK(c[i].rfind("attention", 0) != 0);
  // ... and the last layer still runs its whole MLP and the final norm on the rows it keeps.
  CHECK(count(std::vector<std::string>(c.begin() + long(cut), c.end()), "linear down_proj") == 1);
  CHECK(c.back() == "add_rms_norm");
}

} // namespace

int main() {
  for (const std::string model : {"tiny-llama3", "tiny-qwen2", "tiny-qwen3"}) check_forward(model);
  return test::finish("model_forward_test");
}
