// pagoda-bench: offline throughput and latency of the engine on a checkpoint or a dummy
// config, printed beside the machine's memory bandwidth measured in the same run and the
// bandwidth bound of batch-1 decode (weight bytes ÷ bandwidth per step).
//
//   pagoda-bench --model DIR [--input-len 128 --output-len 128 --batch-size 1]
//   pagoda-bench --model config.json --load-format dummy ...
//   pagoda-bench --model DIR --dataset ../shared/workloads/sharegpt-like.json --num-prompts 200
//   ... --out result.json   (device, date, git commit, command, figures)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/memory_bandwidth.h"
#if defined(PAGODA_HAVE_CUDA) && __has_include("backend/cuda/cuda_backend.h")
#define PAGODA_BENCH_CUDA 1
#include "backend/cuda/cuda_backend.h"
#endif
#include "engine/llm_engine.h"
#include "error.h"
#include "json.h"

using namespace pagoda;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Args {
  EngineConfig engine;
  int32_t input_len = 128;
  int32_t output_len = 128;
  int32_t batch_size = 1;
  int32_t num_prompts = 0; // synthetic: rounds of batch_size; dataset: pairs used
  std::string dataset;
  std::string out;
  double bandwidth_gib = 1.0;
  bool skip_bandwidth = false;
  std::string command;
};

void usage() {
  std::puts(
      "usage: pagoda-bench --model DIR|config.json [--load-format auto|dummy] [--device cpu|cuda|auto]\n"
      "  [--dtype auto|float32|bfloat16|float16] [--input-len N] [--output-len N] [--batch-size N]\n"
      "  [--num-prompts N] [--dataset FILE] [--max-model-len N] [--max-num-seqs N]\n"
      "  [--max-num-batched-tokens N] [--block-size N] [--kv-cache-space-gib G] [--num-threads N]\n"
      "  [--gpu-memory-utilization F] [--enable-prefix-caching] [--enforce-eager]\n"
      "  [--bandwidth-buffer-gib G] [--skip-bandwidth] [--out FILE]");
}

