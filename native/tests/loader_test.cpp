// The loader: config.json in both spellings, single and sharded safetensors, dummy weights,
// and every malformed checkpoint failing with a message that names the file, tensor or field
// — after which the process still loads and runs a good model.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backend/backend.h"
#include "engine/engine_config.h"
#include "error.h"
#include "json.h"
#include "model/golden.h"
#include "model/model_config.h"
#include "model/model_loader.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "models/unquantized_linear.h"
#include "test_checkpoint.h"
#include "test_util.h"

using namespace pagoda;

namespace {

const std::string kModels = "../shared/models";

// A fresh folder holding a copy of a fixture's config.json.
std::string checkpoint_dir(const std::string& model, const std::string& config_text = "") {
  const std::string dir = make_temp_dir();
  write_text(dir + "/config.json", config_text.empty() ? read_text(kModels + "/" + model + "/config.json") : config_text);
  return dir;
}

std::vector<Entry> entries_of(const SafetensorsFile& f) {
  std::vector<Entry> out;
  for (const auto& t : f.tensors()) out.push_back(Entry{t.name, t.dtype, t.shape, t.data, t.nbytes});
  return out;
}

EngineConfig cpu_config(const std::string& model) {
  EngineConfig e;
  e.model = model;
  e.device = "cpu";
  e.num_threads = 2;
  return e;
}

// Logits of a short prompt on a backend, for comparing loads.
std::vector<float> prompt_logits(Backend& b, const std::vector<int32_t>& ids) {
  b.profile(64, 1);
  b.allocate_kv_cache(4, 16);
  ForwardBatch batch;
  batch.token_ids = ids;
  for (int32_t i = 0; i < int32_t(ids.size()); ++i) {
    batch.positions.push_back(i);
    batch.slot_mapping.push_back(i);
  }
  batch.query_start = {0, int32_t(ids.size())};
  batch.context_lens = {int32_t(ids.size())};
  batch.max_blocks_per_seq = 4;
  batch.block_tables = {0, 1, 2, 3};
  batch.all_logits = true;
  std::vector<float> logits;
  b.forward(batch, logits);
  return logits;
}

const std::vector<int32_t> kPrompt = {1, 403, 407, 261, 378};
std::vector<float> g_reference_logits;

// The process is healthy: a good checkpoint still loads and gives the same logits.
void check_healthy() {
  auto backend = create_backend(cpu_config(kModels + "/stories260k"));
  CHECK(prompt_logits(*backend, kPrompt) == g_reference_logits);
}

void test_config_spellings() {
  // transformers 5.x (tiny-qwen3) against the same config written the 4.x way.
  const ModelConfig v5 = load_model_config(kModels + "/tiny-qwen3");
  CHECK(v5.architecture == "Qwen3ForCausalLM");
  CHECK(v5.head_dim == 128 && v5.hidden_size == 256 && v5.num_attention_heads == 4); // head_dim != hidden/heads
  CHECK(v5.qk_norm && !v5.qkv_bias && v5.tie_word_embeddings);
  CHECK(v5.rope_theta == 1000000.0 && v5.rope_scaling.type == "default");
  CHECK(v5.dtype == DType::BF16);
  CHECK(v5.eos_token_ids == std::vector<int32_t>{2} && v5.bos_token_id == 1);
  std::string v4_text = read_text(kModels + "/tiny-qwen3/config.json");
  json::Value v4 = json::parse(v4_text);
  json::Value rebuilt = json::Value::object();
  for (const auto& m : v4.as_object()) {
    if (m.key == "rope_parameters" || m.key == "dtype") continue;
    rebuilt.set(m.key, m.value);
  }
  rebuilt.set("rope_theta", json::Value::number(1000000.0));
  rebuilt.set("rope_scaling", json::Value());
  rebuilt.set("torch_dtype", json::Value::string("bfloat16"));
  const ModelConfig c4 = parse_model_config(rebuilt, "v4.json");
  CHECK(c4.rope_theta == v5.rope_theta && c4.dtype == v5.dtype && c4.head_dim == v5.head_dim && c4.qk_norm);

  // llama3 scaling: 4.x rope_scaling (tiny-llama3) and the 5.x rope_parameters spelling.
  const ModelConfig l4 = load_model_config(kModels + "/tiny-llama3/config.json");
  CHECK(l4.rope_scaling.type == "llama3" && l4.rope_scaling.factor == 8.0 && l4.rope_scaling.low_freq_factor == 1.0 &&
        l4.rope_scaling.high_freq_factor == 4.0 && l4.rope_scaling.original_max_position_embeddings == 256);
  CHECK(l4.rope_theta == 500000.0 && !l4.tie_word_embeddings && l4.num_key_value_heads == 2);
  json::Value l5 = json::parse(read_text(kModels + "/tiny-llama3/config.json"));
  json::Value l5b = json::Value::object();
  for (const auto& m : l5.as_object()) {
    if (m.key == "rope_scaling" || m.key == "rope_theta" || m.key == "torch_dtype") continue;
    l5b.set(m.key, m.value);
  }
  l5b.set("rope_parameters", json::parse(R"({"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,
      "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":256})"));
  l5b.set("dtype", json::Value::string("bfloat16"));
  const ModelConfig l5c = parse_model_config(l5b, "v5.json");
  CHECK(l5c.rope_scaling.type == "llama3" && l5c.rope_theta == 500000.0 && l5c.rope_scaling.factor == 8.0 &&
        l5c.rope_scaling.original_max_position_embeddings == 256 && l5c.dtype == DType::BF16);

  // Older "type" key, linear and dynamic, eos lists, Qwen2's implied biases, Mistral window.
  auto with = [&](const std::string& model, const std::string& extra_json) {
    json::Value base = json::parse(read_text(kModels + "/" + model + "/config.json"));
    const json::Value extra = json::parse(extra_json);
    for (const auto& m : extra.as_object()) base.set(m.key, m.value);
    return parse_model_config(base, model + "+edit");
  };
  const ModelConfig lin = with("stories260k", R"({"rope_scaling":{"type":"linear","factor":2.0}})");
  CHECK(lin.rope_scaling.type == "linear" && lin.rope_scaling.factor == 2.0);
  const ModelConfig dyn = with("stories260k", R"({"rope_scaling":{"rope_type":"dynamic","factor":4.0}})");
  CHECK(dyn.rope_scaling.type == "dynamic" && dyn.rope_scaling.original_max_position_embeddings == 512);
  const ModelConfig eos = with("stories260k", R"({"eos_token_id":[2, 7]})");
  CHECK((eos.eos_token_ids == std::vector<int32_t>{2, 7}));
  const ModelConfig q2 = load_model_config(kModels + "/tiny-qwen2");
  CHECK(q2.qkv_bias && !q2.o_bias && !q2.qk_norm && q2.sliding_window == 0);
  const ModelConfig mis = with("stories260k", R"({"architectures":["MistralForCausalLM"],"sliding_window":4096})");
  CHECK(mis.architecture == "MistralForCausalLM" && mis.sliding_window == 4096);
  const ModelConfig hd = load_model_config(kModels + "/stories260k-hd64");
  CHECK(hd.head_dim == 64 && hd.hidden_size == 64 && hd.num_attention_heads == 8);
  const ModelConfig nohd = with("tiny-qwen2", R"({})");
  CHECK(nohd.head_dim == 64); // 256 / 4 when head_dim is absent

  CHECK(test::throws_with([&] { with("stories260k", R"({"rope_scaling":{"rope_type":"yarn","factor":4.0}})"); },
                          {"stories260k+edit", "rope_scaling.rope_type", "yarn", "llama3"}));
  CHECK(test::throws_with([&] { with("stories260k", R"({"rope_scaling":{"rope_type":"llama3","factor":8.0}})"); },
                          {"rope_scaling.low_freq_factor", "missing"}));
  CHECK(test::throws_with([&] { with("stories260k", R"({"hidden_size":"big"})"); }, {"hidden_size", "integer"}));
  CHECK(test::throws_with([&] { with("stories260k", R"({"torch_dtype":"int8"})"); }, {"torch_dtype", "int8"}));
  CHECK(test::throws_with([&] { with("stories260k", R"({"num_key_value_heads":3})"); }, {"num_key_value_heads", "divide"}));
  CHECK(test::throws_with([&] { with("stories260k", R"({"hidden_act":"gelu"})"); }, {"hidden_act", "gelu"}));
}

void test_bad_configs() {
  {
    std::string text = read_text(kModels + "/stories260k/config.json");
    text.replace(text.find("LlamaForCausalLM"), 16, "GPT2LMHeadModel");
    const std::string dir = checkpoint_dir("", text);
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); },
                            {dir + "/config.json", "architectures", "GPT2LMHeadModel", "LlamaForCausalLM",
                             "Qwen3ForCausalLM"}));
    check_healthy();
  }
  {
    std::string text = read_text(kModels + "/stories260k/config.json");
    text.insert(text.find("\"vocab_size\""), "\"oops\" ");
    const std::string dir = checkpoint_dir("", text);
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); }, {dir + "/config.json", "byte offset"}));
    check_healthy();
  }
  {
    json::Value c = json::parse(read_text(kModels + "/stories260k/config.json"));
    json::Value pruned = json::Value::object();
    for (const auto& m : c.as_object()) {
      if (m.key != "hidden_size") pruned.set(m.key, m.value);
    }
    const std::string dir = checkpoint_dir("", json::dump(pruned));
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); }, {dir + "/config.json", "\"hidden_size\"", "missing"}));
    check_healthy();
  }
  CHECK(test::throws_with([&] { create_backend(cpu_config("/nonexistent/model")); }, {"/nonexistent/model", "no such file or folder"}));
  {
    const std::string empty = make_temp_dir();
    CHECK(test::throws_with([&] { create_backend(cpu_config(empty)); }, {empty + "/config.json", "cannot open"}));
  }
}

