// pagoda-bench: offline throughput and latency of the engine on a checkpoint or a dummy
// config, printed beside the memory bandwidth measured in the same run: the batch-1 decode
// floor (weight bytes ÷ bandwidth per step), the roofline of a loaded run (weights + KV bytes
// read per step ÷ bandwidth), device idle time between steps, and peak device memory.
//
//   pagoda-bench --model DIR [--input-len 128 --output-len 128 --batch-size 1]
//   pagoda-bench --model config.json --load-format dummy ...
//   pagoda-bench --model DIR --dataset ../shared/workloads/sharegpt-like.json --num-prompts 200
//   pagoda-bench --model DIR --dataset random --random-input-len 1024 --random-output-len 1024 --num-prompts 1000
//   pagoda-bench --model DIR --prefix-workload [--prefix-len 1536 --suffix-len 512 --output-len 128 --num-prompts 200]
//   ... --gpu-memory-utilization 0.7 --out result.json   (device, date, git commit, command, figures)
//   pagoda-bench --model config.json --load-format dummy --profile-only [--out FILE]
//       the load's memory as JSON, component by component (a refused load: the engine's message)
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

#include "bench/engine_run.h"
#include "bench/memory_bandwidth.h"
#include "bench/memory_profile.h"
#include "bench/step_accounting.h"
#include "bench/token_mask_feeder.h"
#include "bench/workloads.h"
#include "build_commit.h" // PAGODA_BUILD_COMMIT (native/scripts/build_commit.cmake)
#if defined(PAGODA_HAVE_CUDA) && __has_include("backend/cuda/cuda_backend.h")
#define PAGODA_BENCH_CUDA 1
#include "backend/cuda/cuda_backend.h"
#endif
#include "engine/llm_engine.h"
#include "error.h"
#include "json.h"
#include "model/model_config.h"

using namespace pagoda;

namespace {

using Clock = BenchClock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Args {
  EngineConfig engine;
  int32_t input_len = 128;
  int32_t output_len = 128;
  int32_t batch_size = 1;
  int32_t num_prompts = 0; // synthetic: rounds of batch_size; dataset / random / prefix: requests
  std::string dataset;     // a workload file, or "random"
  int32_t random_input_len = 1024;
  int32_t random_output_len = 1024;
  bool prefix_workload = false;
  int32_t prefix_len = 1536;
  int32_t suffix_len = 512;
  std::string out;
  std::string tokens_out; // prefix workload: each request's ids of the caching-on run, one line each
  double bandwidth_gib = 1.0;
  bool skip_bandwidth = false;
  double progress_s = 0.0; // > 0: a progress line on stderr this often during a run
  double constrained_fraction = 0.0; // synthetic: decode again with this share of the batch constrained
  bool profile_only = false;         // load, print the memory profile as JSON, run one short request
  std::string command;
};

void usage() {
  std::puts(
      "usage: pagoda-bench --model DIR|config.json [--load-format auto|dummy] [--device cpu|cuda|auto]\n"
      "  [--dtype auto|float32|bfloat16|float16] [--kv-cache-dtype auto|bfloat16|fp8]\n"
      "  [--input-len N] [--output-len N] [--batch-size N]\n"
      "  [--num-prompts N] [--dataset FILE|random] [--random-input-len N] [--random-output-len N]\n"
      "  [--prefix-workload] [--prefix-len N] [--suffix-len N]\n"
      "  [--max-model-len N] [--max-num-seqs N]\n"
      "  [--max-num-batched-tokens N] [--block-size N] [--kv-cache-space-gib G] [--num-threads N]\n"
      "  [--gpu-memory-utilization F] [--enable-prefix-caching] [--enforce-eager]\n"
      "  [--bandwidth-buffer-gib G] [--skip-bandwidth] [--progress-s S] [--out FILE]\n"
      "  [--tokens-out FILE]         prefix workload: each request's greedy ids (caching on), \"id: t t ...\" lines\n"
      "  [--profile-only]            load only: the memory profile (weights, activations, overhead, CUDA graphs,\n"
      "                              KV cache) as JSON, measured at each stage of the load\n"
      "  [--constrained-fraction F]  synthetic: decode the batch again with F of it under fixed random\n"
      "                              token masks (structured output's sampler path), beside the plain run\n"
      "modes: synthetic batches (default); --dataset FILE (pairs of lengths, all at once);\n"
      "  --dataset random (fixed lengths, all at once, with the roofline ratio);\n"
      "  --prefix-workload (prompts sharing a prefix, prefix caching on then off)");
}

int32_t to_int(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const int n = std::stoi(v, &used);
    if (used == v.size()) return n;
  } catch (const std::exception&) {
  }
  throw Error(flag + " needs an integer, got \"" + v + "\"");
}

