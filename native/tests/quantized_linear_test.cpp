// The linear methods on their own: each format's dequantization against values worked out
// from the format's definition (fixtures/wave2/README.md) on small hand-packed tensors, the
// CPU kernel against a plain matmul of the dequantized weights, e4m3 conversions, activation
// quantization, and the errors a bad quantization_config or bad tensors give at load.
#include <cmath>
#include <cstring>
#include <random>

#include "backend/backend.h"
#include "backend/cpu/cpu_linear.h"
#include "backend/cpu/thread_pool.h"
#include "engine/engine_config.h"
#include "model/fp8.h"
#include "model/golden.h"
#include "model/model_loader.h"
#include "model/quantization_config.h"
#include "model/safetensors.h"
#include "models/awq_linear.h"
#include "models/fp8_linear.h"
#include "models/gptq_linear.h"
#include "models/linear_layer.h"
#include "test_checkpoint.h"
#include "test_util.h"

using namespace pagoda;

namespace {

QuantizationConfig parse(const std::string& text) { return parse_quantization_config(json::parse(text), "config.json"); }

std::vector<uint16_t> f16s(const std::vector<float>& v) {
  std::vector<uint16_t> out;
  for (float x : v) out.push_back(f32_to_f16(x));
  return out;
}

template <class T> Entry entry(const std::string& name, const char* dtype, std::vector<int64_t> shape, const std::vector<T>& v) {
  return Entry{name, dtype, std::move(shape), v.data(), v.size() * sizeof(T)};
}

std::string checkpoint(const std::vector<Entry>& entries) {
  const std::string dir = make_temp_dir();
  write_safetensors(dir + "/model.safetensors", entries);
  return dir;
}

// GPTQ, act-order: 16 input rows in 2 groups of 8 assigned by a permutation, 8 outputs.
void test_gptq() {
  const int64_t in = 16, out = 8, groups = 2;
  std::mt19937 rng(1);
  std::vector<int> q(in * out), z(groups * out);
  for (int& v : q) v = int(rng() % 16);
  for (int& v : z) v = 1 + int(rng() % 15); // stored minus one: 0..14
  std::vector<float> scale(groups * out);
  for (float& s : scale) s = f16_to_f32(f32_to_f16(0.01f + 0.001f * float(rng() % 50)));
  std::vector<int32_t> g_idx = {1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0};
  std::vector<uint32_t> qweight(in / 8 * out, 0), qzeros(groups * out / 8, 0);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < out; ++o) qweight[(i / 8) * out + o] |= uint32_t(q[i * out + o]) << (4 * (i % 8));
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t o = 0; o < out; ++o) qzeros[g * (out / 8) + o / 8] |= uint32_t(z[g * out + o] - 1) << (4 * (o % 8));
  const std::vector<uint16_t> scales = f16s(scale);
  const std::string dir = checkpoint({entry("l.qweight", "I32", {in / 8, out}, qweight),
                                      entry("l.qzeros", "I32", {groups, out / 8}, qzeros),
                                      entry("l.scales", "F16", {groups, out}, scales), entry("l.g_idx", "I32", {in}, g_idx)});
  const QuantizationConfig qc = parse(R"({"quant_method":"gptq","bits":4,"group_size":8,"sym":true,"desc_act":true})");
  const SafetensorsCheckpoint ck(dir);
  GptqLinear m(ck, qc, "l", out, in);
  CHECK(m.act_order());
  std::vector<float> w(out * in);
  m.dequantize_rows(0, out, w.data());
  bool exact = true;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      const int g = g_idx[i];
      exact = exact && w[o * in + i] == float(q[i * out + o] - z[g * out + o]) * scale[g * out + o];
    }
  CHECK(exact);
  // A g_idx entry outside the groups, and a group holding more than group_size rows.
  std::vector<int32_t> bad = g_idx;
  bad[3] = 2;
  CHECK(test::throws_with([&] {
    const SafetensorsCheckpoint c(checkpoint({entry("l.qweight", "I32", {in / 8, out}, qweight),
                                              entry("l.qzeros", "I32", {groups, out / 8}, qzeros),
                                              entry("l.scales", "F16", {groups, out}, scales), entry("l.g_idx", "I32", {in}, bad)}));
    GptqLinear(c, qc, "l", out, in);
  }, {"l.g_idx", "entry 3", "outside the 2 groups"}));
  bad = g_idx;
  bad[0] = 0;
  CHECK(test::throws_with([&] {
    const SafetensorsCheckpoint c(checkpoint({entry("l.qweight", "I32", {in / 8, out}, qweight),
                                              entry("l.qzeros", "I32", {groups, out / 8}, qzeros),
                                              entry("l.scales", "F16", {groups, out}, scales), entry("l.g_idx", "I32", {in}, bad)}));
    GptqLinear(c, qc, "l", out, in);
  }, {"l.g_idx", "group 0", "more than group_size 8"}));
  // Wrong shape and wrong dtype name the tensor.
  CHECK(test::throws_with([&] {
    const SafetensorsCheckpoint c(checkpoint({entry("l.qweight", "I32", {out, in / 8}, qweight)}));
    GptqLinear(c, qc, "l", out, in);
  }, {"l.qweight", "shape [8, 2]", "expected [2, 8]"}));
  CHECK(test::throws_with([&] {
    const SafetensorsCheckpoint c(checkpoint({entry("l.qweight", "F32", {in / 8, out}, qweight)}));
    GptqLinear(c, qc, "l", out, in);
  }, {"l.qweight", "dtype F32", "int32"}));
  CHECK(test::throws_with([&] {
    const SafetensorsCheckpoint c(checkpoint({entry("l.qweight", "I32", {in / 8, out}, qweight)}));
    GptqLinear(c, qc, "l", out, in);
  }, {"missing tensor", "l.qzeros"}));
}