void test_bad_weights() {
  const SafetensorsFile original(kModels + "/stories260k/model.safetensors");
  const std::vector<Entry> all = entries_of(original);
  const std::string bytes = read_text(kModels + "/stories260k/model.safetensors");

  { // truncated download
    const std::string dir = checkpoint_dir("stories260k");
    write_text(dir + "/model.safetensors", bytes.substr(0, bytes.size() - 1000));
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); }, {dir + "/model.safetensors", "truncated", "tensor \""}));
    check_healthy();
  }
  { // header length past the end
    const std::string dir = checkpoint_dir("stories260k");
    write_text(dir + "/model.safetensors", bytes.substr(0, 100));
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); }, {dir + "/model.safetensors", "header"}));
    check_healthy();
  }
  { // garbage header
    const std::string dir = checkpoint_dir("stories260k");
    std::string bad = bytes;
    bad[8] = 'X';
    write_text(dir + "/model.safetensors", bad);
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); }, {dir + "/model.safetensors", "bad safetensors header", "byte offset"}));
    check_healthy();
  }
  { // missing tensor
    const std::string dir = checkpoint_dir("stories260k");
    std::vector<Entry> fewer;
    for (const auto& e : all) {
      if (e.name != "model.layers.3.mlp.up_proj.weight") fewer.push_back(e);
    }
    write_safetensors(dir + "/model.safetensors", fewer);
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); },
                            {dir + "/model.safetensors", "missing tensor", "model.layers.3.mlp.up_proj.weight", "[172, 64]"}));
    check_healthy();
  }
  { // wrong shape (same bytes, transposed header shape)
    const std::string dir = checkpoint_dir("stories260k");
    std::vector<Entry> changed = all;
    for (auto& e : changed) {
      if (e.name == "model.layers.1.mlp.down_proj.weight") e.shape = {172, 64};
    }
    write_safetensors(dir + "/model.safetensors", changed);
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); },
                            {dir + "/model.safetensors", "model.layers.1.mlp.down_proj.weight", "[172, 64]", "expected [64, 172]"}));
    check_healthy();
  }
  { // unsupported dtype
    const std::string dir = checkpoint_dir("stories260k");
    std::vector<Entry> changed = all;
    for (auto& e : changed) {
      if (e.name == "model.norm.weight") e.dtype = "I32";
    }
    write_safetensors(dir + "/model.safetensors", changed);
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); }, {dir + "/model.safetensors", "model.norm.weight", "I32"}));
    check_healthy();
  }
  { // no weights at all
    const std::string dir = checkpoint_dir("stories260k");
    CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); }, {dir, "model.safetensors"}));
    check_healthy();
  }
}