double to_double(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size()) return d;
  } catch (const std::exception&) {
  }
  throw Error(flag + " needs a number, got \"" + v + "\"");
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
    auto int_arg = [&] { return to_int(f, need(i)); };
    if (f == "--model") a.engine.model = need(i);
    else if (f == "--load-format") a.engine.load_format = need(i);
    else if (f == "--device") a.engine.device = need(i);
    else if (f == "--dtype") a.engine.dtype = need(i);
    else if (f == "--kv-cache-dtype") a.engine.kv_cache_dtype = need(i);
    else if (f == "--input-len") a.input_len = int_arg();
    else if (f == "--output-len") a.output_len = int_arg();
    else if (f == "--batch-size") a.batch_size = int_arg();
    else if (f == "--num-prompts") a.num_prompts = int_arg();
    else if (f == "--dataset") a.dataset = need(i);
    else if (f == "--random-input-len") a.random_input_len = int_arg();
    else if (f == "--random-output-len") a.random_output_len = int_arg();
    else if (f == "--prefix-workload") a.prefix_workload = true;
    else if (f == "--prefix-len") a.prefix_len = int_arg();
    else if (f == "--suffix-len") a.suffix_len = int_arg();
    else if (f == "--max-model-len") a.engine.max_model_len = int_arg();
    else if (f == "--max-num-seqs") a.engine.max_num_seqs = int_arg();
    else if (f == "--max-num-batched-tokens") a.engine.max_num_batched_tokens = int_arg();
    else if (f == "--block-size") a.engine.block_size = int_arg();
    else if (f == "--kv-cache-space-gib") a.engine.kv_cache_space_bytes = static_cast<int64_t>(to_double(f, need(i)) * (1 << 30));
    else if (f == "--num-threads") a.engine.num_threads = int_arg();
    else if (f == "--gpu-memory-utilization") a.engine.gpu_memory_utilization = to_double(f, need(i));
    else if (f == "--enable-prefix-caching") a.engine.enable_prefix_caching = true;
    else if (f == "--enforce-eager") a.engine.enforce_eager = true;
    else if (f == "--bandwidth-buffer-gib") a.bandwidth_gib = to_double(f, need(i));
    else if (f == "--skip-bandwidth") a.skip_bandwidth = true;
    else if (f == "--progress-s") a.progress_s = to_double(f, need(i));
    else if (f == "--constrained-fraction") a.constrained_fraction = to_double(f, need(i));
    else if (f == "--out") a.out = need(i);
    else if (f == "--tokens-out") a.tokens_out = need(i);
    else if (f == "--profile-only") a.profile_only = true;
    else if (f == "--help" || f == "-h") { usage(); std::exit(0); }
    else throw Error("unknown flag " + f + " (see --help)");
  }
  if (a.engine.model.empty()) throw Error("--model is required (a checkpoint folder, or a config.json with --load-format dummy)");
  if (a.input_len < 1 || a.output_len < 1 || a.batch_size < 1) throw Error("--input-len, --output-len and --batch-size must be at least 1");
  if (!(a.constrained_fraction >= 0.0 && a.constrained_fraction <= 1.0)) throw Error("--constrained-fraction must be in [0, 1]");
  if (a.constrained_fraction > 0.0 && !a.dataset.empty()) throw Error("--constrained-fraction is for synthetic batches; drop --dataset");
  if (a.prefix_workload && !a.dataset.empty()) throw Error("--prefix-workload makes its own prompts; drop --dataset");
  if (a.engine.max_num_seqs < a.batch_size) a.engine.max_num_seqs = a.batch_size;
  return a;
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

// One engine's life in the bench: what it was and what it measured, kept past its release
// (the bandwidth probe runs after the model's memory is freed).
struct EngineFacts {
  std::string device;
  MemoryProfile profile;
  EngineConfig config; // as validated by the engine
  int32_t kv_blocks = 0;
  DeviceMemoryUse memory;
  double load_s = 0.0;
  double flops_per_token = 0.0;     // GEMM FLOPs of one token through every layer (the last up to its attention)
  double flops_per_logit_row = 0.0; // the lm_head's and the last layer's o_proj and MLP, per row
};

// 2 x the parameters of the projections past the last attention (o, gate/up, down): a backend that keeps the logit
// rows there (Backend::keeps_logit_rows) runs them once a logit row, not once a token.
double flops_after_last_attention(const ModelConfig& c) {
  const double hidden = c.hidden_size, inter = c.intermediate_size;
  return 2.0 * (c.q_size() * hidden + 3.0 * hidden * inter);
}

// 2 x the parameters a token meets in the projections of every layer (q/k/v, o, gate/up, down).
double flops_per_token(const ModelConfig& c) {
  const double hidden = c.hidden_size;
  const double qkv = 2.0 * hidden * (c.q_size() + 2.0 * c.kv_size());
  return c.num_hidden_layers * (qkv + flops_after_last_attention(c));
}

std::unique_ptr<LLMEngine> load_engine(const EngineConfig& config, EngineFacts& facts, std::mt19937& rng) {
  auto t0 = Clock::now();
  std::unique_ptr<LLMEngine> e = LLMEngine::load(config);
  facts.load_s = seconds_since(t0);
  facts.device = e->backend().name();
  facts.profile = e->memory_profile();
  facts.config = e->config();
  facts.kv_blocks = e->stats().kv_blocks_total;
  const ModelConfig& model = e->backend().model_config();
  // A backend that runs the last layer's o_proj and MLP on the logit rows counts them a row, not a token.
  const double cut = e->backend().keeps_logit_rows() ? flops_after_last_attention(model) : 0.0;
  facts.flops_per_token = flops_per_token(model) - cut;
  facts.flops_per_logit_row = 2.0 * model.vocab_size * model.hidden_size + cut;
  // Warm-up: touch the weights and size the workspaces.
  e->add_request("warmup", random_tokens(rng, 16, e->model().vocab_size), fixed_length(4));
  run_to_end(*e, Clock::now());
  return e;
}

