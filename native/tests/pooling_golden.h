// The wave2 embedding / rerank goldens (shared/fixtures/wave2/golden) as both pooling tests read
// them, and the comparison both make: pooling_golden_test.cpp (CPU) and cuda/pooling_golden_cuda_test.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/pooling_engine.h"
#include "json.h"
#include "model/golden.h"

namespace pagoda::pooling_golden {

// PAGODA_SHARED (the device bundle carries its own copy), else ../shared beside the repository.
inline std::string shared_dir() {
  const char* env = std::getenv("PAGODA_SHARED");
  return env != nullptr && *env != '\0' ? env : "../shared";
}
inline std::string model_dir(const std::string& name) { return shared_dir() + "/models/wave2/" + name; }
inline std::string golden_path(const std::string& name) {
  return shared_dir() + "/fixtures/wave2/golden/" + name + ".golden.json";
}

inline std::vector<int32_t> ints(const json::Value& v) {
  std::vector<int32_t> out;
  for (const json::Value& x : v.as_array()) out.push_back(static_cast<int32_t>(x.as_int()));
  return out;
}

// A case's ids as fed to transformers (token_type_ids only where the golden has them).
inline PoolingInput input_of(const json::Value& c) {
  PoolingInput in;
  in.token_ids = ints(c.at("input_ids"));
  if (const json::Value* types = c.find("token_type_ids")) in.token_type_ids = ints(*types);
  return in;
}

// The exact float32 vector (embedding_f32_b64), not the 6-decimal list beside it.
inline std::vector<float> golden_vector(const json::Value& c) {
  const std::vector<uint8_t> bytes = base64_decode(c.at("embedding_f32_b64").as_string());
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

struct EmbeddingGolden {
  json::Value file; // pooling, normalize, max_seq_length, ...
  std::vector<PoolingInput> inputs;
  std::vector<std::vector<float>> expected;
};

inline EmbeddingGolden load_embedding_golden(const std::string& name) {
  EmbeddingGolden g;
  g.file = json::parse_file(golden_path(name));
  for (const json::Value& c : g.file.at("cases").as_array()) {
    g.inputs.push_back(input_of(c));
    g.expected.push_back(golden_vector(c));
  }
  return g;
}

struct RerankGolden {
  std::vector<PoolingInput> inputs;
  std::vector<double> expected; // the head's logit per pair
};

inline RerankGolden load_rerank_golden(const std::string& name) {
  RerankGolden g;
  const json::Value file = json::parse_file(golden_path(name));
  for (const json::Value& c : file.at("cases").as_array()) {
    g.inputs.push_back(input_of(c));
    g.expected.push_back(c.at("logit").as_number());
  }
  return g;
}

// NaN for a zero vector or one holding NaN, so such an output can never pass a >= limit.
inline double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// The worst of a set of vectors against their goldens. NaN is sticky (std::min would drop it:
// a NaN worst must fail the check, not read as a perfect 1.0).
struct VectorAgreement {
  double worst_cosine = 1.0;
  double max_abs = 0.0;
  bool sizes_match = true;

  void add(const std::vector<float>& got, const std::vector<float>& expected) {
    if (got.size() != expected.size()) {
      sizes_match = false;
      return;
    }
    const double c = cosine(got, expected);
    if (std::isnan(c) || c < worst_cosine) worst_cosine = c;
    for (size_t k = 0; k < got.size(); ++k) {
      const double d = std::fabs(double(got[k]) - expected[k]);
      if (std::isnan(d) || d > max_abs) max_abs = d;
    }
  }
  bool cosine_at_least(double limit) const { return sizes_match && worst_cosine >= limit; }
  bool max_abs_below(double limit) const { return sizes_match && max_abs < limit; }
};

// Logits against their goldens: the largest |got - golden| and the largest excess over an
// absolute + relative tolerance; NaN sticky as above.
struct LogitAgreement {
  double max_abs = 0.0;
  double worst_excess = -1e300;
  double abs_tol = 0.0, rel_tol = 0.0;

  LogitAgreement(double abs_tolerance, double rel_tolerance) : abs_tol(abs_tolerance), rel_tol(rel_tolerance) {}
  void add(double got, double expected) {
    const double err = std::fabs(got - expected);
    if (std::isnan(err) || err > max_abs) max_abs = err;
    const double excess = err - (abs_tol + rel_tol * std::fabs(expected));
    if (std::isnan(excess) || excess > worst_excess) worst_excess = excess;
  }
  bool within() const { return worst_excess <= 0; }
};

} // namespace pagoda::pooling_golden
