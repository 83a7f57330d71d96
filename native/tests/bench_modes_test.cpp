// pagoda-bench's modes on stories260k (CPU, tiny sizes): each writes a JSON record whose
// fields the GPU figures of issue 4 are read from, with counts that follow from the request
// set (tokens, steps, KV tokens read), plus the step accounting's arithmetic on known inputs.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/step_accounting.h"
#include "bench/workloads.h"
#include "build_commit.h" // PAGODA_BUILD_COMMIT, the commit pagoda-bench was built from too
#include "check.h"
#include "json.h"

using namespace pagoda;

namespace {

const char* kModel = "../shared/models/stories260k";
// stories260k: 5 layers, 4 KV heads of 8, float32 KV cache.
constexpr double kKvBytesPerToken = 2.0 * 5 * 4 * 8 * 4;

std::string bench_path() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "pagoda-bench";
  std::string dir(self, static_cast<size_t>(n));
  return dir.substr(0, dir.rfind('/')) + "/pagoda-bench";
}

std::string temp_dir() {
  char tmpl[] = "/tmp/pagoda-bench-test-XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "/tmp";
}

// Runs pagoda-bench with `flags` on stories260k (under `env`, "VAR=V ..." or empty); returns its exit status,
// output in *output.
int run_bench(const std::string& flags, std::string* output, const std::string& env = "") {
  const std::string cmd = (env.empty() ? "" : "env " + env + " ") + bench_path() + " --model " + kModel +
                          " --device cpu --num-threads 2 " + flags + " 2>&1";
  output->clear();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) *output += buf;
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

json::Value run_json(const std::string& flags, const std::string& out, const std::string& env = "") {
  std::string output;
  const int rc = run_bench(flags + " --out " + out, &output, env);
  CHECK_EQ(rc, 0);
  if (rc != 0) {
    std::fprintf(stderr, "pagoda-bench %s failed:\n%s\n", flags.c_str(), output.c_str());
    return json::Value::object();
  }
  return json::parse_file(out);
}

bool finite_positive(const json::Value& v) { return v.is_number() && std::isfinite(v.as_number()) && v.as_number() > 0; }
bool is_pct(const json::Value& v) { return v.is_number() && v.as_number() >= 0.0 && v.as_number() <= 100.0; }

void check_envelope(const json::Value& r, const std::string& mode_flag) {
  CHECK(r.at("tool").as_string() == "pagoda-bench");
  CHECK(r.at("backend").as_string() == "cpu");
  CHECK(!r.at("device").as_string().empty());
  CHECK(r.at("date").as_string().size() == 20); // 2026-11-25T14:04:39Z
  // The commit the binary was built from, not the one of whatever tree it runs beside (PAGODA_GIT_COMMIT unset).
  const char* env_commit = std::getenv("PAGODA_GIT_COMMIT");
  const std::string built = *PAGODA_BUILD_COMMIT ? PAGODA_BUILD_COMMIT : "unknown";
  CHECK(r.at("git_commit").as_string() == (env_commit && *env_commit ? std::string(env_commit) : built));
  CHECK(r.at("command").as_string().find(mode_flag) != std::string::npos);
}

// The per-phase block every mode writes under figures.step_time.<name>.
void check_phase(const json::Value& p, bool with_roofline) {
  CHECK(finite_positive(p.at("steps")));
  CHECK(finite_positive(p.at("wall_s")));
  CHECK(finite_positive(p.at("output_tokens_per_s")));
  CHECK(is_pct(p.at("host_overhead_pct")));
  CHECK(is_pct(p.at("forward_pct")));
  CHECK(p.at("host_overhead_pct").as_number() + p.at("forward_pct").as_number() <= 100.0 + 1e-6);
  CHECK(p.at("device_idle_pct").is_null()); // the CPU backend cannot time a device
  CHECK(p.at("device_timed_steps").as_number() == 0);
  CHECK(p.at("step_roofline_s").is_null()); // no GEMM rate on the CPU
  if (with_roofline) {
    CHECK(finite_positive(p.at("roofline_s")));
    CHECK(finite_positive(p.at("fraction_of_roofline")));
    const double implied = p.at("output_tokens").as_number() / p.at("roofline_s").as_number();
    CHECK(std::fabs(p.at("roofline_output_tokens_per_s").as_number() - implied) <= 1e-6 * implied);
  }
}

