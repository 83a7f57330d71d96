// The vllm and llamacpp backends against a stand-in executable (the real ones cannot be installed here):
// argument mapping, start-up with a health wait (503 meanwhile), proxying, crash handling and shutdown.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ServeOptionsSchema, llamaServerArgs, vllmArgs } from '@pagoda/runner';
import { STAND_IN, spawnServe, waitReady, type ServeProcess } from './helpers/serve-process.ts';

const running: ServeProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function recordFile(): string {
  const file = join(tmpdir(), `standin-${process.pid}-${Math.random().toString(36).slice(2)}.log`);
  rmSync(file, { force: true });
  return file;
}

function recorded(file: string): { argv: string[]; pid: number; lines: string[] } {
  const [first, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  return { ...(JSON.parse(first!) as { argv: string[]; pid: number }), lines };
}

async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('argument mapping', () => {
  it('passes every vLLM flag through under its own name', () => {
    const opts = ServeOptionsSchema.parse({
      model: '/models/llama',
      backend: 'vllm',
      tensor_parallel_size: 2,
      quantization: 'fp8',
      enforce_eager: true,
      gpu_memory_utilization: 0.8,
      max_model_len: 4096,
      max_num_seqs: 64,
      max_num_batched_tokens: 8192,
      block_size: 32,
      enable_prefix_caching: false,
      dtype: 'bfloat16',
      seed: 7,
      load_format: 'dummy',
      served_model_name: ['llama', 'default'],
      chat_template: '/t.jinja',
    });
    expect(vllmArgs(opts, 9000)).toEqual([
      'serve',
      '/models/llama',
      '--host',
      '127.0.0.1',
      '--port',
      '9000',
      '--tensor-parallel-size',
      '2',
      '--quantization',
      'fp8',
      '--enforce-eager',
      '--gpu-memory-utilization',
      '0.8',
      '--max-model-len',
      '4096',
      '--max-num-seqs',
      '64',
      '--max-num-batched-tokens',
      '8192',
      '--block-size',
      '32',
      '--no-enable-prefix-caching',
      '--dtype',
      'bfloat16',
      '--seed',
      '7',
      '--load-format',
      'dummy',
      '--served-model-name',
      'llama',
      'default',
      '--chat-template',
      '/t.jinja',
    ]);
    // vLLM-only flags (taken so vllm scripts run) and the generation config go on to vllm
    const more = ServeOptionsSchema.parse({
      model: 'm',
      backend: 'vllm',
      vllm_only_flags: ['--trust-remote-code', '--swap-space', '8'],
      generation_config: 'vllm',
      override_generation_config: { temperature: 0.5 },
    });
    expect(vllmArgs(more, 1).slice(6)).toEqual([
      '--generation-config',
      'vllm',
      '--override-generation-config',
      '{"temperature":0.5}',
      '--trust-remote-code',
      '--swap-space',
      '8',
    ]);
    // The API key stays with the runner: the child listens on loopback only.
    expect(vllmArgs(ServeOptionsSchema.parse({ model: 'm', api_key: 'secret' }), 1)).not.toContain(
      'secret',
    );
  });

  it('maps to llama-server flags, with the context shared by its slots', () => {
    const opts = ServeOptionsSchema.parse({
      model: '/m/q4.gguf',
      max_model_len: 2048,
      max_num_seqs: 8,
      max_num_batched_tokens: 512,
      seed: 3,
      device: 'cpu',
      served_model_name: ['q'],
    });
    expect(llamaServerArgs(opts, 9001)).toEqual([
      '--model',
      '/m/q4.gguf',
      '--host',
      '127.0.0.1',
      '--port',
      '9001',
      '--parallel',
      '8',
      '--ctx-size',
      '16384',
      '--batch-size',
      '512',
      '--seed',
      '3',
      '--n-gpu-layers',
      '0',
      '--alias',
      'q',
    ]);
  });

  it('refuses flags llama-server has no counterpart for, by name', () => {
    const opts = ServeOptionsSchema.parse({
      model: '/m/q4.gguf',
      block_size: 16,
      gpu_memory_utilization: 0.5,
    });
    expect(() => llamaServerArgs(opts, 1)).toThrow(/--gpu-memory-utilization, --block-size/);
    expect(() => llamaServerArgs(ServeOptionsSchema.parse({ model: '/m/model' }), 1)).toThrow(
      /not a \.gguf path/,
    );
  });
});

describe('vllm backend with a stand-in vllm', () => {
  it('answers 503 while the child starts, then serves through it, and stops it on shutdown', async () => {
    const rec = recordFile();
    const s = await spawnServe(
      [
        '/models/llama',
        '--backend',
        'vllm',
        '--backend-executable',
        STAND_IN,
        '--served-model-name',
        'llama',
        '--max-model-len',
        '2048',
        '--seed',
        '5',
      ],
      {
        STANDIN_RECORD: rec,
        STANDIN_START_DELAY_MS: '2500',
      },
    );
    running.push(s);
    await until(
      async () => (await fetch(`${s.url}/health`).catch(() => null)) !== null,
      20_000,
      'the runner to listen',
    );
    const early = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'llama', prompt: 'x' }),
    });
    expect(early.status).toBe(503);
    expect(((await early.json()) as { error: { type: string } }).error.type).toBe(
      'service_unavailable_error',
    );
    expect((await fetch(`${s.url}/health`)).status).toBe(503);

    await waitReady(s, 30_000);
    const { argv } = recorded(rec);
    expect(argv.slice(0, 3)).toEqual(['serve', '/models/llama', '--host']);
    expect(argv).toContain('--max-model-len');
    expect(argv[argv.indexOf('--seed') + 1]).toBe('5');

    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'none' });
    const done = await client.completions.create({ model: 'llama', prompt: 'Hi', max_tokens: 4 });
    expect(done.choices[0]!.text).toBe('Once upon a time');
    expect(done.usage?.completion_tokens).toBe(4);
    const chunks: string[] = [];
    for await (const c of await client.chat.completions.create({
      model: 'llama',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 3,
      stream: true,
    })) {
      chunks.push(c.choices[0]?.delta.content ?? '');
    }
    expect(chunks.join('')).toBe('Once upon a');
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/vllm:kv_cache_usage_perc\{model_name="llama"\} 0.25/);

    await s.stop();
    expect(await s.exited).toBe(0);
    expect(recorded(rec).lines).toContain('SIGTERM');
    expect(() => process.kill(recorded(rec).pid, 0)).toThrow();
  });

  it('exits with the child output when the child dies before it is ready', async () => {
    const s = await spawnServe(
      ['/models/llama', '--backend', 'vllm', '--backend-executable', STAND_IN],
      { STANDIN_EXIT_BEFORE_READY: '3' },
    );
    running.push(s);
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/vllm exited before it was ready \(exit code 3\)/);
    expect(s.output()).toMatch(/out of memory \(simulated\)/);
  });

  it('says how to fix a missing executable', async () => {
    const s = await spawnServe([
      '/models/llama',
      '--backend',
      'vllm',
      '--backend-executable',
      '/nonexistent/vllm',
    ]);
    running.push(s);
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/cannot start vllm \(\/nonexistent\/vllm\).*--backend-executable/);
  });

  it('notices a crash at once: health and requests answer 503 with the child output', async () => {
    const rec = recordFile();
    const s = await spawnServe(
      ['/models/llama', '--backend', 'vllm', '--backend-executable', STAND_IN],
      { STANDIN_RECORD: rec },
    );
    running.push(s);
    await waitReady(s, 30_000);
    process.kill(recorded(rec).pid, 'SIGKILL');
    await until(
      async () => (await fetch(`${s.url}/health`)).status === 503,
      5_000,
      'health to turn 503',
    );
    const res = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'x' }),
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /vllm exited unexpectedly \(signal SIGKILL\)/,
    );
  });

  it('kills a child that ignores SIGTERM', async () => {
    const rec = recordFile();
    const s = await spawnServe(
      ['/models/llama', '--backend', 'vllm', '--backend-executable', STAND_IN],
      { STANDIN_RECORD: rec, STANDIN_IGNORE_SIGTERM: '1' },
    );
    running.push(s);
    await waitReady(s, 30_000);
    await s.stop();
    expect(recorded(rec).lines).toContain('SIGTERM');
    expect(() => process.kill(recorded(rec).pid, 0)).toThrow();
  }, 30_000);
});