// AWQ: the README's packing example, then a 16 x 16 layer with zero points, 2 groups of 8.
void test_awq() {
  uint32_t word = 0;
  for (int o = 0; o < 8; ++o) word |= uint32_t(o) << (4 * awq_nibble(o));
  CHECK(word == 0x75316420u);
  const int64_t in = 16, out = 16, groups = 2;
  std::mt19937 rng(2);
  std::vector<int> q(in * out), z(groups * out);
  for (int& v : q) v = int(rng() % 16);
  for (int& v : z) v = int(rng() % 16);
  std::vector<float> scale(groups * out);
  for (float& s : scale) s = f16_to_f32(f32_to_f16(0.02f + 0.001f * float(rng() % 50)));
  std::vector<uint32_t> qweight(in * out / 8, 0), qzeros(groups * out / 8, 0);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < out; ++o) qweight[i * (out / 8) + o / 8] |= uint32_t(q[i * out + o]) << (4 * awq_nibble(o));
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t o = 0; o < out; ++o) qzeros[g * (out / 8) + o / 8] |= uint32_t(z[g * out + o]) << (4 * awq_nibble(o));
  const std::vector<uint16_t> scales = f16s(scale);
  const SafetensorsCheckpoint ck(checkpoint({entry("l.qweight", "I32", {in, out / 8}, qweight),
                                             entry("l.qzeros", "I32", {groups, out / 8}, qzeros),
                                             entry("l.scales", "F16", {groups, out}, scales)}));
  AwqLinear m(ck, parse(R"({"quant_method":"awq","bits":4,"group_size":8,"zero_point":true,"version":"gemm"})"), "l", out, in);
  std::vector<float> w(out * in);
  m.dequantize_rows(0, out, w.data());
  bool exact = true;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      exact = exact && w[o * in + i] == float(q[i * out + o] - z[(i / 8) * out + o]) * scale[(i / 8) * out + o];
  CHECK(exact);
}

