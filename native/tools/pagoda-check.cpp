// pagoda-check: runs a golden file (../shared/fixtures/golden) against the engine's backend
// and reports prompt-logit errors and greedy agreement; exits 1 outside the tolerances.
// Needs no Node: it is how the GPU machine checks the CUDA backend.
#include <cstdio>
#include <cstring>
#include <string>

#include "backend/backend.h"
#include "engine/engine_config.h"
#include "error.h"
#include "model/golden.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: pagoda-check <golden.json> [--model DIR] [--device cpu|cuda|auto] [--dtype D] [--threads N]\n"
               "  --model   checkpoint folder (default: <golden dir>/../../models/<model of the golden>)\n"
               "  --dtype   compute dtype: auto (default), float32, bfloat16 or float16; the tolerance follows\n"
               "            the backend's compute dtype\n");
}

} // namespace

int main(int argc, char** argv) {
  std::string golden_path, model_dir, device = "cpu", dtype = "auto";
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "pagoda-check: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model_dir = value();
    else if (a == "--device") device = value();
    else if (a == "--dtype") dtype = value();
    else if (a == "--threads") threads = std::atoi(value().c_str());
    else if (a == "-h" || a == "--help") { usage(); return 0; }
    else if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pagoda-check: unknown option %s\n", a.c_str()); usage(); return 2; }
    else if (golden_path.empty()) golden_path = a;
    else { usage(); return 2; }
  }
  if (golden_path.empty()) {
    usage();
    return 2;
  }
  try {
    const pagoda::GoldenFile golden = pagoda::load_golden(golden_path);
    if (model_dir.empty()) model_dir = pagoda::default_model_dir(golden);
    pagoda::EngineConfig config;
    config.model = model_dir;
    config.device = device;
    config.dtype = dtype;
    config.num_threads = threads;
    config.activation_quantization = pagoda::activation_quantization_for(golden);
    auto backend = pagoda::create_backend(config);
    const pagoda::GoldenTolerance tol = pagoda::tolerance_for(golden, backend->compute_dtype());
    const auto results = pagoda::run_golden(*backend, golden);

    std::printf("golden %s  model %s  backend %s  weights %s  compute %s  tolerance: %s\n", golden_path.c_str(),
                model_dir.c_str(), backend->name().c_str(), golden.weights_dtype.c_str(), backend->compute_dtype().c_str(),
                tol.use_abs ? "max abs < 1e-3" : ("rel per position < " + std::to_string(tol.max_rel)).c_str());
    std::printf("%-4s %-28s %12s %12s %10s %12s  %s\n", "case", "prompt", "max_abs", "max_rel", "greedy", "logprob_err", "result");
    int failed = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::string prompt = golden.cases[i].prompt_text;
      if (prompt.size() > 26) {
        size_t cut = 26;
        while (cut > 0 && (static_cast<unsigned char>(prompt[cut]) & 0xC0) == 0x80) --cut; // keep UTF-8 whole
        prompt.resize(cut);
      }
      for (char& ch : prompt) if (ch == '\n') ch = ' ';
      char greedy[32];
      std::snprintf(greedy, sizeof greedy, "%d/%d", r.greedy_matched, r.greedy_compared);
      std::printf("%-4zu %-28s %12.3e %12.3e %10s %12.3e  %s\n", i, prompt.c_str(), r.max_abs_error, r.max_rel_error,
                  greedy, r.max_logprob_error, r.ok() ? "ok" : (r.logits_ok ? "FAIL (greedy)" : "FAIL (logits)"));
      if (!r.ok()) ++failed;
    }
    std::printf("%zu passed, %d failed\n", results.size() - failed, failed);
    return failed ? 1 : 0;
  } catch (const pagoda::Error& e) {
    std::fprintf(stderr, "pagoda-check: %s\n", e.what());
    return 1;
  }
}