void test_random(const std::string& dir) {
  // 4 prompts of 32 tokens, 8 out: one prefill step (4 x 32 context tokens, 4 first tokens),
  // then 7 decode steps at contexts 33..39 for each of the 4.
  json::Value r = run_json("--dataset random --random-input-len 32 --random-output-len 8 --num-prompts 4 "
                           "--bandwidth-buffer-gib 0.0625",
                           dir + "/random.json");
  if (!r.find("figures")) return;
  check_envelope(r, "--dataset random");
  const json::Value& f = r.at("figures");
  CHECK(f.at("mode").as_string() == "random");
  CHECK(f.at("num_requests").as_number() == 4);
  CHECK(f.at("output_tokens").as_number() == 32);
  CHECK(f.at("prompt_tokens").as_number() == 128);
  CHECK(finite_positive(f.at("output_tokens_per_s")));
  CHECK(finite_positive(f.at("request_throughput_per_s")));
  const json::Value& model = f.at("roofline_model");
  CHECK(finite_positive(model.at("bandwidth_gb_per_s")));
  CHECK(model.at("kv_bytes_per_token").as_number() == kKvBytesPerToken);
  CHECK(model.at("weight_bytes").as_number() == r.at("weights_bytes").as_number());
  CHECK(model.at("gemm_tflops").is_null()); // measured on the GPU only
  CHECK(finite_positive(model.at("gemm_flops_per_token")));
  CHECK(finite_positive(model.at("gemm_flops_per_logit_row")));
  const json::Value& all = f.at("step_time").at("run").at("all_steps");
  const json::Value& decode = f.at("step_time").at("run").at("decode_steps");
  check_phase(all, true);
  check_phase(decode, true);
  CHECK_EQ(all.at("steps").as_number(), 8);
  CHECK_EQ(decode.at("steps").as_number(), 7);
  const json::Value& with_prompt = f.at("step_time").at("run").at("prefill_steps");
  check_phase(with_prompt, true);
  CHECK_EQ(with_prompt.at("steps").as_number(), 1); // the 4 prompts' step
  CHECK(with_prompt.at("serial_roofline_s").is_null()); // no GEMM rate on the CPU
  CHECK_EQ(decode.at("output_tokens").as_number(), 28);
  const double decode_context = 4.0 * (7 * 32 + 28); // sum over steps and sequences of 32 + j
  CHECK(std::fabs(decode.at("kv_bytes_read_per_step").as_number() - kKvBytesPerToken * decode_context / 7) < 1e-6);
  CHECK(std::fabs(all.at("kv_bytes_read_per_step").as_number() - kKvBytesPerToken * (decode_context + 128) / 8) < 1e-6);
  const auto& buckets = f.at("step_time").at("run").at("decode_by_batch").as_array();
  CHECK_EQ(buckets.size(), size_t(1)); // every decode step ran the 4 sequences
  if (buckets.size() == 1) {
    CHECK_EQ(buckets[0].at("batch_max").as_number(), 4);
    CHECK_EQ(buckets[0].at("steps").as_number(), 7);
    CHECK(finite_positive(buckets[0].at("ms_per_step")));
    CHECK(buckets[0].at("device_ms_per_step").is_null());
  }
  const json::Value& mem = f.at("device_memory").as_array().at(0);
  CHECK(mem.at("peak_used_bytes").is_null());
  CHECK(finite_positive(mem.at("kv_blocks")));
}

