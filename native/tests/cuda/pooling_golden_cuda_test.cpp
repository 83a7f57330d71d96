// The pooling engine on the GPU against sentence-transformers / transformers: the five wave2
// embedding and rerank checkpoints (shared/models/wave2, goldens in shared/fixtures/wave2/golden),
// each golden case alone and all of a file's cases packed in one forward, in bfloat16 (the only
// compute dtype the CUDA backend runs pooling models in; dtype float32 must be refused there):
// cosine >= 0.999 per embedding, rerank logits within 2e-2 + 2e-2·|golden| (fixtures README), a
// packed batch as its inputs alone (cosine >= 0.9999), bad ids refused. One line per check, on a
// line-buffered stdout, and a crash handler naming the step it died in: a device run whose
// output goes to a file must still say where a crash was. The shared folder is PAGODA_SHARED or
// ../shared. Arguments: checkpoint names to run a subset (default: all five).
#include <cuda_runtime.h>
#include <execinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../check.h"
#include "../pooling_golden.h"
#include "engine/pooling_engine.h"

using namespace pagoda;
using namespace pagoda::pooling_golden;

namespace {

constexpr double kEmbedMinCosine = 0.999;      // bf16 compute (the Done-when)
constexpr double kPackedMinCosine = 0.9999;    // packed vs alone, same dtype and kernels
constexpr double kRerankAbsTol = 2e-2, kRerankRelTol = 2e-2; // bf16 (fixtures/wave2/README.md)

// What the test is doing now, for the crash handler (a fixed buffer: the handler may only
// call async-signal-safe functions, so it writes this with write(2)).
char g_step[256] = "start";

void step(const std::string& what) {
  std::snprintf(g_step, sizeof g_step, "%s", what.c_str());
  std::printf("-- %s\n", g_step);
}

void on_crash(int sig) {
  const char* name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE"
                   : sig == SIGILL  ? "SIGILL"  : "SIGABRT";
  const char head[] = "\npooling_golden_cuda_test: CRASH ";
  (void)!write(STDERR_FILENO, head, sizeof head - 1);
  (void)!write(STDERR_FILENO, name, std::strlen(name));
  const char during[] = " during: ";
  (void)!write(STDERR_FILENO, during, sizeof during - 1);
  (void)!write(STDERR_FILENO, g_step, std::strlen(g_step));
  (void)!write(STDERR_FILENO, "\n", 1);
  void* frames[64];
  backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

EngineConfig config_for(const std::string& name, const std::string& dtype = "auto") {
  EngineConfig e;
  e.model = model_dir(name);
  e.device = "cuda";
  e.dtype = dtype;
  return e;
}

int tokens_of(const std::vector<PoolingInput>& inputs) {
  int n = 0;
  for (const PoolingInput& in : inputs) n += static_cast<int>(in.token_ids.size());
  return n;
}

// The checkpoint's engine on the GPU, of the kind the golden says it is.
std::unique_ptr<PoolingEngine> load_engine(const std::string& name, PoolingTask task) {
  step(name + ": load (cuda, bf16)");
  auto engine = std::make_unique<PoolingEngine>(config_for(name));
  CHECK_EQ(engine->device(), std::string("cuda"));
  CHECK(engine->task() == task);
  return engine;
}

// Runs checks(engine) on the checkpoint's engine. An error is printed while the engine still
// exists, and the engine is then left undestroyed: after a device fault the context is broken,
// and tearing down CUDA and cuBLASLt objects in it is where such a run can crash, before any
// handler up the stack could say what the error was.
template <class Checks> void with_engine(const std::string& name, PoolingTask task, Checks&& checks) {
  std::unique_ptr<PoolingEngine> engine = load_engine(name, task);
  try {
    checks(*engine);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pooling_golden_cuda_test: %s: error during \"%s\": %s\n", name.c_str(), g_step, e.what());
    (void)engine.release(); // deliberately not destroyed (above)
    throw;
  }
}

// The CUDA backend computes pooling models in bfloat16 only: float32 is refused at load with a
// message that says what to use instead (not run at a precision nobody asked for).
void check_f32_refused(const std::string& name) {
  step(name + ": dtype float32 on cuda");
  CHECK_THROWS_WITH(PoolingEngine{config_for(name, "float32")}, "bfloat16");
  std::printf("%s (cuda, float32): refused at load, as the CUDA backend runs pooling models in bfloat16\n",
              name.c_str());
}

void check_embedding_model(const std::string& name) {
  step(name + ": golden");
  const EmbeddingGolden golden = load_embedding_golden(name);
  with_engine(name, PoolingTask::kEmbed, [&](PoolingEngine& engine) {
    const std::vector<PoolingInput>& all = golden.inputs;
    VectorAgreement alone_vs_golden, packed_vs_golden, packed_vs_alone;
    std::vector<std::vector<float>> alone;
    for (size_t i = 0; i < all.size(); ++i) {
      step(name + ": case " + std::to_string(i) + " alone (" + std::to_string(all[i].token_ids.size()) + " tokens)");
      alone.push_back(engine.embed({all[i]}).front());
      VectorAgreement one;
      one.add(alone[i], golden.expected[i]);
      alone_vs_golden.add(alone[i], golden.expected[i]);
      std::printf("%s (cuda, bf16) case %zu alone, %zu tokens: cosine %.6f\n", name.c_str(), i, all[i].token_ids.size(),
                  one.worst_cosine);
    }
    step(name + ": all " + std::to_string(all.size()) + " cases packed (" + std::to_string(tokens_of(all)) +
         " tokens)");
    const int64_t forwards = engine.forwards();
    const std::vector<std::vector<float>> packed = engine.embed(all);
    CHECK_EQ(engine.forwards() - forwards, int64_t(1)); // one forward holds them all
    double worst_norm_err = 0.0;
    for (size_t i = 0; i < all.size(); ++i) {
      packed_vs_golden.add(packed[i], golden.expected[i]);
      packed_vs_alone.add(packed[i], alone[i]);
      if (golden.file.at("normalize").as_bool()) {
        double n2 = 0;
        for (float x : packed[i]) n2 += double(x) * x;
        const double err = std::fabs(std::sqrt(n2) - 1.0);
        if (std::isnan(err) || err > worst_norm_err) worst_norm_err = err;
      }
    }
    std::printf("%s (cuda, bf16): %zu cases alone: worst cosine %.6f; packed: worst cosine %.6f (limit %.4f), "
                "packed vs alone %.6f (limit %.4f), max | ||v|| - 1 | %.2e\n",
                name.c_str(), all.size(), alone_vs_golden.worst_cosine, packed_vs_golden.worst_cosine, kEmbedMinCosine,
                packed_vs_alone.worst_cosine, kPackedMinCosine, worst_norm_err);
    CHECK(alone_vs_golden.cosine_at_least(kEmbedMinCosine));
    CHECK(packed_vs_golden.cosine_at_least(kEmbedMinCosine));
    CHECK(packed_vs_alone.cosine_at_least(kPackedMinCosine));
    CHECK(worst_norm_err < 1e-5);
    step(name + ": a bad id is refused");
    PoolingInput bad = all[0];
    bad.token_ids[0] = 1 << 20;
    CHECK_THROWS_WITH(engine.embed({bad}), "outside the vocabulary");
    std::printf("%s (cuda): an id outside the vocabulary is refused\n", name.c_str());
  });
}

void check_rerank_model(const std::string& name) {
  step(name + ": golden");
  const RerankGolden golden = load_rerank_golden(name);
  with_engine(name, PoolingTask::kScore, [&](PoolingEngine& engine) {
    const std::vector<PoolingInput>& all = golden.inputs;
    LogitAgreement alone_vs_golden(kRerankAbsTol, kRerankRelTol), packed_vs_golden(kRerankAbsTol, kRerankRelTol);
    std::vector<float> alone;
    for (size_t i = 0; i < all.size(); ++i) {
      step(name + ": pair " + std::to_string(i) + " alone (" + std::to_string(all[i].token_ids.size()) + " tokens)");
      alone.push_back(engine.score({all[i]}).front());
      alone_vs_golden.add(alone[i], golden.expected[i]);
      std::printf("%s (cuda, bf16) pair %zu alone, %zu tokens: logit %.5f, golden %.5f\n", name.c_str(), i,
                  all[i].token_ids.size(), alone[i], golden.expected[i]);
    }
    step(name + ": all " + std::to_string(all.size()) + " pairs packed (" + std::to_string(tokens_of(all)) +
         " tokens)");
    const std::vector<float> packed = engine.score(all);
    double packed_vs_alone = 0.0;
    for (size_t i = 0; i < all.size(); ++i) {
      packed_vs_golden.add(packed[i], golden.expected[i]);
      const double d = std::fabs(double(packed[i]) - alone[i]);
      if (std::isnan(d) || d > packed_vs_alone) packed_vs_alone = d;
    }
    std::printf("%s (cuda, bf16): %zu pairs: max |logit - golden| alone %.3g, packed %.3g (within 2e-2 + 2e-2|golden|: "
                "%s), max |packed - alone| %.3g\n",
                name.c_str(), all.size(), alone_vs_golden.max_abs, packed_vs_golden.max_abs,
                alone_vs_golden.within() && packed_vs_golden.within() ? "yes" : "NO", packed_vs_alone);
    CHECK(alone_vs_golden.within());
    CHECK(packed_vs_golden.within());
    step(name + ": a bad id is refused");
    PoolingInput bad = all[0];
    bad.token_ids[1] = 1 << 20;
    CHECK_THROWS_WITH(engine.score({bad}), "outside the vocabulary");
    std::printf("%s (cuda): an id outside the vocabulary is refused\n", name.c_str());
  });
}

} // namespace