Args parse_args(int argc, char** argv) {
  Args a;
  a.engine.enable_prefix_caching = false; // random prompts: the cache only adds lookups
  for (int i = 0; i < argc; ++i) a.command += (i ? " " : "") + std::string(argv[i]);
  auto need = [&](int& i) -> std::string {
    if (i + 1 >= argc) throw Error(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    if (f == "--model") a.engine.model = need(i);
    else if (f == "--load-format") a.engine.load_format = need(i);
    else if (f == "--device") a.engine.device = need(i);
    else if (f == "--dtype") a.engine.dtype = need(i);
    else if (f == "--input-len") a.input_len = std::stoi(need(i));
    else if (f == "--output-len") a.output_len = std::stoi(need(i));
    else if (f == "--batch-size") a.batch_size = std::stoi(need(i));
    else if (f == "--num-prompts") a.num_prompts = std::stoi(need(i));
    else if (f == "--dataset") a.dataset = need(i);
    else if (f == "--max-model-len") a.engine.max_model_len = std::stoi(need(i));
    else if (f == "--max-num-seqs") a.engine.max_num_seqs = std::stoi(need(i));
    else if (f == "--max-num-batched-tokens") a.engine.max_num_batched_tokens = std::stoi(need(i));
    else if (f == "--block-size") a.engine.block_size = std::stoi(need(i));
    else if (f == "--kv-cache-space-gib") a.engine.kv_cache_space_bytes = static_cast<int64_t>(std::stod(need(i)) * (1 << 30));
    else if (f == "--num-threads") a.engine.num_threads = std::stoi(need(i));
    else if (f == "--gpu-memory-utilization") a.engine.gpu_memory_utilization = std::stod(need(i));
    else if (f == "--enable-prefix-caching") a.engine.enable_prefix_caching = true;
    else if (f == "--enforce-eager") a.engine.enforce_eager = true;
    else if (f == "--bandwidth-buffer-gib") a.bandwidth_gib = std::stod(need(i));
    else if (f == "--skip-bandwidth") a.skip_bandwidth = true;
    else if (f == "--out") a.out = need(i);
    else if (f == "--help" || f == "-h") { usage(); std::exit(0); }
    else throw Error("unknown flag " + f + " (see --help)");
  }
  if (a.engine.model.empty()) throw Error("--model is required (a checkpoint folder, or a config.json with --load-format dummy)");
  if (a.input_len < 1 || a.output_len < 1 || a.batch_size < 1) throw Error("--input-len, --output-len and --batch-size must be at least 1");
  if (a.engine.max_num_seqs < a.batch_size) a.engine.max_num_seqs = a.batch_size;
  return a;
}

std::vector<int32_t> random_prompt(std::mt19937& rng, int32_t len, int32_t vocab) {
  std::uniform_int_distribution<int32_t> pick(3, std::max(4, vocab - 1));
  std::vector<int32_t> p(len);
  for (auto& t : p) t = pick(rng);
  return p;
}

SamplingParams fixed_length(int32_t max_tokens) {
  SamplingParams p;
  p.temperature = 0.0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

// Runs the engine until idle; per request: time of first token and of finish.
struct Timeline {
  std::map<std::string, double> first_token, finished;
  int64_t output_tokens = 0;
  int64_t steps = 0;
};

Timeline run_to_end(LLMEngine& e, Clock::time_point start) {
  Timeline t;
  while (e.has_unfinished()) {
    StepOutput out = e.step();
    ++t.steps;
    double now = seconds_since(start);
    for (const SequenceDelta& d : out.deltas) {
      t.output_tokens += static_cast<int64_t>(d.token_ids.size());
      if (!d.token_ids.empty()) t.first_token.emplace(d.request_id, now);
      if (d.request_finished) t.finished[d.request_id] = now;
    }
    if (!out.error.empty()) throw Error(out.error);
  }
  return t;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / v.size();
}

std::string shell(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string cpu_description() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto c = line.find(':');
      return line.substr(c + 2) + " (" + std::to_string(std::thread::hardware_concurrency()) + " threads)";
    }
  }
  return "cpu (" + std::to_string(std::thread::hardware_concurrency()) + " threads)";
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

json::Value num(double v) { return json::Value::number(v); }

// Synthetic: batches of identical-length random prompts. Prefill is timed with max_tokens 1;
// decode from the step where every sequence has its first token to the last step.
json::Value bench_synthetic(LLMEngine& e, const Args& a, std::mt19937& rng) {
  const int32_t vocab = e.model().vocab_size;
  const int32_t rounds = std::max(1, a.num_prompts > 0 ? (a.num_prompts + a.batch_size - 1) / a.batch_size : 1);
  double prefill_s = 0.0, decode_s = 0.0;
  int64_t prefill_tokens = 0, decode_tokens = 0, decode_steps = 0;
  for (int32_t r = 0; r < rounds; ++r) {
    auto start = Clock::now();
    for (int32_t b = 0; b < a.batch_size; ++b) {
      e.add_request("p" + std::to_string(r) + "-" + std::to_string(b), random_prompt(rng, a.input_len, vocab), fixed_length(1));
    }
    run_to_end(e, start);
    prefill_s += seconds_since(start);
    prefill_tokens += int64_t{a.batch_size} * a.input_len;
  }
  for (int32_t r = 0; r < rounds; ++r) {
    for (int32_t b = 0; b < a.batch_size; ++b) {
      e.add_request("d" + std::to_string(r) + "-" + std::to_string(b), random_prompt(rng, a.input_len, vocab), fixed_length(a.output_len));
    }
    // Prefill (not timed here) until every sequence holds its first token.
    std::map<std::string, bool> started;
    while (static_cast<int32_t>(started.size()) < a.batch_size) {
      for (const auto& d : e.step().deltas) if (!d.token_ids.empty()) started[d.request_id] = true;
    }
    auto start = Clock::now();
    Timeline t = run_to_end(e, start);
    decode_s += seconds_since(start);
    decode_tokens += t.output_tokens;
    decode_steps += t.steps;
  }
  json::Value out = json::Value::object();
  out.set("mode", json::Value::string("synthetic"));
  out.set("input_len", num(a.input_len));
  out.set("output_len", num(a.output_len));
  out.set("batch_size", num(a.batch_size));
  out.set("rounds", num(rounds));
  out.set("prefill_tokens_per_s", num(prefill_tokens / prefill_s));
  out.set("decode_tokens_per_s", num(decode_s > 0 ? decode_tokens / decode_s : 0.0));
  out.set("decode_steps_per_s", num(decode_s > 0 ? decode_steps / decode_s : 0.0));
  out.set("tpot_ms", num(decode_steps > 0 ? 1e3 * decode_s / decode_steps : 0.0));
  return out;
}

// Dataset: every (input, output) pair submitted at once, as vLLM's offline throughput bench.
json::Value bench_dataset(LLMEngine& e, const Args& a, std::mt19937& rng) {
  json::Value doc = json::parse_file(a.dataset);
  const auto& pairs = doc.at("pairs_input_output").as_array();
  const size_t n = a.num_prompts > 0 ? std::min<size_t>(a.num_prompts, pairs.size()) : pairs.size();
  const int32_t max_len = e.config().max_model_len;
  int64_t prompt_tokens = 0, skipped = 0;
  auto start = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    int32_t in = static_cast<int32_t>(pairs[i][0].as_int()), out = static_cast<int32_t>(pairs[i][1].as_int());
    if (in + out > max_len) { ++skipped; continue; }
    e.add_request("r" + std::to_string(i), random_prompt(rng, in, e.model().vocab_size), fixed_length(out));
    prompt_tokens += in;
  }
  Timeline t = run_to_end(e, start);
  double elapsed = seconds_since(start);
  std::vector<double> ttft, e2e;
  for (const auto& [id, ft] : t.first_token) ttft.push_back(ft * 1e3);
  for (const auto& [id, ft] : t.finished) e2e.push_back(ft * 1e3);
  json::Value out = json::Value::object();
  out.set("mode", json::Value::string("dataset"));
  out.set("dataset", json::Value::string(a.dataset));
  out.set("num_requests", num(static_cast<double>(t.finished.size())));
  out.set("skipped_longer_than_max_model_len", num(static_cast<double>(skipped)));
  out.set("elapsed_s", num(elapsed));
  out.set("steps", num(static_cast<double>(t.steps)));
  out.set("ms_per_step", num(t.steps > 0 ? 1e3 * elapsed / t.steps : 0.0));
  out.set("request_throughput_per_s", num(t.finished.size() / elapsed));
  out.set("output_tokens_per_s", num(t.output_tokens / elapsed));
  out.set("total_tokens_per_s", num((t.output_tokens + prompt_tokens) / elapsed));
  out.set("ttft_ms_mean", num(mean(ttft)));
  out.set("ttft_ms_median", num(percentile(ttft, 0.5)));
  out.set("ttft_ms_p99", num(percentile(ttft, 0.99)));
  out.set("e2e_ms_mean", num(mean(e2e)));
  out.set("e2e_ms_p99", num(percentile(e2e, 0.99)));
  return out;
}