void test_prefix(const std::string& dir) {
  // Steps of 256 tokens: the first prompts' prefix blocks are cached before the later ones run.
  json::Value r = run_json("--prefix-workload --prefix-len 96 --suffix-len 32 --output-len 4 --num-prompts 24 "
                           "--max-num-batched-tokens 256 --skip-bandwidth",
                           dir + "/prefix.json");
  if (!r.find("figures")) return;
  check_envelope(r, "--prefix-workload");
  const json::Value& f = r.at("figures");
  CHECK(f.at("mode").as_string() == "prefix");
  CHECK_EQ(f.at("prefix_len").as_number(), 96);
  CHECK_EQ(f.at("suffix_len").as_number(), 32);
  for (const char* pass : {"caching_on", "caching_off"}) {
    const json::Value& p = f.at(pass);
    CHECK_EQ(p.at("num_requests").as_number(), 24);
    CHECK_EQ(p.at("output_tokens").as_number(), 96);
    CHECK_EQ(p.at("prompt_tokens").as_number(), 24 * 128);
    CHECK(finite_positive(p.at("output_tokens_per_s")));
    check_phase(f.at("step_time").at(pass).at("all_steps"), false);
  }
  CHECK(f.at("caching_on").at("prefix_cache_hit_rate").as_number() > 0.3);
  CHECK(f.at("caching_off").at("prefix_cache_hit_rate").as_number() == 0.0);
  CHECK(finite_positive(f.at("speedup_output_tokens_per_s")));
  CHECK_EQ(f.at("device_memory").as_array().size(), size_t(2)); // one engine per pass
}

void test_synthetic_and_memory_setting(const std::string& dir) {
  json::Value r = run_json("--batch-size 2 --input-len 16 --output-len 6 --gpu-memory-utilization 0.5 "
                           "--bandwidth-buffer-gib 0.0625",
                           dir + "/synthetic.json");
  if (!r.find("figures")) return;
  check_envelope(r, "--gpu-memory-utilization 0.5");
  const json::Value& f = r.at("figures");
  CHECK(f.at("mode").as_string() == "synthetic");
  CHECK(finite_positive(f.at("tpot_ms")));
  CHECK(finite_positive(f.at("decode_fraction_of_bound")));
  const json::Value& decode = f.at("step_time").at("decode").at("decode_steps");
  check_phase(decode, true);
  CHECK_EQ(decode.at("steps").as_number(), 5); // 6 tokens, the first from the untimed prefill
  CHECK_EQ(f.at("device_memory").as_array().at(0).at("gpu_memory_utilization").as_number(), 0.5);
}

// PAGODA_GIT_COMMIT names the commit instead (the device scripts pass their bundle's COMMIT).
void test_commit_override(const std::string& dir) {
  json::Value r = run_json("--batch-size 1 --input-len 8 --output-len 2 --skip-bandwidth", dir + "/commit.json",
                           "PAGODA_GIT_COMMIT=abc1234-test");
  CHECK(r.find("git_commit") != nullptr);
  if (r.find("git_commit") != nullptr) CHECK(r.at("git_commit").as_string() == "abc1234-test");
}

void test_bad_flags() {
  std::string output;
  CHECK(run_bench("--dataset random --random-input-len 0 --skip-bandwidth", &output) != 0);
  CHECK(output.find("--random-input-len") != std::string::npos);
  CHECK(run_bench("--num-prompts many", &output) != 0);
  CHECK(output.find("--num-prompts needs an integer") != std::string::npos);
}

// --profile-only: a load the engine refuses is a result (its message, exit 0); a load that works on
// the CPU is refused by the mode, which reads the CUDA backend's stage log.
void test_profile_only(const std::string& dir) {
  const std::string out = dir + "/profile.json";
  std::string output;
  CHECK_EQ(run_bench("--profile-only --max-model-len 100000 --out " + out, &output), 0);
  const json::Value refused = json::parse_file(out);
  CHECK(!refused.at("loaded").as_bool());
  CHECK(refused.at("error").as_string().find("max_position_embeddings") != std::string::npos);
  CHECK_EQ(refused.at("settings").at("max_model_len").as_number(), 100000.0);
  CHECK(run_bench("--profile-only", &output) != 0);
  CHECK(output.find("--profile-only needs device cuda") != std::string::npos);
}

