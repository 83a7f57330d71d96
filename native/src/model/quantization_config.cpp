// quantization_config parsing: the fields each published format writes, checked for what the
// engine can run, every error naming config.json's field.
#include "model/quantization_config.h"

#include <cctype>

#include "error.h"
#include "json.h"

namespace pagoda {

const char* quant_method_name(QuantMethod method) {
  switch (method) {
  case QuantMethod::kNone: return "none";
  case QuantMethod::kGptq: return "gptq";
  case QuantMethod::kAwq: return "awq";
  case QuantMethod::kFp8PerChannel: return "fp8-per-channel";
  case QuantMethod::kFp8Block: return "fp8-block";
  }
  return "none";
}

namespace {

class QcFields {
public:
  QcFields(const json::Value& obj, const std::string& source, std::string prefix)
      : obj_(obj), source_(source), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(source_ + ": quantization_config field \"" + prefix_ + field + "\" " + what);
  }
  const json::Value* get(const std::string& field) const {
    const json::Value* v = obj_.find(field);
    return v && !v->is_null() ? v : nullptr;
  }
  const json::Value& object(const std::string& field) const {
    const json::Value* v = get(field);
    if (!v) fail(field, "is missing (required)");
    if (!v->is_object()) fail(field, "must be an object, found " + json::dump(*v));
    return *v;
  }
  int integer(const std::string& field, int fallback, bool required = false) const {
    const json::Value* v = get(field);
    if (!v) {
      if (required) fail(field, "is missing (required)");
      return fallback;
    }
    if (!v->is_number() || v->as_number() != static_cast<double>(static_cast<int>(v->as_number())))
      fail(field, "must be an integer, found " + json::dump(*v));
    return static_cast<int>(v->as_number());
  }
  bool boolean(const std::string& field, bool fallback) const {
    const json::Value* v = get(field);
    if (!v) return fallback;
    if (!v->is_bool()) fail(field, "must be true or false, found " + json::dump(*v));
    return v->as_bool();
  }
  std::string string(const std::string& field, const std::string& fallback, bool required = false) const {
    const json::Value* v = get(field);
    if (!v) {
      if (required) fail(field, "is missing (required)");
      return fallback;
    }
    if (!v->is_string()) fail(field, "must be a string, found " + json::dump(*v));
    return v->as_string();
  }
  std::vector<std::string> strings(const std::string& field) const {
    std::vector<std::string> out;
    const json::Value* v = get(field);
    if (!v) return out;
    if (!v->is_array()) fail(field, "must be a list of strings, found " + json::dump(*v));
    for (const json::Value& s : v->as_array()) {
      if (!s.is_string()) fail(field, "must be a list of strings, found " + json::dump(*v));
      out.push_back(s.as_string());
    }
    return out;
  }

private:
  const json::Value& obj_;
  const std::string& source_;
  std::string prefix_;
};

void check_int4_group(const QcFields& f, QuantizationConfig& q, const char* method) {
  q.bits = f.integer("bits", 0, true);
  if (q.bits != 4)
    f.fail("bits", "is " + std::to_string(q.bits) + "; the engine runs " + method + " with 4-bit weights only");
  q.group_size = f.integer("group_size", 0, true);
  if (q.group_size == -1)
    f.fail("group_size", "is -1 (one group per column); supported: a positive multiple of 8, e.g. 128 or 64");
  if (q.group_size <= 0 || q.group_size % 8 != 0)
    f.fail("group_size", "is " + std::to_string(q.group_size) + "; supported: a positive multiple of 8, e.g. 128 or 64");
}

QuantizationConfig parse_gptq(const QcFields& f) {
  QuantizationConfig q;
  q.method = QuantMethod::kGptq;
  check_int4_group(f, q, "GPTQ");
  q.desc_act = f.boolean("desc_act", false);
  if (!f.boolean("sym", true))
    f.fail("sym", "is false; the engine runs symmetric GPTQ only (asymmetric int4: use an AWQ export)");
  const std::string format = f.string("checkpoint_format", "gptq");
  if (format != "gptq")
    f.fail("checkpoint_format", "is \"" + format + "\"; supported: \"gptq\" (zero points stored minus one)");
  return q;
}

QuantizationConfig parse_awq(const QcFields& f) {
  QuantizationConfig q;
  q.method = QuantMethod::kAwq;
  check_int4_group(f, q, "AWQ");
  if (!f.boolean("zero_point", true)) f.fail("zero_point", "is false; AWQ checkpoints here carry zero points");
  std::string version = f.string("version", "gemm");
  for (char& c : version) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (version != "gemm") f.fail("version", "is \"" + version + "\"; supported: \"gemm\"");
  q.ignore = f.strings("modules_to_not_convert");
  return q;
}

// quant_method "fp8" (Qwen3-FP8, DeepSeek): block-wise with weight_block_size, or per-tensor
// without it (not supported: say so).
QuantizationConfig parse_fp8_block(const QcFields& f) {
  QuantizationConfig q;
  q.bits = 8;
  const std::string fmt = f.string("fmt", "e4m3");
  if (fmt != "e4m3") f.fail("fmt", "is \"" + fmt + "\"; supported: \"e4m3\"");
  const std::string scheme = f.string("activation_scheme", "dynamic");
  if (scheme != "dynamic") f.fail("activation_scheme", "is \"" + scheme + "\"; supported: \"dynamic\"");
  const json::Value* block = f.get("weight_block_size");
  if (!block)
    f.fail("weight_block_size", "is missing; the engine runs block-wise FP8 ([128, 128]) from quant_method \"fp8\"");
  if (!block->is_array() || block->size() != 2 || !(*block)[0].is_number() || !(*block)[1].is_number())
    f.fail("weight_block_size", "must be [out, in], found " + json::dump(*block));
  q.block_out = static_cast<int>((*block)[0].as_number());
  q.block_in = static_cast<int>((*block)[1].as_number());
  if (q.block_out != 128 || q.block_in != 128)
    f.fail("weight_block_size", "is " + json::dump(*block) + "; supported: [128, 128]");
  q.method = QuantMethod::kFp8Block;
  q.dynamic_activations = true;
  q.ignore = f.strings("modules_to_not_convert");
  return q;
}

// compressed-tensors: one config group targeting Linear, float 8-bit weights per channel
// (static) and activations per token (dynamic), or weight-only.
QuantizationConfig parse_compressed_tensors(const QcFields& f, const std::string& source) {
  QuantizationConfig q;
  const std::string format = f.string("format", "", true);
  if (format != "float-quantized" && format != "naive-quantized")
    f.fail("format", "is \"" + format + "\"; supported: \"float-quantized\" (FP8)");
  const json::Value& groups = f.object("config_groups");
  if (groups.size() != 1) f.fail("config_groups", "has " + std::to_string(groups.size()) + " groups; supported: one");
  const json::Member& group = groups.as_object()[0];
  if (!group.value.is_object()) f.fail("config_groups." + group.key, "must be an object");
  const QcFields g(group.value, source, "config_groups." + group.key + ".");
  const std::vector<std::string> targets = g.strings("targets");
  if (targets != std::vector<std::string>{"Linear"}) g.fail("targets", "must be [\"Linear\"]");
  const json::Value& weights = g.object("weights");
  const QcFields w(weights, source, "config_groups." + group.key + ".weights.");
  if (w.integer("num_bits", 0, true) != 8) w.fail("num_bits", "must be 8 (FP8)");
  if (w.string("type", "", true) != "float") w.fail("type", "must be \"float\" (FP8); integer weights are not supported");
  const std::string strategy = w.string("strategy", "", true);
  if (strategy == "channel") {
    q.method = QuantMethod::kFp8PerChannel;
  } else if (strategy == "block") {
    q.method = QuantMethod::kFp8Block;
    const json::Value* bs = weights.find("block_structure");
    if (!bs || !bs->is_array() || bs->size() != 2 || json::dump(*bs) != "[128,128]")
      w.fail("block_structure", "must be [128, 128] for strategy \"block\"");
  } else {
    w.fail("strategy", "is \"" + strategy + "\"; supported: \"channel\", \"block\"");
  }
  if (!w.boolean("symmetric", true)) w.fail("symmetric", "must be true for FP8");
  if (w.boolean("dynamic", false)) w.fail("dynamic", "must be false (weights carry stored scales)");
  q.bits = 8;
  if (const json::Value* acts = group.value.find("input_activations"); acts && !acts->is_null()) {
    if (!acts->is_object()) g.fail("input_activations", "must be an object or null");
    const QcFields a(*acts, source, "config_groups." + group.key + ".input_activations.");
    if (a.integer("num_bits", 0, true) != 8 || a.string("type", "", true) != "float")
      a.fail("num_bits", "must be 8 with type \"float\" (FP8 activations)");
    if (!a.boolean("dynamic", false))
      a.fail("dynamic", "is false (static input scales); supported: dynamic activation scales");
    const std::string as = a.string("strategy", "", true);
    const std::string want = q.method == QuantMethod::kFp8Block ? "group" : "token";
    if (as != want) a.fail("strategy", "is \"" + as + "\"; with weight strategy \"" + strategy + "\" it must be \"" + want + "\"");
    q.dynamic_activations = true;
  }
  q.ignore = f.strings("ignore");
  return q;
}

} // namespace

