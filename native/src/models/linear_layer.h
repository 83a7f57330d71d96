// A linear layer as a model file uses it: one LinearMethod, or several fused along their
// outputs (q, k, v → qkv; gate, up → gate_up) so a backend can run them as one GEMM, and the
// backend's prepared form of them (its kernel's repacked weights), made once at load.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/linear_method.h"

namespace pagoda {

// What a backend made of a LinearLayer at load (its process_weights_after_loading): owned by
// the layer, read back only by that backend.
struct LinearKernel {
  virtual ~LinearKernel() = default;
};

struct LinearLayer {
  std::string name;                       // "qkv_proj", "o_proj", "gate_up_proj", "down_proj"
  std::vector<const LinearMethod*> parts; // fused along the output dim, in this order
  int64_t in_features = 0;
  int64_t out_features = 0;               // sum of the parts'
  std::unique_ptr<LinearKernel> kernel;   // set by the backend

  // Every part has one method (a checkpoint's ignore list could mix them: then kNone parts
  // beside quantized ones, which backends handle part by part).
  QuantMethod method() const { return parts.empty() ? QuantMethod::kNone : parts.front()->method(); }
  bool uniform() const {
    for (const LinearMethod* p : parts)
      if (p->method() != method()) return false;
    return true;
  }
};

// A layer of the given parts (each [out_p, in]); throws when their in_features differ.
LinearLayer fuse_linears(std::string name, std::vector<const LinearMethod*> parts);

} // namespace pagoda
