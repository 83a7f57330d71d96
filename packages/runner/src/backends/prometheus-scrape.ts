// Reads the few engine figures the runner re-exports from another server's Prometheus text (vLLM's names).
import type { BackendStats } from '../backend.ts';

/** Sum of all samples of one metric name (any labels); null when absent. */
function sample(text: string, name: string): number | null {
  let total: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

export function statsFromPrometheus(text: string): BackendStats {
  return {
    num_running: sample(text, 'vllm:num_requests_running'),
    num_waiting: sample(text, 'vllm:num_requests_waiting'),
    kv_cache_usage:
      sample(text, 'vllm:kv_cache_usage_perc') ?? sample(text, 'vllm:gpu_cache_usage_perc'),
    prefix_cache_queries: sample(text, 'vllm:prefix_cache_queries_total'),
    prefix_cache_hits: sample(text, 'vllm:prefix_cache_hits_total'),
    num_preemptions: sample(text, 'vllm:num_preemptions_total'),
    engine_steps: sample(text, 'pagoda:engine_steps_total'),
    engine_step_seconds: sample(text, 'pagoda:engine_step_seconds_total'),
    engine_device_busy_seconds: sample(text, 'pagoda:engine_device_busy_seconds_total'),
    engine_device_timed_step_seconds: sample(text, 'pagoda:engine_device_timed_step_seconds_total'),
    engine_device_idle_between_steps_seconds: sample(
      text,
      'pagoda:engine_device_idle_between_steps_seconds_total',
    ),
    engine_device_paired_seconds: sample(text, 'pagoda:engine_device_paired_seconds_total'),
    engine_steps_launched_ahead: sample(text, 'pagoda:engine_steps_launched_ahead_total'),
  };
}