// Read just before the engine is released: the peak covers its whole run.
void note_memory(LLMEngine& e, EngineFacts& facts) { facts.memory = e.backend().device_memory_use(); }

json::Value memory_json(const EngineFacts& f) {
  json::Value j = json::Value::object();
  j.set("gpu_memory_utilization", num(f.config.gpu_memory_utilization));
  j.set("kv_blocks", num(f.kv_blocks));
  j.set("kv_cache_dtype", json::Value::string(f.config.kv_cache_dtype));
  j.set("kv_cache_bytes", num(static_cast<double>(f.kv_blocks) * f.profile.kv_bytes_per_block));
  j.set("weights_bytes", num(static_cast<double>(f.profile.weights_bytes)));
  j.set("profiled_activation_bytes", num(static_cast<double>(f.profile.peak_activation_bytes)));
  if (f.memory.total_bytes > 0) {
    const double allowed = f.config.gpu_memory_utilization * static_cast<double>(f.memory.total_bytes);
    j.set("total_bytes", num(static_cast<double>(f.memory.total_bytes)));
    j.set("allowed_bytes", num(allowed));
    j.set("peak_used_bytes", num(static_cast<double>(f.memory.peak_used_bytes)));
    j.set("peak_fraction_of_total", num(f.memory.peak_used_bytes / static_cast<double>(f.memory.total_bytes)));
    j.set("peak_over_allowed", num(f.memory.peak_used_bytes / allowed));
  } else {
    j.set("peak_used_bytes", json::Value()); // the backend does not report device memory
  }
  return j;
}

void print_memory(const EngineFacts& f) {
  const double gib = double(1 << 30);
  if (f.memory.total_bytes <= 0) {
    std::printf("memory peak  not reported by the %s backend (KV cache %.3f GiB in %d blocks)\n", f.device.c_str(),
                f.kv_blocks * static_cast<double>(f.profile.kv_bytes_per_block) / gib, f.kv_blocks);
    return;
  }
  const double total = static_cast<double>(f.memory.total_bytes);
  const double allowed = f.config.gpu_memory_utilization * total;
  std::printf("memory peak  %.3f GiB used of %.3f GiB = %.4f of total; gpu_memory_utilization %.2f allows %.3f GiB "
              "(peak / allowed %.4f; KV cache %d blocks = %.3f GiB)\n",
              f.memory.peak_used_bytes / gib, total / gib, f.memory.peak_used_bytes / total,
              f.config.gpu_memory_utilization, allowed / gib, f.memory.peak_used_bytes / allowed, f.kv_blocks,
              f.kv_blocks * static_cast<double>(f.profile.kv_bytes_per_block) / gib);
}

RooflineModel roofline_model(const EngineFacts& f, double bandwidth_gb_per_s, double peak_tflops) {
  RooflineModel m;
  m.weight_bytes = static_cast<double>(f.profile.weights_bytes);
  m.kv_bytes_per_token = static_cast<double>(f.profile.kv_bytes_per_block) / std::max(1, f.config.block_size);
  m.bandwidth_gb_per_s = bandwidth_gb_per_s;
  m.flops_per_token = f.flops_per_token;
  m.flops_per_logit_row = f.flops_per_logit_row;
  m.peak_tflops = peak_tflops;
  return m;
}

json::Value phases_json(const StepAccounting& acc, const RooflineModel& m) {
  json::Value j = json::Value::object();
  j.set("all_steps", phase_json(acc.all(), m));
  j.set("decode_steps", phase_json(acc.decode(), m));
  j.set("prefill_steps", phase_json(acc.prefill(), m));
  j.set("decode_by_batch", batch_buckets_json(acc, m));
  return j;
}

// "device idle between steps 0.31% (16 of 128 steps timed, 8 after a timed step), host overhead 0.4%" or, without
// device timing, the host's share.
std::string time_split(const PhaseTotals& p) {
  char buf[200];
  const double wall = std::max(p.wall_ms, 1e-9);
  if (p.device_gaps())
    std::snprintf(buf, sizeof buf,
                  "device idle between steps %.2f%% (%lld of %lld steps timed, %lld after a timed step), host overhead %.2f%%",
                  p.device_idle_pct(), static_cast<long long>(p.device_timed_steps), static_cast<long long>(p.steps),
                  static_cast<long long>(p.device_gap_steps), 100.0 * p.host_ms / wall);
  else
    std::snprintf(buf, sizeof buf, "host overhead %.2f%% (forward %.2f%%; no device timing on this backend)",
                  100.0 * p.host_ms / wall, 100.0 * p.forward_ms / wall);
  return buf;
}