// Splits the stories260k checkpoint into two shards with an index; it must load, match the
// single-file logits and pass the golden file.
void test_sharded() {
  const SafetensorsFile original(kModels + "/stories260k/model.safetensors");
  const std::vector<Entry> all = entries_of(original);
  const std::string dir = checkpoint_dir("stories260k");
  std::vector<Entry> a(all.begin(), all.begin() + all.size() / 2), b(all.begin() + all.size() / 2, all.end());
  write_safetensors(dir + "/model-00001-of-00002.safetensors", a);
  write_safetensors(dir + "/model-00002-of-00002.safetensors", b);
  json::Value map = json::Value::object();
  for (const auto& e : a) map.set(e.name, json::Value::string("model-00001-of-00002.safetensors"));
  for (const auto& e : b) map.set(e.name, json::Value::string("model-00002-of-00002.safetensors"));
  json::Value index = json::Value::object();
  index.set("metadata", json::parse(R"({"total_size": 1})"));
  index.set("weight_map", map);
  write_text(dir + "/model.safetensors.index.json", json::dump(index));

  SafetensorsCheckpoint ckpt(dir);
  CHECK(ckpt.num_tensors() == all.size());
  std::string file;
  CHECK(ckpt.find(b.front().name, &file) && file == dir + "/model-00002-of-00002.safetensors");

  auto backend = create_backend(cpu_config(dir));
  CHECK(prompt_logits(*backend, kPrompt) == g_reference_logits);
  auto fresh = create_backend(cpu_config(dir));
  const GoldenFile golden = load_golden("../shared/fixtures/golden/stories260k.golden.json");
  for (const auto& r : run_golden(*fresh, golden)) CHECK(r.ok());

  // An index that names a tensor its shard lacks.
  map.set("model.extra.weight", json::Value::string("model-00001-of-00002.safetensors"));
  index.set("weight_map", map);
  write_text(dir + "/model.safetensors.index.json", json::dump(index));
  CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); },
                          {"model.safetensors.index.json", "model.extra.weight", "model-00001-of-00002.safetensors"}));
  // A shard that is missing.
  std::remove((dir + "/model-00002-of-00002.safetensors").c_str());
  CHECK(test::throws_with([&] { create_backend(cpu_config(dir)); }, {"model-00002-of-00002.safetensors", "cannot open"}));
  check_healthy();
}

