// Embedding throughput of the pooling engine: N passages of L random token ids (as a
// tokenizer would give them: <s>/[CLS] first, </s>/[SEP] last) embedded in one call, the
// engine packing them into forwards of its token budget. Prints one JSON object (passages/s,
// tokens/s, forwards, the budget, the device) and writes it to --out.
//   pagoda-embed-bench --model bench/configs/bge-m3-shape.json --load-format dummy --device cuda \
//     --num-passages 10000 --passage-len 256 [--max-num-batched-tokens N] [--out r.json]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/engine_config.h"
#include "engine/pooling_engine.h"
#include "error.h"

#ifdef PAGODA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

using namespace pagoda;

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "pagoda-embed-bench: %s\nusage: pagoda-embed-bench --model <dir|config.json> [--load-format auto|dummy] "
               "[--device auto|cpu|cuda] [--dtype auto|bfloat16|float32] [--num-passages N] [--passage-len L] "
               "[--max-num-batched-tokens N] [--warmup-passages N] [--seed S] [--out file.json]\n",
               why.c_str());
  std::exit(2);
}

int to_int(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used == v.size() && x >= 0) return x;
  } catch (const std::exception&) {
  }
  usage(flag + " needs a non-negative integer, got \"" + v + "\"");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char** argv) {
  EngineConfig e;
  int passages = 10000, len = 256, warmup = 0, vocab_hint = 0;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string v = argv[++i];
    if (flag == "--model") e.model = v;
    else if (flag == "--load-format") e.load_format = v;
    else if (flag == "--device") e.device = v;
    else if (flag == "--dtype") e.dtype = v;
    else if (flag == "--num-passages") passages = to_int(flag, v);
    else if (flag == "--passage-len") len = to_int(flag, v);
    else if (flag == "--max-num-batched-tokens") e.max_num_batched_tokens = to_int(flag, v);
    else if (flag == "--warmup-passages") warmup = to_int(flag, v);
    else if (flag == "--vocab") vocab_hint = to_int(flag, v);
    else if (flag == "--seed") e.seed = static_cast<uint64_t>(to_int(flag, v));
    else if (flag == "--out") out = v;
    else usage("unknown option " + flag);
  }
  if (e.model.empty()) usage("--model is required");
  if (passages <= 0 || len < 2) usage("--num-passages must be positive and --passage-len at least 2");
  try {
    const auto t_load = std::chrono::steady_clock::now();
    PoolingEngine engine(e);
    const double load_s = seconds_since(t_load);
    if (len > engine.max_input_tokens())
      usage("--passage-len " + std::to_string(len) + " is over the model's maximum of " +
            std::to_string(engine.max_input_tokens()));
    // Content ids from 3 up to 999 (or --vocab, for a smaller vocabulary), between XLM-R's
    // <s> (0) and </s> (2): what st_embed_bench.py feeds sentence-transformers.
    const int top = vocab_hint > 0 ? vocab_hint : 1000;
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int> pick(3, std::max(3, top - 1));
    std::vector<PoolingInput> inputs(static_cast<size_t>(passages));
    for (PoolingInput& in : inputs) {
      in.token_ids.resize(static_cast<size_t>(len));
      for (int32_t& id : in.token_ids) id = pick(rng);
      in.token_ids.front() = 0;
      in.token_ids.back() = 2;
    }
    // Warm-up: cuBLASLt's plans and the kernels' first launches, buffers at full size.
    const int warm = warmup > 0 ? warmup : std::max(1, engine.max_batch_tokens() / len);
    std::vector<PoolingInput> head(inputs.begin(), inputs.begin() + std::min<size_t>(warm, inputs.size()));
    (void)engine.embed(head);
    const int64_t forwards_before = engine.forwards();
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<std::vector<float>> vectors = engine.embed(inputs);
    const double s = seconds_since(t0);
    double checksum = 0;
    for (const auto& v : vectors) checksum += v.front();
    const double tokens = double(passages) * len;
    std::string device = engine.device();
#ifdef PAGODA_HAVE_CUDA
    if (device == "cuda") device = cuda_device_description();
#endif
    char buf[2048];
    std::snprintf(buf, sizeof buf,
                  "{\"tool\": \"pagoda-embed-bench\", \"engine\": \"pagoda\", \"model\": \"%s\", \"architecture\": "
                  "\"%s\", \"load_format\": \"%s\", \"device\": \"%s\", \"num_passages\": %d, \"passage_len\": %d, "
                  "\"max_batch_tokens\": %d, \"forwards\": %lld, \"seconds\": %.4f, \"passages_per_s\": %.1f, "
                  "\"tokens_per_s\": %.0f, \"load_s\": %.2f, \"dim\": %d, \"checksum\": %.6f}",
                  e.model.c_str(), engine.architecture().c_str(), e.load_format.c_str(), device.c_str(), passages, len,
                  engine.max_batch_tokens(), static_cast<long long>(engine.forwards() - forwards_before), s,
                  passages / s, tokens / s, load_s, engine.hidden_size(), checksum);
    std::printf("%s\n", buf);
    if (!out.empty()) {
      std::ofstream f(out);
      f << buf << "\n";
      if (!f) throw Error("cannot write " + out);
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "pagoda-embed-bench: %s\n", ex.what());
    return 1;
  }
  return 0;
}
