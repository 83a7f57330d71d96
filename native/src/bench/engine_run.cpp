// The bench's engine loop and workload runner; see engine_run.h.
#include "bench/engine_run.h"

#include <algorithm>
#include <cstdio>

#include "error.h"

namespace pagoda {

SamplingParams fixed_length(int32_t max_tokens) {
  SamplingParams p;
  p.temperature = 0.0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

namespace {

void print_progress(const RunLog& log, LLMEngine& e, double now) {
  const EngineStats s = e.stats();
  std::fprintf(stderr, "progress     %.1f s: %lld steps, %zu requests finished, %lld output tokens (%.0f tok/s), "
               "%d running, %d waiting, KV %.0f%% used, %lld preemptions\n",
               now, static_cast<long long>(log.steps), log.finished.size(), static_cast<long long>(log.output_tokens),
               log.output_tokens / std::max(now, 1e-9), s.num_running, s.num_waiting, 100.0 * s.kv_cache_usage,
               static_cast<long long>(s.num_preemptions));
}

double ms_between(BenchClock::time_point a, BenchClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
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

json::Value num(double v) { return json::Value::number(v); }

} // namespace

RunLog run_to_end(LLMEngine& e, BenchClock::time_point start, double progress_s,
                  const std::function<void(const StepOutput&)>& after_step) {
  RunLog log;
  BenchClock::time_point last = BenchClock::now();
  double next_progress = progress_s;
  while (e.has_unfinished()) {
    StepOutput out = e.step();
    if (after_step) after_step(out);
    ++log.steps;
    const BenchClock::time_point end = BenchClock::now();
    const double now = std::chrono::duration<double>(end - start).count();
    int64_t tokens = 0;
    for (const SequenceDelta& d : out.deltas) {
      tokens += static_cast<int64_t>(d.token_ids.size());
      std::vector<int32_t>& ids = log.tokens[d.request_id];
      ids.insert(ids.end(), d.token_ids.begin(), d.token_ids.end());
      if (!d.token_ids.empty()) log.first_token.emplace(d.request_id, now);
      if (d.request_finished) log.finished[d.request_id] = now;
    }
    if (!out.error.empty()) throw Error(out.error);
    log.output_tokens += tokens;
    const BenchClock::time_point after = BenchClock::now();
    log.accounting.add(out.timing, ms_between(last, after), tokens);
    last = after;
    if (progress_s > 0.0 && now >= next_progress) {
      print_progress(log, e, now);
      next_progress = now + progress_s;
    }
  }
  return log;
}

WorkloadRun run_workload(LLMEngine& e, const std::vector<BenchRequest>& requests, double progress_s) {
  WorkloadRun r;
  const EngineStats before = e.stats();
  const auto start = BenchClock::now();
  for (const BenchRequest& q : requests) {
    e.add_request(q.id, q.prompt, fixed_length(q.max_tokens));
    r.prompt_tokens += static_cast<int64_t>(q.prompt.size());
  }
  r.log = run_to_end(e, start, progress_s);
  r.elapsed_s = std::chrono::duration<double>(BenchClock::now() - start).count();
  const EngineStats after = e.stats();
  r.prefix_cache_queries = after.prefix_cache_queries - before.prefix_cache_queries;
  r.prefix_cache_hits = after.prefix_cache_hits - before.prefix_cache_hits;
  r.preemptions = after.num_preemptions - before.num_preemptions;
  r.steps_launched_ahead = after.steps_launched_ahead - before.steps_launched_ahead;
  return r;
}

json::Value workload_json(const WorkloadRun& w) {
  const RunLog& t = w.log;
  std::vector<double> ttft, e2e;
  for (const auto& [id, ft] : t.first_token) ttft.push_back(ft * 1e3);
  for (const auto& [id, ft] : t.finished) e2e.push_back(ft * 1e3);
  json::Value out = json::Value::object();
  out.set("num_requests", num(static_cast<double>(t.finished.size())));
  out.set("prompt_tokens", num(static_cast<double>(w.prompt_tokens)));
  out.set("output_tokens", num(static_cast<double>(t.output_tokens)));
  out.set("elapsed_s", num(w.elapsed_s));
  out.set("steps", num(static_cast<double>(t.steps)));
  out.set("ms_per_step", num(t.steps > 0 ? 1e3 * w.elapsed_s / t.steps : 0.0));
  out.set("request_throughput_per_s", num(t.finished.size() / w.elapsed_s));
  out.set("output_tokens_per_s", num(t.output_tokens / w.elapsed_s));
  out.set("total_tokens_per_s", num((t.output_tokens + w.prompt_tokens) / w.elapsed_s));
  out.set("ttft_ms_mean", num(mean(ttft)));
  out.set("ttft_ms_median", num(percentile(ttft, 0.5)));
  out.set("ttft_ms_p99", num(percentile(ttft, 0.99)));
  out.set("e2e_ms_mean", num(mean(e2e)));
  out.set("e2e_ms_p99", num(percentile(e2e, 0.99)));
  out.set("prefix_cache_hit_rate", num(w.prefix_cache_queries > 0 ? double(w.prefix_cache_hits) / w.prefix_cache_queries : 0.0));
  out.set("preemptions", num(static_cast<double>(w.preemptions)));
  out.set("steps_launched_ahead", num(static_cast<double>(w.steps_launched_ahead)));
  out.set("steps_launched_ahead_share", num(t.steps > 0 ? double(w.steps_launched_ahead) / t.steps : 0.0));
  return out;
}

} // namespace pagoda
