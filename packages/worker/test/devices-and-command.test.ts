// What a worker reports and runs: nvidia-smi parsing, declared inventories (with the errors a user
// sees), and the runner command line and environment built from a launch job.
import { describe, expect, it } from 'vitest';
import type { LaunchJob } from '@pagoda/protocol';
import { parseDeclaredDevices, parseNvidiaSmi, runnerArgv, runnerEnv } from '../src/index.ts';

const job: LaunchJob = {
  kind: 'launch',
  replica_id: 'r1',
  model_uid: 'tiny',
  replica_index: 0,
  engine: 'builtin',
  source: { model_path: '/m', hf_repo_id: null, revision: null },
  gpu_idx: [2, 3],
  engine_kwargs: { max_model_len: 256, enforce_eager: true, enable_prefix_caching: false, gpu_memory_utilization: 0.5 },
};

describe('devices', () => {
  it('parses nvidia-smi CSV in MiB, with [N/A] utilization as 0', () => {
    const d = parseNvidiaSmi('0, NVIDIA H100 80GB HBM3, 81559, 1024, 37\n1, NVIDIA H100 80GB HBM3, 81559, 0, [N/A]\n');
    expect(d).toEqual([
      { kind: 'gpu', index: 0, name: 'NVIDIA H100 80GB HBM3', memory_total: 81559 * 2 ** 20, memory_used: 1024 * 2 ** 20, utilization: 37, declared: false },
      { kind: 'gpu', index: 1, name: 'NVIDIA H100 80GB HBM3', memory_total: 81559 * 2 ** 20, memory_used: 0, utilization: 0, declared: false },
    ]);
  });

  it('takes a declared inventory and says what is wrong with a bad one', () => {
    expect(parseDeclaredDevices('[{"memory_total": 1000}, {"name": "B", "memory_total": 2000}]').map((d) => [d.index, d.name, d.memory_total, d.declared])).toEqual([
      [0, 'declared GPU', 1000, true],
      [1, 'B', 2000, true],
    ]);
    expect(() => parseDeclaredDevices('not json')).toThrow(/--devices is not JSON/);
    expect(() => parseDeclaredDevices('[{"memory_total": -1}]')).toThrow(/memory_total/);
    expect(() => parseDeclaredDevices('[{"memory_total": 1, "index": 0}, {"memory_total": 1, "index": 0}]')).toThrow(/index 0 appears twice/);
    expect(() => parseDeclaredDevices('[{"memory_total": 1, "vram": 2}]')).toThrow(/vram/);
  });
});

describe('runner command', () => {
  it('serves the model on the given port with vLLM-style flags and only its GPUs visible', () => {
    const argv = runnerArgv({ job, modelPath: '/m', host: '127.0.0.1', port: 9000, command: ['pagoda', 'serve'] });
    expect(argv).toEqual(['pagoda', 'serve', '/m', '--host', '127.0.0.1', '--port', '9000', '--served-model-name', 'tiny', '--device', 'cuda', '--gpu-memory-utilization', '0.5', '--max-model-len', '256', '--enforce-eager', '--no-enable-prefix-caching']);
    expect(runnerEnv(job, {}, false).CUDA_VISIBLE_DEVICES).toBe('2,3');
  });

  it('uses the CPU engine and hides GPUs when the inventory is declared', () => {
    expect(runnerArgv({ job, modelPath: '/m', host: 'h', port: 1, command: ['x'], declaredGpus: true })).toContain('cpu');
    expect(runnerEnv(job, { CUDA_VISIBLE_DEVICES: '0' }, true).CUDA_VISIBLE_DEVICES).toBe('');
  });

  it('keeps the runner at info or more, since the worker reads load progress from its lines', () => {
    expect(runnerEnv(job, { PAGODA_LOG_LEVEL: 'warn' }, true).PAGODA_LOG_LEVEL).toBe('info');
    expect(runnerEnv(job, {}, true).PAGODA_LOG_LEVEL).toBe('info');
    expect(runnerEnv(job, { PAGODA_LOG_LEVEL: 'debug' }, true).PAGODA_LOG_LEVEL).toBe('debug');
  });

  it("passes the family's tool-call and reasoning parsers as vLLM's flags", () => {
    const parsers = {
      ...job,
      engine_kwargs: { ...job.engine_kwargs, tool_call_parser: 'hermes', enable_auto_tool_choice: true, reasoning_parser: 'qwen3' },
    };
    const argv = runnerArgv({ job: parsers, modelPath: '/m', host: 'h', port: 1, command: ['x'] }).join(' ');
    expect(argv).toContain('--tool-call-parser hermes --enable-auto-tool-choice --reasoning-parser qwen3');
  });

  it('asks the runner to quantize an unquantized checkpoint at load, as vLLM spells it', () => {
    const fp8 = { ...job, engine_kwargs: { ...job.engine_kwargs, quantization: 'fp8' } };
    expect(runnerArgv({ job: fp8, modelPath: '/m', host: 'h', port: 1, command: ['x'] }).join(' ')).toContain('--quantization fp8');
  });

  it("hands the runner its replica's secret in the environment, never argv, and none of the platform's keys", () => {
    const secret = 'rs-0123456789abcdef0123456789abcdef';
    const withSecret = { ...job, runner_secret: secret };
    const env = runnerEnv(withSecret, { PAGODA_ADMIN_KEY: 'admin-key-of-the-server', PAGODA_API_KEY: 'cli-key', PAGODA_SERVE_API_KEY: 'stale', PATH: '/bin' }, false);
    expect(env.PAGODA_SERVE_API_KEY).toBe(secret);
    expect(env.PAGODA_ADMIN_KEY).toBeUndefined();
    expect(env.PAGODA_API_KEY).toBeUndefined();
    expect(env.PATH).toBe('/bin');
    expect(runnerArgv({ job: withSecret, modelPath: '/m', host: '127.0.0.1', port: 1, command: ['x'] }).join(' ')).not.toContain(secret);
    // A job from before runner secrets: no key at all, not an inherited one.
    expect(runnerEnv(job, { PAGODA_SERVE_API_KEY: 'stale' }, false).PAGODA_SERVE_API_KEY).toBeUndefined();
  });

  it('passes the engine to the runner backend', () => {
    const argv = runnerArgv({ job: { ...job, engine: 'vllm' }, modelPath: '/m', host: 'h', port: 1, command: ['x'] });
    expect(argv.slice(argv.indexOf('--backend'), argv.indexOf('--backend') + 2)).toEqual(['--backend', 'vllm']);
  });
});