void print_phases(const StepAccounting& acc, const RooflineModel& m) {
  for (const auto& [name, p] : {std::pair<const char*, const PhaseTotals*>{"all steps", &acc.all()},
                                {"decode-only", &acc.decode()},
                                {"with prompt", &acc.prefill()}}) {
    if (p->steps == 0) continue;
    std::printf("%-12s %lld steps, %.3f ms/step: %s\n", name, static_cast<long long>(p->steps), p->wall_ms / p->steps,
                time_split(*p).c_str());
    if (m.bandwidth_gb_per_s > 0.0) {
      const double roof_s = m.seconds(*p), wall_s = p->wall_ms / 1e3;
      std::printf("  roofline   (%.3f GB weights + %.3f GB KV read per step) / %.1f GB/s = %.1f output tok/s; "
                  "achieved %.1f = %.1f%% of the roofline\n",
                  m.weight_bytes / 1e9, m.kv_bytes_per_token * p->context_tokens / p->steps / 1e9,
                  m.bandwidth_gb_per_s, roof_s > 0 ? p->output_tokens / roof_s : 0.0, p->output_tokens / wall_s,
                  100.0 * roof_s / wall_s);
    }
    if (const double step_roof_s = m.step_roofline_seconds(*p); step_roof_s > 0.0) {
      const double wall_s = p->wall_ms / 1e3;
      std::printf("  per step   each step's bytes at %.1f GB/s or GEMM FLOPs at %.1f TFLOP/s, whichever is longer: "
                  "%.3f s; achieved %.3f s = %.1f%% of it\n",
                  m.bandwidth_gb_per_s, m.peak_tflops, step_roof_s, wall_s, 100.0 * step_roof_s / wall_s);
      const double serial_s = m.serial_roofline_seconds(*p);
      std::printf("  serial     the same with each step's KV read after its GEMMs instead of under them: %.3f s = "
                  "%.1f%% of it\n", serial_s, 100.0 * serial_s / wall_s);
    }
  }
  if (acc.decode_by_batch().size() < 2) return;
  std::printf("  by batch   decode-only steps, batch <= N: steps, wall ms/step, device ms/step, per-step roofline "
              "ms/step (%% of it)\n");
  for (const auto& [bucket, p] : acc.decode_by_batch()) {
    std::printf("    <= %-5d %6lld  %8.3f  ", bucket, static_cast<long long>(p.steps), p.wall_ms / p.steps);
    if (p.device_timed()) std::printf("%8.3f", p.device_ms_per_step());
    else std::printf("     n/a");
    if (const double roof_s = m.step_roofline_seconds(p); roof_s > 0.0)
      std::printf("  %8.3f (%.1f%%)", 1e3 * roof_s / p.steps, 1e5 * roof_s / p.wall_ms);
    std::printf("\n");
  }
}

struct DecodeRun {
  double seconds = 0.0;
  int64_t tokens = 0, steps = 0, masks = 0;
  void add(const DecodeRun& o) {
    seconds += o.seconds;
    tokens += o.tokens;
    steps += o.steps;
    masks += o.masks;
  }
};

// One decode round: batch_size fixed-length requests, the first `constrained` of them under
// TokenMaskFeeder's masks; timed from the step where every sequence holds its first token.
DecodeRun decode_round(LLMEngine& e, const Args& a, int32_t r, int32_t constrained, std::mt19937& rng,
                       StepAccounting& acc) {
  const int32_t vocab = e.model().vocab_size;
  TokenMaskFeeder feeder(vocab, 17);
  DecodeRun run;
  {
    for (int32_t b = 0; b < a.batch_size; ++b) {
      const std::string id = (constrained ? "c" : "d") + std::to_string(r) + "-" + std::to_string(b);
      const SamplingParams p = fixed_length(a.output_len);
      e.add_request(id, random_tokens(rng, a.input_len, vocab), b < constrained ? TokenMaskFeeder::constrained(p) : p);
      if (b < constrained) feeder.started(e, id);
    }
    // Prefill (not timed here) until every sequence holds its first token.
    std::map<std::string, bool> started;
    while (static_cast<int32_t>(started.size()) < a.batch_size) {
      StepOutput out = e.step();
      feeder.after_step(e, out);
      for (const auto& d : out.deltas) if (!d.token_ids.empty()) started[d.request_id] = true;
    }
    auto start = Clock::now();
    RunLog t = run_to_end(e, start, a.progress_s, [&](const StepOutput& out) { feeder.after_step(e, out); });
    run.seconds += seconds_since(start);
    run.tokens += t.output_tokens;
    run.steps += t.steps;
    acc.merge(t.accounting);
  }
  run.masks = feeder.masks_sent();
  return run;
}