void test_e4m3() {
  CHECK(fp8_e4m3_to_f32(0x7e) == 448.0f && fp8_e4m3_to_f32(0x08) == std::ldexp(1.0f, -6));
  CHECK(fp8_e4m3_to_f32(0x01) == std::ldexp(1.0f, -9) && fp8_e4m3_to_f32(0x38) == 1.0f && fp8_e4m3_to_f32(0xb8) == -1.0f);
  bool round_trip = true;
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue; // NaN
    const uint8_t back = f32_to_fp8_e4m3(fp8_e4m3_to_f32(uint8_t(c)));
    round_trip = round_trip && (back == c || (c == 0x80 && back == 0x80));
  }
  CHECK(round_trip);
  // Ties to even: 1 + 1/16 lies between 1 (mantissa 0) and 1.125 (mantissa 1).
  CHECK(f32_to_fp8_e4m3(1.0625f) == 0x38 && f32_to_fp8_e4m3(1.1875f) == 0x3a);
  CHECK(f32_to_fp8_e4m3(1000.0f) == 0x7e && f32_to_fp8_e4m3(-1000.0f) == 0xfe); // saturates
  // Activations per token: the largest element maps to 448 exactly; the rest are e4m3 multiples of s.
  std::vector<float> x = {0.5f, -2.0f, 0.3f, 1.0f, 4.0f, -0.01f, 0.2f, 0.7f};
  fp8_quantize_activations(ActivationQuant::kFp8PerToken, x.data(), 2, 4);
  const float s0 = 2.0f / 448.0f, s1 = 4.0f / 448.0f;
  CHECK(x[1] == -2.0f && x[4] == 4.0f);
  CHECK(x[0] == fp8_e4m3_to_f32(f32_to_fp8_e4m3(0.5f / s0)) * s0 && x[5] == fp8_e4m3_to_f32(f32_to_fp8_e4m3(-0.01f / s1)) * s1);
}

QuantizationConfig channel_config() {
  return parse(R"({"quant_method":"compressed-tensors","format":"float-quantized","config_groups":{"g":{"targets":["Linear"],
      "weights":{"num_bits":8,"type":"float","strategy":"channel","symmetric":true,"dynamic":false},
      "input_activations":{"num_bits":8,"type":"float","strategy":"token","symmetric":true,"dynamic":true}}}})");
}

// FP8 per channel ([out, 1] f32 scales) and per 128 x 128 block on a 130 x 130 layer.
void test_fp8() {
  const int64_t out = 130, in = 130;
  std::mt19937 rng(3);
  std::vector<uint8_t> codes(out * in);
  for (auto& c : codes) {
    c = uint8_t(rng() % 256);
    if ((c & 0x7f) == 0x7f) c = 0x38;
  }
  std::vector<float> row_scale(out), block_scale(4);
  for (float& s : row_scale) s = 0.001f * float(1 + rng() % 100);
  for (float& s : block_scale) s = 0.001f * float(1 + rng() % 100);
  const SafetensorsCheckpoint ck(checkpoint({entry("c.weight", "F8_E4M3", {out, in}, codes), entry("c.weight_scale", "F32", {out, 1}, row_scale),
                                             entry("b.weight", "F8_E4M3", {out, in}, codes),
                                             entry("b.weight_scale_inv", "F32", {2, 2}, block_scale)}));
  Fp8Linear channel(ck, channel_config(), "c", out, in);
  Fp8Linear block(ck, parse(R"({"quant_method":"fp8","fmt":"e4m3","activation_scheme":"dynamic","weight_block_size":[128,128]})"), "b", out, in);
  CHECK(channel.activation_quant() == ActivationQuant::kFp8PerToken && block.activation_quant() == ActivationQuant::kFp8PerTokenGroup);
  std::vector<float> wc(out * in), wb(out * in);
  channel.dequantize_rows(0, out, wc.data());
  block.dequantize_rows(0, out, wb.data());
  bool exact = true;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      const float v = fp8_e4m3_to_f32(codes[o * in + i]);
      exact = exact && wc[o * in + i] == v * row_scale[o] && wb[o * in + i] == v * block_scale[(o / 128) * 2 + i / 128];
    }
  CHECK(exact);
  // Quantized at load: every row's largest |w| lands on 448 * scale, within e4m3's rounding.
  std::vector<float> f(out * in);
  for (float& v : f) v = float(int(rng() % 2001) - 1000) / 1000.0f;
  const TensorView fv{"f.weight", DType::F32, {out, in}, f.data()};
  QuantizationConfig at_load = resolve_quantization(QuantizationConfig{}, "fp8", "config.json");
  Fp8Linear q(fv, at_load, "f", out, in);
  std::vector<float> wq(out * in);
  q.dequantize_rows(0, out, wq.data());
  double worst = 0;
  for (int64_t k = 0; k < out * in; ++k) worst = std::max(worst, std::fabs(double(wq[k]) - f[k]) / (std::fabs(f[k]) + 1e-3));
  CHECK(worst <= 1.0 / 16 + 1e-6);
  // Scales must be positive; FP8 weights must be F8_E4M3.
  std::vector<float> zero_scale(out, 0.0f);
  CHECK(test::throws_with([&] {
    const SafetensorsCheckpoint c(checkpoint({entry("c.weight", "F8_E4M3", {out, in}, codes), entry("c.weight_scale", "F32", {out, 1}, zero_scale)}));
    Fp8Linear(c, parse(R"({"quant_method":"fp8","weight_block_size":[128,128]})"), "c", out, in);
  }, {"c.weight_scale", "[130, 1]", "expected [2, 2]"}));
  CHECK(test::throws_with([&] {
    const SafetensorsCheckpoint c(checkpoint({entry("c.weight", "F8_E4M3", {out, in}, codes), entry("c.weight_scale", "F32", {out, 1}, zero_scale)}));
    Fp8Linear(c, channel_config(), "c", out, in);
  }, {"c.weight_scale", "entry 0", "positive"}));
  CHECK(test::throws_with([&] {
    const SafetensorsCheckpoint c(checkpoint({entry("c.weight", "BF16", {out, in / 2}, codes)}));
    Fp8Linear(c, channel_config(), "c", out, in);
  }, {"c.weight", "dtype BF16", "float8_e4m3fn"}));
}