describe('llamacpp backend with a stand-in llama-server', () => {
  it('serves a GGUF through llama-server, translating /tokenize', async () => {
    const rec = recordFile();
    const s = await spawnServe(
      [
        '/models/tiny.gguf',
        '--backend',
        'llamacpp',
        '--backend-executable',
        STAND_IN,
        '--served-model-name',
        'tiny',
        '--max-model-len',
        '1024',
        '--max-num-seqs',
        '2',
      ],
      { STANDIN_RECORD: rec },
    );
    running.push(s);
    await waitReady(s, 30_000);
    const { argv } = recorded(rec);
    expect(argv).toEqual([
      '--model',
      '/models/tiny.gguf',
      '--host',
      '127.0.0.1',
      '--port',
      argv[5],
      '--parallel',
      '2',
      '--ctx-size',
      '2048',
      '--n-gpu-layers',
      '999',
      '--alias',
      'tiny',
    ]);
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'none' });
    const done = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 2,
    });
    expect(done.choices[0]!.message.content).toBe('Once upon');
    const tok = (await (
      await fetch(`${s.url}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: 'AB' }) })
    ).json()) as { tokens: number[]; count: number };
    expect(tok).toMatchObject({ tokens: [65, 66], count: 2 });
    const detok = (await (
      await fetch(`${s.url}/detokenize`, {
        method: 'POST',
        body: JSON.stringify({ tokens: [72, 105] }),
      })
    ).json()) as { prompt: string };
    expect(detok.prompt).toBe('Hi');
  });

  it('refuses an unsupported flag before anything starts', async () => {
    const s = await spawnServe([
      '/models/tiny.gguf',
      '--backend',
      'llamacpp',
      '--backend-executable',
      STAND_IN,
      '--block-size',
      '16',
    ]);
    running.push(s);
    expect(await s.exited).not.toBe(0);
    expect(s.output()).toMatch(/does not support --block-size/);
  });
});
