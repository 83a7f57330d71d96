// A test double for packages/engine: replays scripted token ids per output, one token per step, and
// records aborts, so the builtin backend's text, stop and abort logic can be checked exactly.
import type { EngineStats, GenerateDelta, SamplingParams } from '@pagoda/engine';
import type { EngineHandle } from '../../src/backends/builtin.ts';

export class ScriptedEngine implements EngineHandle {
  aborted = 0;
  completed = 0;
  lastParams: SamplingParams | null = null;

  constructor(private readonly script: (promptIds: number[], index: number) => number[]) {}

  async *generate(
    promptIds: number[],
    params: SamplingParams,
    options: { signal?: AbortSignal },
  ): AsyncGenerator<GenerateDelta> {
    this.lastParams = params;
    const n = params.n ?? 1;
    const outputs = Array.from({ length: n }, (_, i) =>
      this.script(promptIds, i).slice(0, params.max_tokens ?? Infinity),
    );
    const steps = Math.max(...outputs.map((o) => o.length));
    let finished = false;
    // Like the engine: leaving the iterator early (return()) or aborting the signal ends the request.
    try {
      for (let step = 0; step < steps; step++) {
        await new Promise((r) => setImmediate(r));
        if (options.signal?.aborted) return;
        for (const [index, ids] of outputs.entries()) {
          if (step >= ids.length) continue;
          const last = step === ids.length - 1;
          yield {
            index,
            token_ids: [ids[step]!],
            logprobs:
              params.logprobs != null
                ? [
                    {
                      token_id: ids[step]!,
                      logprob: -0.5,
                      top: [{ token_id: ids[step]!, logprob: -0.5 }],
                    },
                  ]
                : undefined,
            finish_reason: last ? 'length' : undefined,
            usage: {
              prompt_tokens: promptIds.length,
              completion_tokens: step + 1,
              cached_tokens: 0,
            },
          };
        }
      }
      finished = true;
      this.completed += 1;
    } finally {
      if (!finished) this.aborted += 1;
    }
  }

  stats(): EngineStats {
    return {
      num_running: 0,
      num_waiting: 0,
      kv_blocks_total: 10,
      kv_blocks_used: 0,
      kv_blocks_free: 10,
      kv_blocks_cached: 0,
      kv_blocks_touched: 0,
      kv_cache_usage: 0,
      prefix_cache_queries: 0,
      prefix_cache_hits: 0,
      num_preemptions: 0,
      step_host_ms_total: 0,
      step_forward_ms_total: 0,
      step_device_ms_total: 0,
      device_timed_steps: 0,
      device_timed_step_ms_total: 0,
      device_gap_ms_total: 0,
      device_gap_span_ms_total: 0,
      device_gap_steps: 0,
      steps_launched_ahead: 0,
      prompt_tokens_total: 0,
      generation_tokens_total: 0,
      tokens_per_second: 0,
      max_model_len: 512,
      block_size: 16,
      idle: true,
      device: 'scripted',
      num_steps: 0,
    };
  }

  close(): void {}
}