// linear_forward on fused parts (GPTQ and FP8 with activation quantization) equals a plain
// double-precision product with the dequantized rows, columns side by side.
void test_cpu_kernel() {
  const int64_t in = 256, m = 11;
  QuantizationConfig gq = parse(R"({"quant_method":"gptq","bits":4,"group_size":128,"sym":true,"desc_act":false})");
  GptqLinear a(gq, 5, "a", 64, in), b(gq, 6, "b", 40, in);
  for (bool fp8 : {false, true}) {
    QuantizationConfig fq = parse(R"({"quant_method":"fp8","weight_block_size":[128,128]})");
    Fp8Linear c(fq, 7, "c", 24, in), d(fq, 8, "d", 136, in);
    const std::vector<const LinearMethod*> parts = fp8 ? std::vector<const LinearMethod*>{&c, &d} : std::vector<const LinearMethod*>{&a, &b};
    const LinearLayer layer = fuse_linears("fused", parts);
    std::vector<float> x(m * in), y(m * layer.out_features), scratch;
    std::mt19937 rng(9);
    for (float& v : x) v = float(int(rng() % 2001) - 1000) / 500.0f;
    cpu::ThreadPool pool(2);
    cpu::linear_forward(layer, x.data(), m, y.data(), pool, scratch);
    std::vector<float> xq = x;
    fp8_quantize_activations(parts[0]->activation_quant(), xq.data(), m, in);
    double worst = 0;
    int64_t col = 0;
    for (const LinearMethod* p : parts) {
      std::vector<float> w(p->out_features() * in);
      p->dequantize_rows(0, p->out_features(), w.data());
      for (int64_t t = 0; t < m; ++t)
        for (int64_t o = 0; o < p->out_features(); ++o) {
          double s = 0;
          for (int64_t i = 0; i < in; ++i) s += double(xq[t * in + i]) * w[o * in + i];
          worst = std::max(worst, std::fabs(s - y[t * layer.out_features + col + o]));
        }
      col += p->out_features();
    }
    CHECK(worst < 1e-4);
  }
}