int main(int argc, char** argv) {
  // Line-buffered: with stdout sent to a file, a crash must not take the lines before it along.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_crash);
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("SKIP pooling_golden_cuda_test: no CUDA device\n");
    return 0;
  }
  const std::vector<std::string> embedding = {"tiny-bert-embed", "tiny-xlmr-embed", "tiny-qwen3-embed"};
  const std::vector<std::string> rerank = {"tiny-bert-rerank", "tiny-xlmr-rerank"};
  std::vector<std::string> wanted(argv + 1, argv + argc);
  auto selected = [&](const std::string& name) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), name) != wanted.end();
  };
  for (const std::string& name : wanted)
    if (std::find(embedding.begin(), embedding.end(), name) == embedding.end() &&
        std::find(rerank.begin(), rerank.end(), name) == rerank.end()) {
      std::fprintf(stderr, "pooling_golden_cuda_test: unknown checkpoint %s\n", name.c_str());
      return 2;
    }
  for (const std::string& name : embedding) {
    if (!selected(name)) continue;
    try {
      check_embedding_model(name);
      check_f32_refused(name);
    } catch (const std::exception& e) { // the next checkpoint still runs
      std::fprintf(stderr, "pooling_golden_cuda_test: %s failed during \"%s\": %s\n", name.c_str(), g_step, e.what());
      ++check_failures();
    }
  }
  for (const std::string& name : rerank) {
    if (!selected(name)) continue;
    try {
      check_rerank_model(name);
      check_f32_refused(name);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "pooling_golden_cuda_test: %s failed during \"%s\": %s\n", name.c_str(), g_step, e.what());
      ++check_failures();
    }
  }
  step("exit");
  return finish_checks("pooling_golden_cuda_test");
}
