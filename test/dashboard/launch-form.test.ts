// The launch form's request body and its "Copy as CLI" line: what a user gets when they launch from
// the page or paste the command into a shell.
import { describe, expect, it } from 'vitest';
import { LaunchRequestSchema } from '../../packages/protocol/src/index.ts';
import { defaultForm, launchBody, launchCli, launchCliParts } from '../../apps/dashboard/src/launch.ts';

describe('launch form', () => {
  it('sends only what was set, as numbers where the API wants numbers, and passes the server schema', () => {
    const body = launchBody('qwen2.5-instruct', {
      ...defaultForm(),
      model_uid: 'qw',
      model_size_in_billions: '1_5',
      gpu_idx: '0, 1',
      tensor_parallel_size: '1',
      max_model_len: '4096',
      enforce_eager: true,
      enable_prefix_caching: false,
    });
    expect(body).toEqual({
      model_name: 'qwen2.5-instruct',
      model_uid: 'qw',
      model_engine: 'builtin',
      model_size_in_billions: '1_5',
      replica: 1,
      n_gpu: 'auto',
      gpu_idx: [0, 1],
      tensor_parallel_size: 1,
      gpu_memory_utilization: 0.9,
      max_model_len: 4096,
      enforce_eager: true,
      enable_prefix_caching: false,
    });
    expect(LaunchRequestSchema.safeParse(body).success).toBe(true);
  });

  it('leaves a bad number as text so the server names the field', () => {
    expect(launchBody('m', { ...defaultForm(), max_model_len: 'lots' }).max_model_len).toBe('lots');
  });

  it('leaves tensor_parallel_size out by default, so the server (or the plan, when GPUs per replica is auto) decides', () => {
    expect(launchBody('m', defaultForm())).not.toHaveProperty('tensor_parallel_size');
  });

  it('writes the same launch as a pagoda launch command with the CLI flag names', () => {
    const body = launchBody('llama-3.1-instruct', {
      ...defaultForm(),
      model_uid: 'my model',
      model_size_in_billions: '8',
      gpu_idx: '0,1',
      tensor_parallel_size: '1',
      enable_prefix_caching: false,
    });
    expect(launchCli(body, 'http://gpu-box:9997')).toBe(
      "pagoda launch llama-3.1-instruct --endpoint http://gpu-box:9997 --model-uid 'my model' --model-engine builtin --size-in-billions 8 --replica 1 --n-gpu auto --gpu-idx 0,1 --tensor-parallel-size 1 --gpu-memory-utilization 0.9 --no-enable-prefix-caching",
    );
    // Grouped for display: each flag with its value, so a wrap falls between flags.
    const parts = launchCliParts(body, 'http://gpu-box:9997');
    expect(parts.slice(0, 3)).toEqual(['pagoda launch llama-3.1-instruct', '--endpoint http://gpu-box:9997', "--model-uid 'my model'"]);
    expect(parts.join(' ')).toBe(launchCli(body, 'http://gpu-box:9997'));
  });
});