void test_config_errors() {
  CHECK(test::throws_with([] { parse(R"({"quant_method":"gptq","bits":8,"group_size":128})"); }, {"config.json", "\"bits\"", "4-bit"}));
  CHECK(test::throws_with([] { parse(R"({"quant_method":"gptq","bits":4,"group_size":-1})"); }, {"\"group_size\"", "-1"}));
  CHECK(test::throws_with([] { parse(R"({"quant_method":"gptq","bits":4,"group_size":128,"sym":false})"); }, {"\"sym\""}));
  CHECK(test::throws_with([] { parse(R"({"quant_method":"awq","bits":4,"group_size":128,"version":"gemv"})"); }, {"\"version\"", "gemv"}));
  CHECK(test::throws_with([] { parse(R"({"quant_method":"bitsandbytes"})"); }, {"\"quant_method\"", "bitsandbytes", "gptq, awq"}));
  CHECK(test::throws_with([] { parse(R"({"quant_method":"fp8","weight_block_size":[64,64]})"); }, {"weight_block_size", "[128, 128]"}));
  CHECK(test::throws_with([] { parse(R"({"quant_method":"compressed-tensors","format":"float-quantized","config_groups":{"g":{"targets":["Linear"],
      "weights":{"num_bits":8,"type":"float","strategy":"tensor","symmetric":true,"dynamic":false}}}})"); },
      {"config_groups.g.weights.strategy", "tensor"}));
  CHECK(test::throws_with([] { parse(R"({"quant_method":"compressed-tensors","format":"float-quantized","config_groups":{"g":{"targets":["Linear"],
      "weights":{"num_bits":8,"type":"float","strategy":"channel","symmetric":true,"dynamic":false},
      "input_activations":{"num_bits":8,"type":"float","strategy":"token","symmetric":true,"dynamic":false}}}})"); },
      {"input_activations.dynamic", "static input scales"}));
  // The engine's `quantization` option against the checkpoint's.
  const QuantizationConfig awq = parse(R"({"quant_method":"awq","bits":4,"group_size":128})");
  CHECK(test::throws_with([&] { resolve_quantization(awq, "gptq", "m/config.json"); }, {"\"gptq\"", "does not match", "awq"}));
  CHECK(test::throws_with([&] { resolve_quantization(awq, "fp8", "m/config.json"); }, {"already quantized"}));
  CHECK(test::throws_with([&] { resolve_quantization(QuantizationConfig{}, "int8", "m/config.json"); }, {"\"int8\"", "not supported"}));
  CHECK(resolve_quantization(awq, "awq", "m").method == QuantMethod::kAwq);
}

// A whole checkpoint: a bad quantization_config or a bad quantized tensor fails the load with
// the field or tensor named; --quantization fp8 on a float checkpoint stays near its logits.
void test_model_load() {
  const std::string src = "../shared/models/wave2/tiny-llama-gptq-int4";
  std::string config = [&] {
    std::ifstream in(src + "/config.json");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }();
  const std::string dir = make_temp_dir();
  std::filesystem::copy_file(src + "/model.safetensors", dir + "/model.safetensors");
  const size_t at = config.find("\"bits\": 4");
  CHECK(at != std::string::npos);
  write_text(dir + "/config.json", config.substr(0, at) + "\"bits\": 3" + config.substr(at + 9));
  EngineConfig e;
  e.model = dir;
  e.device = "cpu";
  CHECK(test::throws_with([&] { create_backend(e); }, {dir + "/config.json", "\"bits\"", "3"}));
  // A checkpoint whose tensors do not match its quantization_config (AWQ tensors read as GPTQ).
  const std::string awq_dir = make_temp_dir();
  std::filesystem::copy_file("../shared/models/wave2/tiny-llama-awq-int4/model.safetensors", awq_dir + "/model.safetensors");
  write_text(awq_dir + "/config.json", config);
  e.model = awq_dir;
  CHECK(test::throws_with([&] { create_backend(e); }, {"model.layers.0.self_attn.q_proj.qweight", "shape [256, 32]", "expected [32, 256]"}));
  // fp8 at load on tiny-llama3 (bf16): per-channel e4m3 weights, with and without the dynamic
  // per-token activation quantization, near the float golden.
  e.model = "../shared/models/tiny-llama3";
  e.quantization = "fp8";
  const GoldenFile golden = load_golden("../shared/fixtures/golden/tiny-llama3.golden.json");
  for (const char* activations : {"none", "auto"}) {
    e.activation_quantization = activations;
    auto backend = create_backend(e);
    backend->allocate_kv_cache(64, 16);
    GoldenTolerance tol;
    tol.use_abs = false;
    tol.max_rel = 1.0;
    double worst = 0;
    for (const GoldenCase& c : golden.cases) worst = std::max(worst, run_golden_case(*backend, c, 16, tol).max_rel_error);
    std::printf("  tiny-llama3 quantized to fp8 at load, activation_quantization %s: max_rel %.3e\n", activations, worst);
    CHECK(worst > 1e-4); // really quantized
    CHECK(worst < 0.15);
  }
}

