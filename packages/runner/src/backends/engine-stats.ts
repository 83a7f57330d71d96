// The /metrics figures (BackendStats) of an in-process engine, from its own counters (EngineStats):
// the builtin engine's, and llama.cpp's behind the same interface.
import type { EngineStats } from '@pagoda/engine';
import type { BackendStats } from '../backend.ts';

/** Device timings are known only where the device timed some steps (a sample of them). */
export function backendStatsOf(s: EngineStats): BackendStats {
  return {
    num_running: s.num_running,
    num_waiting: s.num_waiting,
    kv_cache_usage: s.kv_cache_usage,
    prefix_cache_queries: s.prefix_cache_queries,
    prefix_cache_hits: s.prefix_cache_hits,
    num_preemptions: s.num_preemptions,
    engine_steps: s.num_steps,
    engine_steps_launched_ahead: s.steps_launched_ahead,
    engine_step_seconds: (s.step_host_ms_total + s.step_forward_ms_total) / 1000,
    engine_device_busy_seconds: s.device_timed_steps > 0 ? s.step_device_ms_total / 1000 : null,
    engine_device_timed_step_seconds: s.device_timed_steps > 0 ? s.device_timed_step_ms_total / 1000 : null,
    engine_device_idle_between_steps_seconds: s.device_gap_steps > 0 ? s.device_gap_ms_total / 1000 : null,
    engine_device_paired_seconds:
      s.device_gap_steps > 0 ? (s.device_gap_ms_total + s.device_gap_span_ms_total) / 1000 : null,
  };
}
