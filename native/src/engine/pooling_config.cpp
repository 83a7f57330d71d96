// load_pooling_config: sentence-transformers' module list and pooling settings, in both the
// legacy spelling (class paths sentence_transformers.models.*, one boolean per mode) and
// sentence-transformers 6's (sentence_transformers.*.modules.*, "pooling_mode": "mean").
#include "engine/pooling_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "error.h"
#include "json.h"

namespace pagoda {

namespace {

bool exists(const std::string& path) { return std::ifstream(path).good(); }

// The last component of a module's class path: "Pooling", "Normalize", "Transformer", ...
std::string module_class(const std::string& type) {
  const size_t dot = type.rfind('.');
  return dot == std::string::npos ? type : type.substr(dot + 1);
}

PoolingMode mode_from_name(const std::string& name, const std::string& file) {
  if (name == "cls") return PoolingMode::kCls;
  if (name == "mean") return PoolingMode::kMean;
  if (name == "max") return PoolingMode::kMax;
  if (name == "mean_sqrt_len_tokens") return PoolingMode::kMeanSqrtLen;
  if (name == "lasttoken") return PoolingMode::kLastToken;
  throw Error(file + ": pooling mode \"" + name + "\" is not supported; supported: cls, mean, max, mean_sqrt_len_tokens, lasttoken");
}

PoolingMode read_pooling_mode(const std::string& file) {
  const json::Value cfg = json::parse_file(file);
  if (const json::Value* mode = cfg.find("pooling_mode"); mode && mode->is_string()) return mode_from_name(mode->as_string(), file);
  auto on = [&](const char* key) {
    const json::Value* v = cfg.find(key);
    return v && v->is_bool() && v->as_bool();
  };
  if (on("pooling_mode_weightedmean_tokens")) throw Error(file + ": weighted-mean pooling is not supported");
  int count = 0;
  PoolingMode mode = PoolingMode::kCls;
  for (auto [key, m] : {std::pair{"pooling_mode_cls_token", PoolingMode::kCls}, {"pooling_mode_mean_tokens", PoolingMode::kMean},
                        {"pooling_mode_max_tokens", PoolingMode::kMax},
                        {"pooling_mode_mean_sqrt_len_tokens", PoolingMode::kMeanSqrtLen},
                        {"pooling_mode_lasttoken", PoolingMode::kLastToken}}) {
    if (on(key)) {
      mode = m;
      ++count;
    }
  }
  if (count != 1)
    throw Error(file + ": exactly one pooling mode must be on (found " + std::to_string(count) +
                "); concatenated poolings are not supported");
  return mode;
}

int32_t positive_int(const json::Value& cfg, const char* key) {
  const json::Value* v = cfg.find(key);
  if (!v || !v->is_number() || v->as_number() < 1 || v->as_number() > 1e7) return 0;
  return static_cast<int32_t>(v->as_number());
}

} // namespace

void pool_rows(PoolingMode mode, const float* h, int64_t n, int64_t d, float* out) {
  switch (mode) {
  case PoolingMode::kCls: std::copy(h, h + d, out); return;
  case PoolingMode::kLastToken: std::copy(h + (n - 1) * d, h + n * d, out); return;
  case PoolingMode::kMax:
    std::copy(h, h + d, out);
    for (int64_t t = 1; t < n; ++t)
      for (int64_t i = 0; i < d; ++i) out[i] = std::max(out[i], h[t * d + i]);
    return;
  case PoolingMode::kMean:
  case PoolingMode::kMeanSqrtLen: {
    const double div = mode == PoolingMode::kMean ? double(n) : std::sqrt(double(n));
    for (int64_t i = 0; i < d; ++i) {
      double s = 0.0;
      for (int64_t t = 0; t < n; ++t) s += h[t * d + i];
      out[i] = static_cast<float>(s / div);
    }
    return;
  }
  }
}

void l2_normalize(float* v, int64_t d) {
  double ss = 0.0;
  for (int64_t i = 0; i < d; ++i) ss += double(v[i]) * v[i];
  const double norm = std::max(std::sqrt(ss), 1e-12);
  for (int64_t i = 0; i < d; ++i) v[i] = static_cast<float>(v[i] / norm);
}

const char* pooling_mode_name(PoolingMode mode) {
  switch (mode) {
  case PoolingMode::kCls: return "cls";
  case PoolingMode::kMean: return "mean";
  case PoolingMode::kMax: return "max";
  case PoolingMode::kMeanSqrtLen: return "mean_sqrt_len_tokens";
  case PoolingMode::kLastToken: return "lasttoken";
  }
  return "?";
}

PoolingConfig load_pooling_config(const std::string& dir, PoolingMode fallback_mode) {
  PoolingConfig p;
  p.mode = fallback_mode;
  p.normalize = true;
  const std::string modules_file = dir + "/modules.json";
  if (exists(modules_file)) {
    p.sentence_transformers = true;
    p.normalize = false;
    const json::Value modules = json::parse_file(modules_file);
    if (!modules.is_array()) throw Error(modules_file + ": expected a list of modules");
    for (const json::Value& m : modules.as_array()) {
      const json::Value* type = m.find("type");
      if (!type || !type->is_string()) throw Error(modules_file + ": every module needs a \"type\"");
      const std::string cls = module_class(type->as_string());
      const json::Value* path = m.find("path");
      const std::string sub = path && path->is_string() ? path->as_string() : "";
      if (cls == "Pooling") p.mode = read_pooling_mode(dir + "/" + sub + "/config.json");
      else if (cls == "Normalize") p.normalize = true;
      else if (cls != "Transformer")
        throw Error(modules_file + ": module \"" + cls + "\" is not supported (only Transformer, Pooling, Normalize)");
    }
  }
  if (exists(dir + "/sentence_bert_config.json"))
    p.max_seq_length = positive_int(json::parse_file(dir + "/sentence_bert_config.json"), "max_seq_length");
  if (p.max_seq_length == 0 && exists(dir + "/tokenizer_config.json"))
    p.max_seq_length = positive_int(json::parse_file(dir + "/tokenizer_config.json"), "model_max_length");
  return p;
}

} // namespace pagoda