// Synthetic: batches of identical-length random prompts. Prefill is timed with max_tokens 1;
// decode from the step where every sequence has its first token to the last step.
json::Value bench_synthetic(LLMEngine& e, const Args& a, std::mt19937& rng, StepAccounting& decode_acc) {
  const int32_t vocab = e.model().vocab_size;
  const int32_t rounds = std::max(1, a.num_prompts > 0 ? (a.num_prompts + a.batch_size - 1) / a.batch_size : 1);
  double prefill_s = 0.0, decode_s = 0.0;
  int64_t prefill_tokens = 0, decode_tokens = 0, decode_steps = 0;
  for (int32_t r = 0; r < rounds; ++r) {
    auto start = Clock::now();
    for (int32_t b = 0; b < a.batch_size; ++b) {
      e.add_request("p" + std::to_string(r) + "-" + std::to_string(b), random_tokens(rng, a.input_len, vocab), fixed_length(1));
    }
    run_to_end(e, start);
    prefill_s += seconds_since(start);
    prefill_tokens += int64_t{a.batch_size} * a.input_len;
  }
  // With --constrained-fraction, each round runs plain then mixed, so drift in the machine's load
  // falls on both alike.
  const int32_t constrained =
      a.constrained_fraction > 0.0 ? std::max(1, static_cast<int32_t>(a.constrained_fraction * a.batch_size + 0.5)) : 0;
  DecodeRun plain, mixed;
  StepAccounting mixed_acc;
  for (int32_t r = 0; r < rounds; ++r) {
    plain.add(decode_round(e, a, r, 0, rng, decode_acc));
    if (constrained > 0) mixed.add(decode_round(e, a, r, constrained, rng, mixed_acc));
  }
  decode_s = plain.seconds;
  decode_tokens = plain.tokens;
  decode_steps = plain.steps;
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
  if (constrained > 0) {
    const double plain_rate = decode_s > 0 ? decode_tokens / decode_s : 0.0;
    const double mixed_rate = mixed.seconds > 0 ? mixed.tokens / mixed.seconds : 0.0;
    json::Value c = json::Value::object();
    c.set("constrained_per_batch", num(constrained));
    c.set("decode_tokens_per_s", num(mixed_rate));
    c.set("tpot_ms", num(mixed.steps > 0 ? 1e3 * mixed.seconds / mixed.steps : 0.0));
    c.set("masks_sent", num(static_cast<double>(mixed.masks)));
    // Every sequence of a batch advances one token a step, so both kinds keep this share of the
    // plain batch's per-sequence rate.
    c.set("ratio_to_unconstrained_batch", num(plain_rate > 0 ? mixed_rate / plain_rate : 0.0));
    out.set("constrained", c);
  }
  return out;
}

void print_workload(const char* label, const json::Value& f) {
  std::printf("%-12s %.2f requests/s, %.1f output tokens/s, %.1f total tokens/s (%g requests, %.2f s)\n", label,
              f.at("request_throughput_per_s").as_number(), f.at("output_tokens_per_s").as_number(),
              f.at("total_tokens_per_s").as_number(), f.at("num_requests").as_number(), f.at("elapsed_s").as_number());
  std::printf("  steps      %g engine steps, %.2f ms per step, %.1f%% launched ahead of the one before; %g preemptions; "
              "prefix cache hit rate %.1f%%\n",
              f.at("steps").as_number(), f.at("ms_per_step").as_number(),
              100.0 * f.at("steps_launched_ahead_share").as_number(), f.at("preemptions").as_number(),
              100.0 * f.at("prefix_cache_hit_rate").as_number());
  std::printf("  latency    TTFT mean %.1f ms, median %.1f ms, p99 %.1f ms; E2E mean %.1f ms, p99 %.1f ms\n",
              f.at("ttft_ms_mean").as_number(), f.at("ttft_ms_median").as_number(), f.at("ttft_ms_p99").as_number(),
              f.at("e2e_ms_mean").as_number(), f.at("e2e_ms_p99").as_number());
}

// Device-to-device copy on the GPU, the host's read bandwidth otherwise (1 GB = 1e9 bytes).
BandwidthResult measure_bandwidth(const Args& a, const std::string& device) {
  BandwidthResult bw = measure_memory_bandwidth(static_cast<size_t>(a.bandwidth_gib * (1 << 30)),
                                                static_cast<int>(std::thread::hardware_concurrency()));
#ifdef PAGODA_BENCH_CUDA
  // On the GPU the floor is the device's own copy bandwidth (read + write), not the host's.
  if (device == "cuda") {
    bw.read_gb_per_s = bw.copy_gb_per_s = cuda_copy_bandwidth_gb_per_s(size_t(1) << 30);
    bw.threads = 0;
    bw.buffer_bytes = size_t(1) << 30;
  }
#else
  (void)device;
#endif
  return bw;
}

// The bf16 GEMM rate on the GPU (4096 x 4096 x 14336, Llama-3-8B's down_proj at a large
// prefill), the ceiling of compute-bound steps; 0 elsewhere (no per-step roofline on the CPU).
double measure_gemm_tflops(const std::string& device) {
#ifdef PAGODA_BENCH_CUDA
  if (device == "cuda") {
    const double tflops = cuda_gemm_tflops(4096, 4096, 14336);
    std::printf("gemm         %.1f TFLOP/s bf16 through cuBLASLt (4096 x 4096 x 14336)\n", tflops);
    return tflops;
  }
#else
  (void)device;
#endif
  return 0.0;
}