int run(int argc, char** argv) {
  Args a = parse_args(argc, argv);
  auto t0 = Clock::now();
  std::unique_ptr<LLMEngine> e = LLMEngine::load(a.engine);
  const double load_s = seconds_since(t0);
  const MemoryProfile prof = e->memory_profile(); // a copy: the engine is freed before the bandwidth probe
  const std::string device = e->backend().name();
  std::printf("model        %s (%s, %s, %.3f GB of weights), loaded in %.2f s\n", a.engine.model.c_str(),
              e->model().architecture.c_str(), e->model().dtype.c_str(), prof.weights_bytes / 1e9, load_s);
  std::printf("engine       device %s, max_model_len %d, %d KV blocks of %d, max_num_batched_tokens %d\n",
              device.c_str(), e->config().max_model_len, e->stats().kv_blocks_total, e->config().block_size,
              e->config().max_num_batched_tokens);

  std::mt19937 rng(1234);
  { // Warm-up: touch the weights and size the workspaces.
    e->add_request("warmup", random_prompt(rng, std::min(16, a.input_len), e->model().vocab_size), fixed_length(4));
    run_to_end(*e, Clock::now());
  }
  json::Value figures = a.dataset.empty() ? bench_synthetic(*e, a, rng) : bench_dataset(*e, a, rng);

  const int threads = a.engine.num_threads > 0 ? a.engine.num_threads : static_cast<int>(std::thread::hardware_concurrency());
  BandwidthResult bw;
  if (!a.skip_bandwidth) {
    e.reset(); // free the model and KV cache before taking another buffer
    bw = measure_memory_bandwidth(static_cast<size_t>(a.bandwidth_gib * (1 << 30)), static_cast<int>(std::thread::hardware_concurrency()));
#ifdef PAGODA_BENCH_CUDA
    // On the GPU the floor is the device's own copy bandwidth (read + write), not the host's.
    if (device == "cuda") {
      bw.read_gb_per_s = bw.copy_gb_per_s = cuda_copy_bandwidth_gb_per_s(size_t(1) << 30);
      bw.threads = 0;
      bw.buffer_bytes = size_t(1) << 30;
    }
#endif
  }
  const double bound_steps = bw.read_gb_per_s > 0 ? bw.read_gb_per_s * 1e9 / prof.weights_bytes : 0.0;

  if (a.dataset.empty()) {
    double steps = figures.at("decode_steps_per_s").as_number();
    std::printf("prefill      %.1f tokens/s  (%d prompts of %d tokens per batch)\n",
                figures.at("prefill_tokens_per_s").as_number(), a.batch_size, a.input_len);
    std::printf("decode       %.2f tokens/s at batch %d, %.2f ms per step\n",
                figures.at("decode_tokens_per_s").as_number(), a.batch_size, figures.at("tpot_ms").as_number());
    if (!a.skip_bandwidth) {
      if (device == "cuda")
        std::printf("memory       %.2f GB/s device-to-device copy (read + write, 1 GiB)\n", bw.copy_gb_per_s);
      else
        std::printf("memory       %.2f GB/s read, %.2f GB/s copy (host, %d threads, %.2f GiB buffer)\n",
                    bw.read_gb_per_s, bw.copy_gb_per_s, bw.threads, bw.buffer_bytes / double(1 << 30));
      std::printf("bound        %.2f decode steps/s = %.2f GB/s / %.3f GB of weights; achieved %.2f steps/s = %.0f%% of the bound\n",
                  bound_steps, bw.read_gb_per_s, prof.weights_bytes / 1e9, steps, 100.0 * steps / bound_steps);
      std::printf("floor        %.3f ms per step (weights / bandwidth); achieved %.3f ms = %.3fx the floor\n",
                  1e3 / bound_steps, 1e3 / steps, bound_steps / steps);
      figures.set("decode_bound_steps_per_s", num(bound_steps));
      figures.set("decode_fraction_of_bound", num(steps / bound_steps));
    }
  } else {
    std::printf("throughput   %.2f requests/s, %.1f output tokens/s, %.1f total tokens/s (%g requests)\n",
                figures.at("request_throughput_per_s").as_number(), figures.at("output_tokens_per_s").as_number(),
                figures.at("total_tokens_per_s").as_number(), figures.at("num_requests").as_number());
    std::printf("steps        %g engine steps, %.2f ms per step\n", figures.at("steps").as_number(),
                figures.at("ms_per_step").as_number());
    std::printf("latency      TTFT mean %.1f ms, median %.1f ms, p99 %.1f ms; E2E mean %.1f ms, p99 %.1f ms\n",
                figures.at("ttft_ms_mean").as_number(), figures.at("ttft_ms_median").as_number(),
                figures.at("ttft_ms_p99").as_number(), figures.at("e2e_ms_mean").as_number(),
                figures.at("e2e_ms_p99").as_number());
    if (!a.skip_bandwidth)
      std::printf("memory       %.2f GB/s read, %.2f GB/s copy (%s)\n", bw.read_gb_per_s, bw.copy_gb_per_s,
                  device == "cuda" ? "device-to-device" : "host");
  }

  if (!a.out.empty()) {
    json::Value r = json::Value::object();
    r.set("tool", json::Value::string("pagoda-bench"));
    std::string device_text = device == "cpu" ? cpu_description() : device;
#ifdef PAGODA_BENCH_CUDA
    if (device == "cuda") device_text = cuda_device_description();
#endif
    r.set("device", json::Value::string(device_text));
    r.set("backend", json::Value::string(device));
    r.set("date", json::Value::string(utc_now()));
    // PAGODA_GIT_COMMIT names the build where the tree travels without .git (the GPU machine).
    const char* env_commit = std::getenv("PAGODA_GIT_COMMIT");
    std::string commit = env_commit && *env_commit ? env_commit : shell("git rev-parse --short HEAD 2>/dev/null");
    r.set("git_commit", json::Value::string(commit.empty() ? "unknown" : commit));
    r.set("command", json::Value::string(a.command));
    r.set("model", json::Value::string(a.engine.model));
    r.set("load_format", json::Value::string(a.engine.load_format));
    r.set("weights_bytes", num(static_cast<double>(prof.weights_bytes)));
    r.set("engine_threads", num(threads));
    r.set("load_s", num(load_s));
    if (!a.skip_bandwidth) {
      r.set("memory_read_gb_per_s", num(bw.read_gb_per_s));
      r.set("memory_copy_gb_per_s", num(bw.copy_gb_per_s));
    }
    r.set("figures", figures);
    std::ofstream f(a.out);
    if (!f) throw Error("cannot write " + a.out);
    f << json::dump(r) << "\n";
    std::printf("wrote        %s\n", a.out.c_str());
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pagoda-bench: %s\n", e.what());
    return 1;
  }
}