// Quantizing at load is the per-channel scheme compressed-tensors used: re-quantizing the
// dequantized weights of the wave2 FP8_DYNAMIC checkpoint gives back its codes and scales exactly.
void test_fp8_at_load_matches_checkpoint() {
  const SafetensorsCheckpoint ck("../shared/models/wave2/tiny-llama-fp8-dynamic");
  const json::Value config = json::parse_file("../shared/models/wave2/tiny-llama-fp8-dynamic/config.json");
  const QuantizationConfig stored = parse_quantization_config(config.at("quantization_config"), "config.json");
  const int64_t out = 512, in = 256; // mlp.gate_proj: intermediate x hidden
  Fp8Linear original(ck, stored, "model.layers.1.mlp.gate_proj", out, in);
  std::vector<float> w(out * in);
  original.dequantize_rows(0, out, w.data());
  const TensorView view{"gate_proj.weight", DType::F32, {out, in}, w.data()};
  Fp8Linear again(view, resolve_quantization(QuantizationConfig{}, "fp8", "config.json"), "again", out, in);
  CHECK(again.scales() == original.scales());
  CHECK(std::memcmp(again.weight().data, original.weight().data, size_t(out * in)) == 0);
}

// load_format "dummy" with a quantization on a float config: random weights in that format
// (what the GPU benchmarks load), finite logits on the CPU.
// One three-token prompt through a backend made for `e`: every logit finite.
bool forwards_finite(const EngineConfig& e) {
  auto backend = create_backend(e);
  backend->allocate_kv_cache(4, 16);
  ForwardBatch b;
  b.token_ids = {1, 5, 9};
  b.positions = {0, 1, 2};
  b.slot_mapping = {0, 1, 2};
  b.query_start = {0, 3};
  b.context_lens = {3};
  b.max_blocks_per_seq = 1;
  b.block_tables = {0};
  std::vector<float> logits;
  backend->forward(b, logits);
  bool finite = !logits.empty();
  for (float v : logits) finite = finite && std::isfinite(v);
  return finite;
}

void test_dummy_formats() {
  // The wave2 model's shapes (every in_features a multiple of 128), without its quantization_config.
  const json::Value src = json::parse_file("../shared/models/wave2/tiny-llama-gptq-int4/config.json");
  json::Value plain = json::Value::object();
  for (const json::Member& m : src.as_object())
    if (m.key != "quantization_config") plain.set(m.key, m.value);
  const std::string config = make_temp_dir() + "/config.json";
  write_text(config, json::dump(plain));
  for (const char* q : {"gptq", "awq", "compressed-tensors", "fp8"}) {
    EngineConfig e;
    e.model = config;
    e.load_format = "dummy";
    e.device = "cpu";
    e.quantization = q;
    LoadedModel m = load_model(e);
    const QuantMethod want = std::string(q) == "gptq" ? QuantMethod::kGptq
                             : std::string(q) == "awq" ? QuantMethod::kAwq
                                                       : QuantMethod::kFp8PerChannel;
    CHECK(m.weights.layers[0].down_proj->method() == want);
    CHECK(forwards_finite(e));
  }
  // An fp8-block checkpoint config loaded dummy (the Llama-3-8B fp8-block bench's path): random
  // codes with 128x128 block scales, finite logits.
  {
    EngineConfig e;
    e.model = "../shared/models/wave2/tiny-llama-fp8-block/config.json";
    e.load_format = "dummy";
    e.device = "cpu";
    LoadedModel m = load_model(e);
    CHECK(m.weights.layers[0].gate_proj->method() == QuantMethod::kFp8Block);
    const auto& f = static_cast<const Fp8Linear&>(*m.weights.layers[0].down_proj);
    CHECK(f.block_scales());
    CHECK(f.scales().size() == static_cast<size_t>(((f.out_features() + 127) / 128) * ((f.in_features() + 127) / 128)));
    const auto* codes = static_cast<const uint8_t*>(f.weight().data);
    bool no_nan = true;
    for (int64_t i = 0; i < f.out_features() * f.in_features(); ++i) no_nan = no_nan && (codes[i] & 0x7F) != 0x7F;
    CHECK(no_nan);
    CHECK(forwards_finite(e));
  }
}

} // namespace

int main() {
  test_gptq();
  test_awq();
  test_e4m3();
  test_fp8();
  test_cpu_kernel();
  test_config_errors();
  test_model_load();
  test_dummy_formats();
  test_fp8_at_load_matches_checkpoint();
  remove_temp_dirs();
  return test::finish("quantized_linear_test");
}