QuantizationConfig parse_quantization_config(const json::Value& qc, const std::string& source) {
  if (!qc.is_object()) throw Error(source + ": quantization_config must be an object, found " + json::dump(qc));
  const QcFields f(qc, source, "");
  const std::string method = f.string("quant_method", "", true);
  if (method == "gptq") return parse_gptq(f);
  if (method == "awq") return parse_awq(f);
  if (method == "fp8") return parse_fp8_block(f);
  if (method == "compressed-tensors") return parse_compressed_tensors(f, source);
  f.fail("quant_method", "is \"" + method + "\"; supported: gptq, awq, fp8, compressed-tensors");
}

QuantizationConfig resolve_quantization(const QuantizationConfig& checkpoint, const std::string& option,
                                        const std::string& source, bool dummy) {
  if (option.empty() || option == "none" || option == "auto") return checkpoint;
  const bool fp8 = checkpoint.method == QuantMethod::kFp8PerChannel || checkpoint.method == QuantMethod::kFp8Block;
  if (option == "fp8") {
    if (fp8) return checkpoint;
    if (checkpoint.quantized())
      throw Error("quantization \"fp8\" was asked for, but " + source + " is already quantized (" +
                  quant_method_name(checkpoint.method) + "); leave quantization unset");
    QuantizationConfig q;
    q.method = QuantMethod::kFp8PerChannel;
    q.bits = 8;
    q.quantize_at_load = true;
    q.dynamic_activations = true;
    return q;
  }
  const bool agrees = (option == "gptq" && checkpoint.method == QuantMethod::kGptq) ||
                      (option == "awq" && checkpoint.method == QuantMethod::kAwq) ||
                      (option == "compressed-tensors" && fp8);
  if (agrees) return checkpoint;
  if (dummy && !checkpoint.quantized() && (option == "gptq" || option == "awq" || option == "compressed-tensors")) {
    QuantizationConfig q;
    q.method = option == "gptq" ? QuantMethod::kGptq : option == "awq" ? QuantMethod::kAwq : QuantMethod::kFp8PerChannel;
    q.bits = q.method == QuantMethod::kFp8PerChannel ? 8 : 4;
    q.group_size = q.method == QuantMethod::kFp8PerChannel ? 0 : 128;
    q.dynamic_activations = q.method == QuantMethod::kFp8PerChannel;
    return q;
  }
  if (option != "gptq" && option != "awq" && option != "compressed-tensors")
    throw Error("quantization \"" + option + "\" is not supported; use fp8 (or leave it unset: the checkpoint's "
                "quantization_config decides, gptq / awq / compressed-tensors / fp8)");
  throw Error("quantization \"" + option + "\" does not match " + source + " (its quantization_config says " +
              quant_method_name(checkpoint.method) + "); leave quantization unset");
}

} // namespace pagoda
