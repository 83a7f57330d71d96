// Every engine parameter a launch may carry reaches the runner: the worker's command line for a
// launch job parses back, through `pagoda serve`'s flags, to the same values.
import { describe, expect, it } from 'vitest';
import type { EngineKwarg, LaunchJob } from '@pagoda/protocol';
import { runnerArgv } from '@pagoda/worker';
import { serveOptionsFromArgv } from '../src/commands/serve.ts';

/** A value other than the default for each runner parameter (request_limits is the proxy's). */
const VALUES: Record<Exclude<EngineKwarg, 'request_limits'>, unknown> = {
  gpu_memory_utilization: 0.55,
  max_model_len: 300,
  enforce_eager: true,
  tensor_parallel_size: 2,
  max_num_seqs: 7,
  max_num_batched_tokens: 333,
  block_size: 32,
  enable_prefix_caching: false,
  dtype: 'float16',
  kv_cache_dtype: 'fp8',
  seed: 5,
  load_format: 'dummy',
  generation_config: 'vllm',
};

describe('engine parameters from launch job to runner options', () => {
  it('each one arrives with its value, and request_limits stays with the proxy', () => {
    const job: LaunchJob = {
      kind: 'launch',
      replica_id: 'r1',
      model_uid: 'm',
      replica_index: 0,
      engine: 'vllm',
      source: { model_path: '/m', hf_repo_id: null, revision: null },
      gpu_idx: [0, 1],
      engine_kwargs: { ...VALUES, request_limits: 3 },
    };
    const argv = runnerArgv({ job, modelPath: '/m', host: '127.0.0.1', port: 9000, command: ['pagoda', 'serve'] });
    const opts = serveOptionsFromArgv(argv.slice(2));
    if (opts === 'help') throw new Error('parsed as --help');
    for (const [key, value] of Object.entries(VALUES)) expect(opts[key as keyof typeof opts], key).toEqual(value);
    expect(argv.join(' ')).not.toMatch(/request/);
  });

  it('a kv_cache_dtype the runner does not know is refused by name', () => {
    expect(() => serveOptionsFromArgv(['/m', '--kv-cache-dtype', 'int3'])).toThrow(/--kv-cache-dtype/);
  });
});