void test_weights_layout() {
  const ModelConfig q2 = load_model_config(kModels + "/tiny-qwen2");
  const ModelWeights w = ModelWeights::load(q2, kModels + "/tiny-qwen2");
  CHECK(w.layers.size() == 3);
  CHECK(w.lm_head_tied && w.lm_head.data == w.embed_tokens.data);
  CHECK(w.layers[0].q_bias.present() && w.layers[0].q_bias.shape == std::vector<int64_t>{256});
  CHECK(w.layers[0].k_proj->out_features() == 128 && w.layers[0].k_proj->in_features() == 256);
  CHECK(!w.layers[0].q_norm.present() && !w.layers[0].o_bias.present());
  const auto* down = dynamic_cast<const UnquantizedLinear*>(w.layers[2].down_proj.get());
  CHECK(down && down->weight().name == "model.layers.2.mlp.down_proj.weight" && down->weight().dtype == DType::BF16);
  const ModelConfig q3 = load_model_config(kModels + "/tiny-qwen3");
  const ModelWeights w3 = ModelWeights::load(q3, kModels + "/tiny-qwen3");
  CHECK(w3.layers[1].k_norm.present() && w3.layers[1].k_norm.shape == std::vector<int64_t>{128});
  CHECK(w3.layers[0].q_proj->out_features() == 512 && w3.layers[0].q_proj->in_features() == 256);
  const ModelConfig l3 = load_model_config(kModels + "/tiny-llama3");
  const ModelWeights wl = ModelWeights::load(l3, kModels + "/tiny-llama3");
  CHECK(!wl.lm_head_tied && wl.lm_head.data != wl.embed_tokens.data && wl.lm_head.name == "lm_head.weight");
  // total_bytes counts a tied lm_head once: equal to the file's tensor bytes.
  const SafetensorsFile f(kModels + "/tiny-qwen2/model.safetensors");
  size_t file_bytes = 0;
  for (const auto& t : f.tensors()) file_bytes += t.nbytes;
  CHECK(w.total_bytes() == file_bytes);
}