void print_bandwidth(const BandwidthResult& bw, const std::string& device) {
  if (device == "cuda")
    std::printf("bandwidth    %.2f GB/s device-to-device copy (read + write, 1 GiB)\n", bw.copy_gb_per_s);
  else
    std::printf("bandwidth    %.2f GB/s read, %.2f GB/s copy (host, %d threads, %.2f GiB buffer)\n", bw.read_gb_per_s,
                bw.copy_gb_per_s, bw.threads, bw.buffer_bytes / double(1 << 30));
}

void print_engine(const Args& a, const EngineFacts& f, const std::string& architecture, const std::string& dtype) {
  std::printf("model        %s (%s, %s, %.3f GB of weights), loaded in %.2f s\n", a.engine.model.c_str(),
              architecture.c_str(), dtype.c_str(), f.profile.weights_bytes / 1e9, f.load_s);
  std::printf("engine       device %s, max_model_len %d, %d KV blocks of %d, max_num_batched_tokens %d, prefix caching %s\n",
              f.device.c_str(), f.config.max_model_len, f.kv_blocks, f.config.block_size,
              f.config.max_num_batched_tokens, f.config.enable_prefix_caching ? "on" : "off");
}

// A workload run between profiler marks on the GPU, so a kernel timeline of the whole bench can be cut to the run.
WorkloadRun measured_run(LLMEngine& e, const std::vector<BenchRequest>& requests, double progress_s) {
#ifdef PAGODA_BENCH_CUDA
  const bool cuda = e.backend().name() == "cuda";
  if (cuda) cuda_profiler_mark(true);
  WorkloadRun w = run_workload(e, requests, progress_s);
  if (cuda) cuda_profiler_mark(false);
  return w;
#else
  return run_workload(e, requests, progress_s);
#endif
}

// The figures of one mode plus what the bandwidth-dependent lines need afterwards.
struct ModeResult {
  json::Value figures;
  std::vector<std::pair<std::string, StepAccounting>> accountings; // named, for the roofline lines
  std::vector<EngineFacts> engines;                                // one per engine loaded
  std::string architecture, dtype;
};

ModeResult run_mode(const Args& a, std::mt19937& rng) {
  ModeResult r;
  auto load = [&](const EngineConfig& config) {
    r.engines.emplace_back();
    std::unique_ptr<LLMEngine> e = load_engine(config, r.engines.back(), rng);
    r.architecture = e->model().architecture;
    r.dtype = e->model().dtype;
    print_engine(a, r.engines.back(), r.architecture, r.dtype);
    return e;
  };
  if (a.prefix_workload) {
    // One request set, run with prefix caching on and then off, each on a fresh engine.
    EngineConfig config = a.engine;
    config.enable_prefix_caching = true;
    std::unique_ptr<LLMEngine> e = load(config);
    const int32_t n = a.num_prompts > 0 ? a.num_prompts : 200;
    const std::vector<BenchRequest> requests =
        shared_prefix_requests(n, a.prefix_len, a.suffix_len, a.output_len, e->model().vocab_size, rng);
    json::Value figures = json::Value::object();
    figures.set("mode", json::Value::string("prefix"));
    figures.set("prefix_len", num(a.prefix_len));
    figures.set("suffix_len", num(a.suffix_len));
    figures.set("output_len", num(a.output_len));
    figures.set("num_prompts", num(n));
    double tokens_per_s[2] = {0, 0};
    for (int pass = 0; pass < 2; ++pass) {
      const bool caching = pass == 0;
      if (!caching) {
        note_memory(*e, r.engines.back());
        e.reset();
        config.enable_prefix_caching = false;
        e = load(config);
      }
      WorkloadRun w = measured_run(*e, requests, a.progress_s);
      json::Value f = workload_json(w);
      print_workload(caching ? "caching on" : "caching off", f);
#ifdef PAGODA_BENCH_CUDA
      // Decode steps that ran cascade attention (PAGODA_CASCADE_ATTENTION=1) so far on this engine.
      std::printf("             %s: %zu cascade-attention steps\n", caching ? "caching on" : "caching off",
                  cuda_cascade_steps(e->backend()));
#endif
      if (caching && !a.tokens_out.empty()) {
        std::ofstream t(a.tokens_out);
        if (!t) throw Error("cannot write " + a.tokens_out);
        for (const auto& [id, ids] : w.log.tokens) {
          t << id << ":";
          for (int32_t x : ids) t << " " << x;
          t << "\n";
        }
      }
      tokens_per_s[pass] = f.at("output_tokens_per_s").as_number();
      figures.set(caching ? "caching_on" : "caching_off", f);
      r.accountings.emplace_back(caching ? "caching_on" : "caching_off", w.log.accounting);
    }
    note_memory(*e, r.engines.back());
    figures.set("speedup_output_tokens_per_s", num(tokens_per_s[1] > 0 ? tokens_per_s[0] / tokens_per_s[1] : 0.0));
    std::printf("prefix       caching on %.1f vs off %.1f output tokens/s = %.2fx (%d prompts: %d shared + %d own tokens, %d out)\n",
                tokens_per_s[0], tokens_per_s[1], tokens_per_s[1] > 0 ? tokens_per_s[0] / tokens_per_s[1] : 0.0, n,
                a.prefix_len, a.suffix_len, a.output_len);
    r.figures = figures;
    return r;
  }
  std::unique_ptr<LLMEngine> e = load(a.engine);
  if (a.dataset.empty()) {
    StepAccounting decode;
    r.figures = bench_synthetic(*e, a, rng, decode);
    r.accountings.emplace_back("decode", decode);
    std::printf("prefill      %.1f tokens/s  (%d prompts of %d tokens per batch)\n",
                r.figures.at("prefill_tokens_per_s").as_number(), a.batch_size, a.input_len);
    std::printf("decode       %.2f tokens/s at batch %d, %.2f ms per step\n",
                r.figures.at("decode_tokens_per_s").as_number(), a.batch_size, r.figures.at("tpot_ms").as_number());
    if (r.figures.contains("constrained")) {
      const json::Value& c = r.figures.at("constrained");
      std::printf("constrained  %.2f tokens/s at batch %d with %g of it under token masks, %.2f ms per step: "
                  "%.3f of the unconstrained batch\n",
                  c.at("decode_tokens_per_s").as_number(), a.batch_size, c.at("constrained_per_batch").as_number(),
                  c.at("tpot_ms").as_number(), c.at("ratio_to_unconstrained_batch").as_number());
    }
  } else {
    std::vector<BenchRequest> requests;
    int64_t skipped = 0;
    const bool random = a.dataset == "random";
    if (random) {
      requests = random_requests(a.num_prompts > 0 ? a.num_prompts : 1000, a.random_input_len, a.random_output_len,
                                 e->model().vocab_size, rng);
    } else {
      requests = dataset_requests(a.dataset, a.num_prompts, e->config().max_model_len, e->model().vocab_size, rng,
                                  &skipped);
    }
#ifdef PAGODA_BENCH_CUDA
    const CudaGemmPlans plans_before = cuda_gemm_plans(e->backend());
#endif
    WorkloadRun w = measured_run(*e, requests, a.progress_s);
    json::Value f = workload_json(w);
#ifdef PAGODA_BENCH_CUDA
    // cuBLASLt plans the run made (a new GEMM shape each: mostly the m of a step carrying prompt tokens) and the host
    // time their heuristic searches took, on the engine's thread while the GPU may be waiting for its next launch.
    if (e->backend().name() == "cuda") {
      const CudaGemmPlans plans = cuda_gemm_plans(e->backend());
      const double host_ms = 1e3 * (plans.host_seconds - plans_before.host_seconds);
      f.set("gemm_plans_made", num(static_cast<double>(plans.made - plans_before.made)));
      f.set("gemm_plan_host_ms", num(host_ms));
      std::printf("gemm plans   %lld made in the run, %.1f ms of host time\n",
                  static_cast<long long>(plans.made - plans_before.made), host_ms);
    }
#endif
    f.set("mode", json::Value::string(random ? "random" : "dataset"));
    f.set("dataset", json::Value::string(a.dataset));
    if (random) {
      f.set("random_input_len", num(a.random_input_len));
      f.set("random_output_len", num(a.random_output_len));
    }
    f.set("skipped_longer_than_max_model_len", num(static_cast<double>(skipped)));
    print_workload("throughput", f);
    r.figures = f;
    r.accountings.emplace_back("run", w.log.accounting);
  }
  note_memory(*e, r.engines.back());
  return r;
}