// The accounting itself, on made-up steps: two decode steps and one prefill step.
void test_accounting_arithmetic() {
  StepAccounting acc;
  // Device spans of 8 and 3 ms; the device idled 1 ms before the first decode step (the step before it was timed
  // too) and nothing is known of the time before the prefill step or the second decode step.
  StepTiming prefill{2, 64, 64, 0.5, 9.0, 8.0};
  StepTiming decode{2, 2, 70, 0.2, 4.0, 3.0, 1.0};
  acc.add(prefill, 10.0, 2);
  acc.add(decode, 5.0, 2);
  decode.device_gap_ms = -1.0;
  acc.add(decode, 5.0, 2);
  acc.add(StepTiming{}, 1.0, 0); // nothing scheduled: not a step
  CHECK_EQ(acc.all().steps, 3);
  CHECK_EQ(acc.decode_by_batch().size(), size_t(1));
  CHECK_EQ(acc.decode_by_batch().at(2).steps, 2);
  CHECK_EQ(batch_bucket(1), 1);
  CHECK_EQ(batch_bucket(3), 4);
  CHECK_EQ(batch_bucket(200), 256);
  CHECK_EQ(batch_bucket(256), 256);
  CHECK_EQ(acc.decode().steps, 2);
  CHECK(acc.decode().device_timed());
  RooflineModel m{1e9, 1e6, 100.0}; // 1 GB of weights, 1 MB per KV token, 100 GB/s
  CHECK(std::fabs(m.step_bytes(70) - 1.07e9) < 1.0);
  // decode: 2 x (1 GB + 70 MB) / 100 GB/s = 21.4 ms over 10 ms of wall time.
  CHECK(std::fabs(m.seconds(acc.decode()) - 0.0214) < 1e-12);
  json::Value d = phase_json(acc.decode(), m);
  // Idle between steps: 1 ms of gap against that gap and the 3 ms span after it; the span with no known gap does
  // not dilute it, and the host's wall time (5 ms a step) does not enter.
  CHECK(std::fabs(d.at("device_idle_pct").as_number() - 25.0) < 1e-9);
  CHECK(std::fabs(d.at("device_busy_pct").as_number() - 75.0) < 1e-9);
  CHECK_EQ(d.at("device_gap_steps").as_number(), 1.0);
  CHECK(phase_json(acc.prefill(), m).at("device_idle_pct").is_null()); // timed, but no gap known
  CHECK(std::fabs(phase_json(acc.all(), m).at("device_idle_pct").as_number() - 25.0) < 1e-9);
  CHECK(std::fabs(d.at("host_overhead_pct").as_number() - 4.0) < 1e-9);
  CHECK(std::fabs(d.at("fraction_of_roofline").as_number() - 2.14) < 1e-9);
  CHECK(std::fabs(d.at("roofline_output_tokens_per_s").as_number() - 4 / 0.0214) < 1e-6);
  CHECK(d.at("step_roofline_s").is_null()); // no GEMM rate measured: no per-step roofline
  // Per-step roofline: each step at its bytes or its GEMM FLOPs, whichever takes longer.
  // 1 GFLOP a token, 10 GFLOP a logit row. The prefill step (64 tokens, 2 rows, 64 context):
  // 1.064 GB = 10.64 ms, 84 GFLOP; a decode step (2 tokens, 2 rows, 70 context): 1.07 GB =
  // 10.7 ms, 22 GFLOP. At 10 TFLOP/s both are bound by bytes; at 1 TFLOP/s both by FLOPs.
  m.flops_per_token = 1e9;
  m.flops_per_logit_row = 1e10;
  m.peak_tflops = 10.0;
  CHECK(std::fabs(m.step_seconds(StepShape{64, 2, 64}) - 0.01064) < 1e-12);
  CHECK(std::fabs(m.step_seconds(StepShape{2, 2, 70}) - 0.0107) < 1e-12);
  m.peak_tflops = 1.0;
  CHECK(std::fabs(m.step_seconds(StepShape{64, 2, 64}) - 0.084) < 1e-12);
  CHECK(std::fabs(m.step_seconds(StepShape{2, 2, 70}) - 0.022) < 1e-12);
  CHECK(std::fabs(m.step_roofline_seconds(acc.all()) - (0.084 + 2 * 0.022)) < 1e-12);
  json::Value all = phase_json(acc.all(), m);
  CHECK(std::fabs(all.at("step_roofline_s").as_number() - 0.128) < 1e-12);
  CHECK(std::fabs(all.at("fraction_of_step_roofline").as_number() - 0.128 / 0.020) < 1e-9);
  // Serial: the GEMMs at the longer of 10 ms of weights and their FLOPs, then the KV read after them: the prefill
  // step 84 + 0.64 ms, a decode step 22 + 0.7 ms.
  CHECK(std::fabs(m.serial_step_seconds(StepShape{64, 2, 64}) - 0.08464) < 1e-12);
  CHECK(std::fabs(m.serial_step_seconds(StepShape{2, 2, 70}) - 0.0227) < 1e-12);
  CHECK(std::fabs(all.at("serial_roofline_s").as_number() - (0.08464 + 2 * 0.0227)) < 1e-12);
  CHECK(std::fabs(all.at("fraction_of_serial_roofline").as_number() - (0.08464 + 2 * 0.0227) / 0.020) < 1e-9);
  // The step with prompt tokens is a phase of its own; decode buckets carry their per-step roofline.
  CHECK_EQ(acc.prefill().steps, 1);
  CHECK(std::fabs(phase_json(acc.prefill(), m).at("step_roofline_s").as_number() - 0.084) < 1e-12);
  const json::Value buckets = batch_buckets_json(acc, m);
  CHECK(std::fabs(buckets.as_array().at(0).at("step_roofline_ms_per_step").as_number() - 22.0) < 1e-9);
  CHECK(std::fabs(buckets.as_array().at(0).at("fraction_of_step_roofline").as_number() - 4.4) < 1e-9);
  // The CUDA backend times a sample of the steps: an untimed step (device -1) counts in the wall time and the
  // rooflines but not in the idle share, which stays the timed pairs' gaps over those gaps and spans.
  acc.add(StepTiming{2, 2, 70, 0.2, 9.0, -1.0}, 10.0, 2);
  const json::Value sampled = phase_json(acc.decode(), m);
  CHECK_EQ(sampled.at("steps").as_number(), 3.0);
  CHECK_EQ(sampled.at("device_timed_steps").as_number(), 2.0);
  CHECK(std::fabs(sampled.at("device_busy_pct").as_number() - 75.0) < 1e-9);
  CHECK(std::fabs(sampled.at("device_idle_pct").as_number() - 25.0) < 1e-9);
  CHECK(std::fabs(batch_buckets_json(acc, m).as_array().at(0).at("device_ms_per_step").as_number() - 3.0) < 1e-9);
  // A phase no step of which was timed has no device figure rather than a wrong one.
  StepAccounting untimed;
  untimed.add(StepTiming{1, 1, 10, 0.1, 1.0, -1.0}, 1.0, 1);
  CHECK(phase_json(untimed.decode(), m).at("device_idle_pct").is_null());
  CHECK(batch_buckets_json(untimed, m).as_array().at(0).at("device_ms_per_step").is_null());
}

