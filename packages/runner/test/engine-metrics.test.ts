// The engine's step counters on /metrics as a GPU backend reports them: the device times a sample of the steps, in
// pairs, so its busy time comes with the wall time of the steps it covers, and its idle time between the steps of a
// pair with that idle time plus the device time after it (their ratio is the idle share between steps).
import { describe, expect, it } from 'vitest';

import type { BackendStats } from '../src/backend.js';
import { RunnerMetrics } from '../src/metrics.js';

function stats(over: Partial<BackendStats>): BackendStats {
  return {
    num_running: 1,
    num_waiting: 0,
    kv_cache_usage: 0.25,
    prefix_cache_queries: null,
    prefix_cache_hits: null,
    num_preemptions: 0,
    engine_steps: 800,
    engine_step_seconds: 2.0,
    engine_device_busy_seconds: null,
    engine_device_timed_step_seconds: null,
    engine_device_idle_between_steps_seconds: null,
    engine_device_paired_seconds: null,
    engine_steps_launched_ahead: null,
    ...over,
  };
}

function counter(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}_total\\{model_name="m"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('engine step counters', () => {
  it('reports the device busy time beside the wall time of the steps it timed', () => {
    const text = new RunnerMetrics('m').render(
      { running: 1, waiting: 0 },
      stats({ engine_device_busy_seconds: 0.245, engine_device_timed_step_seconds: 0.25 }),
    );
    expect(counter(text, 'pagoda:engine_steps')).toBe(800);
    expect(counter(text, 'pagoda:engine_step_seconds')).toBe(2);
    const busy = counter(text, 'pagoda:engine_device_busy_seconds');
    const timed = counter(text, 'pagoda:engine_device_timed_step_seconds');
    expect(busy).toBe(0.245);
    expect(timed).toBe(0.25);
    expect(1 - busy! / timed!).toBeCloseTo(0.02, 10); // the device's idle share
    expect(text).toContain('# TYPE pagoda:engine_device_timed_step_seconds counter');
  });

  it('reports the idle time between timed pairs of steps beside the time it is a share of', () => {
    const text = new RunnerMetrics('m').render(
      { running: 1, waiting: 0 },
      stats({
        engine_device_idle_between_steps_seconds: 0.0005,
        engine_device_paired_seconds: 0.125,
      }),
    );
    const idle = counter(text, 'pagoda:engine_device_idle_between_steps_seconds');
    const paired = counter(text, 'pagoda:engine_device_paired_seconds');
    expect(idle).toBe(0.0005);
    expect(paired).toBe(0.125);
    expect(idle! / paired!).toBeCloseTo(0.004, 10); // the idle share between steps
    expect(text).toContain('# TYPE pagoda:engine_device_idle_between_steps_seconds counter');
    expect(text).not.toContain('pagoda:engine_device_busy_seconds'); // not timed in this report
  });

  it('counts the steps launched ahead of the one before beside all steps', () => {
    const text = new RunnerMetrics('m').render({ running: 1, waiting: 0 }, stats({ engine_steps_launched_ahead: 790 }));
    expect(counter(text, 'pagoda:engine_steps_launched_ahead')).toBe(790);
    expect(counter(text, 'pagoda:engine_steps')).toBe(800);
    expect(text).toContain('# TYPE pagoda:engine_steps_launched_ahead counter');
  });

  it('leaves every device counter out where nothing was timed', () => {
    const text = new RunnerMetrics('m').render({ running: 0, waiting: 0 }, stats({}));
    expect(text).not.toContain('pagoda:engine_device_busy_seconds');
    expect(text).not.toContain('pagoda:engine_device_timed_step_seconds');
    expect(text).not.toContain('pagoda:engine_device_idle_between_steps_seconds');
    expect(text).not.toContain('pagoda:engine_device_paired_seconds');
    expect(text).not.toContain('pagoda:engine_steps_launched_ahead'); // not known to this backend
  });
});
