// Drives an engine on the caller's thread until every request has finished, logging what a
// benchmark reports: per request the times of its first token and of its finish, per step
// where the time went (StepAccounting); and runs a request set submitted all at once, as
// vLLM's offline throughput benchmark does.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/step_accounting.h"
#include "bench/workloads.h"
#include "engine/llm_engine.h"
#include "json.h"

namespace pagoda {

using BenchClock = std::chrono::steady_clock;

// Greedy, exactly max_tokens long (EOS ignored).
SamplingParams fixed_length(int32_t max_tokens);

struct RunLog {
  std::map<std::string, double> first_token, finished; // seconds since the run's start
  int64_t output_tokens = 0;
  int64_t steps = 0;
  StepAccounting accounting;
  std::map<std::string, std::vector<int32_t>> tokens; // each request's generated ids, in order
};

// progress_s > 0: a progress line on stderr that often, so a run cut off by a time limit
// still tells how far it got and at what rate.
// after_step, when set, sees every step's output before the next step runs (e.g. to send masks).
RunLog run_to_end(LLMEngine& e, BenchClock::time_point start, double progress_s = 0.0,
                  const std::function<void(const StepOutput&)>& after_step = {});

struct WorkloadRun {
  RunLog log;
  double elapsed_s = 0.0; // from the first add_request to the last token
  int64_t prompt_tokens = 0;
  int64_t prefix_cache_queries = 0, prefix_cache_hits = 0, preemptions = 0; // during this run
  int64_t steps_launched_ahead = 0; // of the run's steps, those launched while the one before was still running
};

WorkloadRun run_workload(LLMEngine& e, const std::vector<BenchRequest>& requests, double progress_s = 0.0);

// Requests, tokens, throughput, TTFT and end-to-end latency, prefix cache hit rate, preemptions.
json::Value workload_json(const WorkloadRun& w);

} // namespace pagoda
