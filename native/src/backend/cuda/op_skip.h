// Which ops a step leaves out (PAGODA_CUDA_SKIP_OPS=rope,attention_decode,...; a diagnostic that
// makes the output wrong): the time a graph-launched step saves without an op is what that op
// costs there, PDL overlap included, which per-op events (op_timer.h) cannot show.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

namespace pagoda::cuda {

class OpSkip {
public:
  OpSkip() {
    const char* v = std::getenv("PAGODA_CUDA_SKIP_OPS");
    if (v == nullptr) return;
    std::stringstream names(v);
    for (std::string name; std::getline(names, name, ',');)
      if (!name.empty()) skip_.insert(name);
    if (!skip_.empty()) std::fprintf(stderr, "PAGODA_CUDA_SKIP_OPS=%s: those ops do not run (outputs are wrong)\n", v);
  }
  // op: the op timer's name for it ("rope", "kv_cache_write", "attention_decode", "add_rms_norm",
  // "silu_mul", or a linear's name such as "qkv_proj").
  bool skips(std::string_view op) const { return !skip_.empty() && skip_.count(std::string(op)) > 0; }

private:
  std::set<std::string> skip_;
};

} // namespace pagoda::cuda
