// `pagoda serve` flags: vLLM's names map onto the runner's options; an unknown or malformed flag is an
// error that names it, before anything loads.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { serveOptionsFromArgv } from '../src/commands/serve.ts';

const PAGODA = fileURLToPath(new URL('../../../bin/pagoda', import.meta.url));

describe('serveOptionsFromArgv', () => {
  it("takes vllm serve's flags that change nothing here, and keeps them for the vllm backend", () => {
    const opts = serveOptionsFromArgv(['/m', '--trust-remote-code', '--disable-log-requests', '--swap-space', '4', '--uvicorn-log-level', 'warning']);
    if (opts === 'help') throw new Error('parsed as --help');
    expect(opts.vllm_only_flags).toEqual(['--trust-remote-code', '--disable-log-requests', '--uvicorn-log-level', 'warning', '--swap-space', '4']);
    const plain = serveOptionsFromArgv(['/m']);
    if (plain === 'help') throw new Error('parsed as --help');
    expect(plain.vllm_only_flags).toEqual([]);
  });

  it('maps every vLLM flag', () => {
    const opts = serveOptionsFromArgv([
      '/m',
      '--tensor-parallel-size',
      '2',
      '--quantization',
      'fp8',
      '--kv-cache-dtype',
      'fp8',
      '--enforce-eager',
      '--gpu-memory-utilization',
      '0.7',
      '--max-model-len',
      '4096',
      '--max-num-seqs',
      '32',
      '--max-num-batched-tokens',
      '2048',
      '--block-size',
      '32',
      '--no-enable-prefix-caching',
      '--dtype',
      'bfloat16',
      '--seed',
      '1',
      '--load-format',
      'dummy',
      '--served-model-name',
      'a',
      '--served-model-name',
      'b',
      '--chat-template',
      't.jinja',
      '--host',
      '0.0.0.0',
      '--port',
      '9000',
      '--api-key',
      'k',
      '--device',
      'cpu',
    ]);
    expect(opts).toMatchObject({
      model: '/m',
      tensor_parallel_size: 2,
      quantization: 'fp8',
      kv_cache_dtype: 'fp8',
      enforce_eager: true,
      gpu_memory_utilization: 0.7,
      max_model_len: 4096,
      max_num_seqs: 32,
      max_num_batched_tokens: 2048,
      block_size: 32,
      enable_prefix_caching: false,
      dtype: 'bfloat16',
      seed: 1,
      load_format: 'dummy',
      served_model_name: ['a', 'b'],
      chat_template: 't.jinja',
      host: '0.0.0.0',
      port: 9000,
      api_key: 'k',
      device: 'cpu',
    });
  });

  it('names an unknown flag', () => {
    expect(() => serveOptionsFromArgv(['/m', '--spec-decoding', '4'])).toThrow(/--spec-decoding/);
  });

  it('names a flag with a bad value', () => {
    expect(() => serveOptionsFromArgv(['/m', '--max-model-len', 'lots'])).toThrow(
      /--max-model-len takes a number, got 'lots'/,
    );
    expect(() => serveOptionsFromArgv(['/m', '--gpu-memory-utilization', '1.5'])).toThrow(
      /--gpu-memory-utilization/,
    );
    expect(() => serveOptionsFromArgv(['/m', '--device', 'tpu'])).toThrow(/--device/);
    expect(() =>
      serveOptionsFromArgv(['/m', '--enable-prefix-caching', '--no-enable-prefix-caching']),
    ).toThrow(/contradict/);
  });

  it('wants exactly one model', () => {
    expect(() => serveOptionsFromArgv([])).toThrow(/give the model/);
    expect(() => serveOptionsFromArgv(['/a', '/b'])).toThrow(/one model per runner/);
  });
});

it('the pagoda command exits 2 with the flag named and the usage', () => {
  const res = spawnSync(PAGODA, ['serve', '/m', '--kv-transfer-config', 'x'], { encoding: 'utf8' });
  expect(res.status).toBe(2);
  expect(res.stderr).toMatch(/--kv-transfer-config/);
  expect(res.stderr).toMatch(/usage: pagoda serve/);
});