void test_workloads() {
  std::mt19937 rng(7);
  auto reqs = shared_prefix_requests(3, 5, 2, 4, 100, rng);
  CHECK_EQ(reqs.size(), size_t(3));
  for (const auto& q : reqs) {
    CHECK_EQ(q.prompt.size(), size_t(7));
    CHECK(std::equal(q.prompt.begin(), q.prompt.begin() + 5, reqs[0].prompt.begin()));
    CHECK_EQ(q.max_tokens, 4);
  }
  CHECK(reqs[0].prompt != reqs[1].prompt);
  int64_t skipped = -1;
  auto pairs = dataset_requests("../shared/workloads/sharegpt-like.json", 50, 256, 100, rng, &skipped);
  CHECK(skipped > 0);
  CHECK_EQ(static_cast<int64_t>(pairs.size()) + skipped, 50);
  for (const auto& q : pairs) CHECK(static_cast<int32_t>(q.prompt.size()) + q.max_tokens <= 256);
  CHECK_THROWS_WITH(random_requests(0, 8, 8, 100, rng), "--num-prompts");
}

} // namespace

int main() {
  test_accounting_arithmetic();
  test_workloads();
  const std::string dir = temp_dir();
  test_random(dir);
  test_prefix(dir);
  test_synthetic_and_memory_setting(dir);
  test_commit_override(dir);
  test_bad_flags();
  test_profile_only(dir);
  return finish_checks("bench_modes_test");
}