// What every result records of its run after the device and date: the commit the binary was built from
// (PAGODA_GIT_COMMIT overrides it: the device scripts pass their bundle's COMMIT), the command line, the model and its
// load format.
void set_provenance(json::Value& r, const Args& a) {
  const char* env_commit = std::getenv("PAGODA_GIT_COMMIT");
  const std::string commit = env_commit && *env_commit ? env_commit : PAGODA_BUILD_COMMIT;
  r.set("git_commit", json::Value::string(commit.empty() ? "unknown" : commit));
  r.set("command", json::Value::string(a.command));
  r.set("model", json::Value::string(a.engine.model));
  r.set("load_format", json::Value::string(a.engine.load_format));
}

json::Value envelope(const Args& a, const ModeResult& m, const BandwidthResult& bw, const std::string& device) {
  const EngineFacts& f = m.engines.front();
  json::Value r = json::Value::object();
  r.set("tool", json::Value::string("pagoda-bench"));
  std::string device_text = device == "cpu" ? cpu_description() : device;
#ifdef PAGODA_BENCH_CUDA
  if (device == "cuda") device_text = cuda_device_description();
#endif
  r.set("device", json::Value::string(device_text));
  r.set("backend", json::Value::string(device));
  r.set("date", json::Value::string(utc_now()));
  set_provenance(r, a);
  r.set("weights_bytes", num(static_cast<double>(f.profile.weights_bytes)));
  const int threads = a.engine.num_threads > 0 ? a.engine.num_threads : static_cast<int>(std::thread::hardware_concurrency());
  r.set("engine_threads", num(threads));
  r.set("load_s", num(f.load_s));
  if (!a.skip_bandwidth) {
    r.set("memory_read_gb_per_s", num(bw.read_gb_per_s));
    r.set("memory_copy_gb_per_s", num(bw.copy_gb_per_s));
  }
  r.set("figures", m.figures);
  return r;
}