void test_dummy() {
  const std::string dir = checkpoint_dir("tiny-llama3");
  EngineConfig e = cpu_config(dir + "/config.json");
  e.load_format = "dummy";
  e.seed = 7;
  auto a = create_backend(e);
  auto b = create_backend(e);
  const std::vector<float> la = prompt_logits(*a, kPrompt), lb = prompt_logits(*b, kPrompt);
  CHECK(la == lb); // same seed, same weights
  bool finite = true, varied = false;
  for (float v : la) {
    finite = finite && std::isfinite(v);
    varied = varied || v != la[0];
  }
  CHECK(finite && varied);
  e.seed = 8;
  auto c = create_backend(e);
  CHECK(prompt_logits(*c, kPrompt) != la);
  // The dummy follows the requested dtype and the config's shapes.
  e.dtype = "float16";
  LoadedModel m = load_model(e);
  const auto* gate = dynamic_cast<const UnquantizedLinear*>(m.weights.layers[0].gate_proj.get());
  CHECK(gate && gate->weight().dtype == DType::F16 && gate->weight().shape == (std::vector<int64_t>{688, 256}));
  CHECK(!m.weights.lm_head_tied);
  // A folder works too, and no safetensors are needed.
  e.model = dir;
  CHECK(load_model(e).weights.layers.size() == 4);
  // Published shapes parse (weights are not built: 8B parameters).
  const ModelConfig big = load_model_config("../shared/configs/llama-3-8b.json");
  CHECK(big.num_hidden_layers == 32 && big.head_dim == 128 && big.vocab_size == 128256);
  const ModelConfig qwen = load_model_config("../shared/configs/qwen2.5-7b.json");
  CHECK(qwen.qkv_bias && qwen.head_dim == 128 && qwen.num_key_value_heads == 4);
}

void test_profile() {
  EngineConfig e = cpu_config(kModels + "/stories260k");
  e.kv_cache_space_bytes = int64_t(1) << 20;
  e.block_size = 32;
  auto b = create_backend(e);
  const MemoryProfile p = b->profile(256, 8);
  const SafetensorsFile f(kModels + "/stories260k/model.safetensors");
  size_t file_bytes = 0;
  for (const auto& t : f.tensors()) file_bytes += t.nbytes;
  CHECK(p.weights_bytes == file_bytes);
  // K and V, 5 layers, 4 KV heads of 8, float32, 32 tokens.
  CHECK(p.kv_bytes_per_block == size_t(2) * 5 * 4 * 8 * 4 * 32);
  // At least the hidden states of 256 tokens and the logits of 8 sequences.
  CHECK(p.peak_activation_bytes >= size_t(256) * 64 * 4 + size_t(8) * 512 * 4);
  CHECK(p.total_bytes == (size_t(1) << 20) + p.weights_bytes + p.peak_activation_bytes);
}

void test_create_backend_devices() {
  EngineConfig e = cpu_config(kModels + "/stories260k");
  e.device = "tpu";
  CHECK(test::throws_with([&] { create_backend(e); }, {"device \"tpu\"", "cpu", "cuda"}));
  e.device = "auto";
  auto b = create_backend(e);
  CHECK(b->name() == "cpu" || b->name() == "cuda");
#ifndef PAGODA_HAVE_CUDA
  CHECK(b->name() == "cpu");
  e.device = "cuda";
  CHECK(test::throws_with([&] { create_backend(e); }, {"cuda", "without", "cpu"}));
#endif
  e.device = "cpu";
  e.quantization = "awq";
  CHECK(test::throws_with([&] { create_backend(e); }, {"quantization", "awq"}));
  e.quantization.clear();
  e.load_format = "gguf";
  CHECK(test::throws_with([&] { create_backend(e); }, {"load_format", "gguf"}));
  check_healthy();
}

} // namespace

int main() {
  {
    auto backend = create_backend(cpu_config(kModels + "/stories260k"));
    g_reference_logits = prompt_logits(*backend, kPrompt);
  }
  test_config_spellings();
  test_bad_configs();
  test_bad_weights();
  test_sharded();
  test_weights_layout();
  test_dummy();
  test_profile();
  test_create_backend_devices();
  for (const auto& d : g_temp_dirs) std::filesystem::remove_all(d);
  return test::finish("loader_test");
}