// --profile-only: one load and its memory, component by component; a load the engine refuses
// (too little memory for the KV cache, say) is a result too: its message, "loaded": false.
int run_profile_only(const Args& a) {
  json::Value r = json::Value::object();
  r.set("tool", json::Value::string("pagoda-bench --profile-only"));
  std::string device_text = a.engine.device;
#ifdef PAGODA_BENCH_CUDA
  try {
    device_text = cuda_device_description();
  } catch (const Error&) {
    // no GPU here: the load says why (or runs on the CPU, which keeps no stage log)
  }
#endif
  r.set("device", json::Value::string(device_text));
  r.set("date", json::Value::string(utc_now()));
  set_provenance(r, a);
  const auto t0 = Clock::now();
  std::unique_ptr<LLMEngine> e;
  try {
    e = LLMEngine::load(a.engine);
  } catch (const Error& err) {
    r.set("loaded", json::Value::boolean(false));
    r.set("settings", memory_settings_json(a.engine));
    r.set("error", json::Value::string(err.what()));
    r.set("load_s", num(seconds_since(t0)));
  }
  if (e) {
    const double load_s = seconds_since(t0);
    r.set("loaded", json::Value::boolean(true));
    r.set("settings", memory_settings_json(e->config()));
    json::Value m = memory_profile_json(*e, load_s);
    // One short request: what its first step adds (sampling buffers, kernels loaded on first use).
    std::mt19937 rng(1234);
    e->add_request("warmup", random_tokens(rng, 16, e->model().vocab_size), fixed_length(4));
    run_to_end(*e, Clock::now());
    const DeviceMemoryReport after = e->backend().device_memory_report();
    if (!after.stages.empty()) m.set("used_after_first_request_bytes", num(static_cast<double>(after.stages.back().used_bytes)));
    r.set("memory", m);
  }
  const std::string text = json::dump(r);
  std::printf("%s\n", text.c_str());
  if (!a.out.empty()) {
    std::ofstream f(a.out);
    if (!f) throw Error("cannot write " + a.out);
    f << text << "\n";
  }
  return 0;
}

int run(int argc, char** argv) {
  Args a = parse_args(argc, argv);
  if (a.profile_only) return run_profile_only(a);
  std::mt19937 rng(1234);
  ModeResult m = run_mode(a, rng);
  const EngineFacts& facts = m.engines.front();
  const std::string device = facts.device;

  BandwidthResult bw;
  double peak_tflops = 0.0;
  if (!a.skip_bandwidth) { // every engine is freed by now: the probe gets the memory
    bw = measure_bandwidth(a, device);
    print_bandwidth(bw, device);
    peak_tflops = measure_gemm_tflops(device);
  }
  const RooflineModel roofline = roofline_model(facts, bw.read_gb_per_s, peak_tflops);

  if (a.dataset.empty() && !a.prefix_workload && !a.skip_bandwidth) {
    const double steps = m.figures.at("decode_steps_per_s").as_number();
    const double bound_steps = bw.read_gb_per_s * 1e9 / facts.profile.weights_bytes;
    std::printf("bound        %.2f decode steps/s = %.2f GB/s / %.3f GB of weights; achieved %.2f steps/s = %.0f%% of the bound\n",
                bound_steps, bw.read_gb_per_s, facts.profile.weights_bytes / 1e9, steps, 100.0 * steps / bound_steps);
    std::printf("floor        %.3f ms per step (weights / bandwidth); achieved %.3f ms = %.3fx the floor\n",
                1e3 / bound_steps, 1e3 / steps, bound_steps / steps);
    m.figures.set("decode_bound_steps_per_s", num(bound_steps));
    m.figures.set("decode_fraction_of_bound", num(steps / bound_steps));
  }
  json::Value steps = json::Value::object();
  for (const auto& [name, acc] : m.accountings) {
    if (m.accountings.size() > 1) std::printf("-- %s\n", name.c_str());
    print_phases(acc, roofline);
    steps.set(name, phases_json(acc, roofline));
  }
  m.figures.set("step_time", steps);
  if (!a.skip_bandwidth && roofline.bandwidth_gb_per_s > 0.0) {
    json::Value rj = json::Value::object();
    rj.set("bandwidth_gb_per_s", num(roofline.bandwidth_gb_per_s));
    rj.set("weight_bytes", num(roofline.weight_bytes));
    rj.set("kv_bytes_per_token", num(roofline.kv_bytes_per_token));
    rj.set("gemm_tflops", roofline.peak_tflops > 0.0 ? num(roofline.peak_tflops) : json::Value());
    rj.set("gemm_flops_per_token", num(roofline.flops_per_token));
    rj.set("gemm_flops_per_logit_row", num(roofline.flops_per_logit_row));
    m.figures.set("roofline_model", rj);
  }
  json::Value memory = json::Value::array();
  for (const EngineFacts& f : m.engines) {
    print_memory(f);
    memory.push_back(memory_json(f));
  }
  m.figures.set("device_memory", memory);

  if (!a.out.empty()) {
    std::ofstream f(a.out);
    if (!f) throw Error("cannot write " + a.out);
    f << json::dump(envelope(a, m, bw, device)) << "\n";
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
