// The management commands against the real server (SQLite; REDIS_URL, else its private redis-server)
// and a worker started in the test with a declared GPU inventory (runners on the CPU engine):
// registrations, plans, cluster views, launch to ready, chat, list and terminate as a user runs them.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli-io.ts';
import { run as chat } from '../src/commands/chat.ts';
import { run as devices } from '../src/commands/devices.ts';
import { run as launch } from '../src/commands/launch.ts';
import { run as list } from '../src/commands/list.ts';
import { run as plan } from '../src/commands/plan.ts';
import { run as register } from '../src/commands/register.ts';
import { run as registrations } from '../src/commands/registrations.ts';
import { run as terminate } from '../src/commands/terminate.ts';
import { run as unregister } from '../src/commands/unregister.ts';
import { run as workers } from '../src/commands/workers.ts';
import { startCliCluster, type CliCluster } from './cli-cluster.ts';

const MODELS = resolve(import.meta.dirname, '../../../../shared/models');
const ADMIN_KEY = 'cli-test-admin-key-0123456789';
let cluster: CliCluster;

function capture(env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    env: { PAGODA_ENDPOINT: cluster.server.url, PAGODA_API_KEY: ADMIN_KEY, PAGODA_POLL_MS: '50', ...env },
    isTTY: false,
    stdinIsTTY: true,
    readStdin: async () => '',
  };
  return { io, out: () => out, err: () => err };
}

beforeAll(async () => {
  cluster = await startCliCluster('cli-test', ADMIN_KEY);
});

afterAll(async () => {
  await cluster?.close();
});

describe('the CLI against the server', () => {
  it('shows the worker and its declared GPUs', async () => {
    const w = capture();
    expect(await workers([], w.io)).toBe(0);
    expect(w.out()).toMatch(
      /^WORKER +HOST +ADDRESS +STATUS +GPUS +REPLICAS +HEARTBEAT\ncli-test-worker +\S+ +127\.0\.0\.1 +alive +2 +0 +\d+s ago\n$/,
    );
    const d = capture();
    expect(await devices([], d.io)).toBe(0);
    const lines = d.out().trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^cli-test-worker +0 +declared 24G \(declared\) +0 B +0 B +24\.0 GiB/);
  });

  it('lists the catalog, registers a checkpoint folder and removes it again', async () => {
    const all = capture();
    expect(await registrations([], all.io)).toBe(0);
    // Abilities as served: the builtin engine serves qwen3's tools (hermes) and reasoning (qwen3).
    expect(all.out()).toMatch(/\nqwen3 +builtin +chat,generate,tools,reasoning +40960 +qwen3\n/);
    const reg = capture();
    expect(await register(['tiny-q3', '--model-path', join(MODELS, 'tiny-qwen3')], reg.io)).toBe(0);
    const custom = capture();
    await registrations(['--custom'], custom.io);
    expect(custom.out()).toMatch(/\ntiny-q3 +custom +generate +2048 +Qwen3ForCausalLM\n$/);
    const twice = capture();
    expect(await register(['tiny-q3', '--model-path', join(MODELS, 'tiny-qwen3')], twice.io)).toBe(
      1,
    );
    expect(twice.err()).toMatch(/already registered.*\(HTTP 409\)/);
    const bad = capture();
    expect(await register(['nowhere', '--model-path', join(MODELS, 'no-such-model')], bad.io)).toBe(
      1,
    );
    expect(bad.err()).toMatch(/model_path: .*no-such-model does not exist \(HTTP 400\)/);
    expect(await unregister(['tiny-q3'], capture().io)).toBe(0);
    const gone = capture();
    expect(await unregister(['tiny-q3'], gone.io)).toBe(1);
    expect(gone.err()).toMatch(/no custom model named 'tiny-q3' is registered \(HTTP 404\)/);
  });

  it('plans on the declared GPUs, and shows what would fit when a launch cannot', async () => {
    const fits = capture();
    expect(await plan(['qwen2.5-instruct', '-s', '7'], fits.io)).toBe(0);
    expect(fits.out()).toMatch(/^fits: 1 replica on cli-test-worker GPU 0/);
    expect(fits.out()).toMatch(/\n0 +cli-test-worker +0 +24\.0 GiB +14\.2 GiB /);
    const refused = capture();
    expect(await plan(['llama-3.1-instruct', '-s', '8'], refused.io)).toBe(1);
    expect(refused.out()).toMatch(/^The model does not fit: /);
    // The builtin engine runs a replica on one GPU: the plan does not suggest spreading it.
    expect(refused.out()).toMatch(/Would fit with:\n {2}--max-model-len \d+ /);
    expect(refused.out()).not.toMatch(/tensor-parallel-size/);
    const vllm = capture();
    expect(await plan(['llama-3.1-instruct', '-s', '8', '--model-engine', 'vllm'], vllm.io)).toBe(1);
    expect(vllm.out()).toMatch(/\n {2}--tensor-parallel-size 2 /);
  });

  it('launches, lists and terminates a model, and reports a uid that is not launched', async () => {
    const started = capture();
    expect(
      await launch(
        [
          'qwen2.5-instruct',
          '-s',
          '0.5',
          '-u',
          'cli-qwen',
          '--max-model-len',
          '4096',
          '--gpu-memory-utilization',
          '0.5',
          '--no-wait',
        ],
        started.io,
      ),
    ).toBe(0);
    expect(started.out()).toBe('cli-qwen\n');
    const listed = capture();
    expect(await list([], listed.io)).toBe(0);
    // The download fails here (no network): once it has, `list` adds the replica's reason under the row.
    expect(listed.out()).toMatch(
      /\ncli-qwen +qwen2\.5-instruct +builtin +safetensors +0\.5 +none +0\/1 +\w+\n(cli-qwen \w+: .+\n)?$/,
    );
    expect(await terminate(['cli-qwen'], capture().io)).toBe(0);
    const missing = capture();
    expect(await terminate(['cli-qwen'], missing.io)).toBe(1);
    expect(missing.err()).toMatch(/model 'cli-qwen' is not launched.*\(HTTP 404\)/);
    const refused = capture();
    expect(await launch(['qwen2.5-instruct', '-s', '72'], refused.io)).toBe(1);
    expect(refused.err()).toMatch(/does not fit/);
  });

  it('launches a registered checkpoint to ready with a progress bar and chats with it', async () => {
    const template = '{% for m in messages %}{{ m.content }}{% endfor %}';
    expect(
      await register(
        ['stories', '--model-path', join(MODELS, 'stories260k'), '--chat-template', template],
        capture().io,
      ),
    ).toBe(0);
    const started = capture();
    expect(await launch(['stories', '-u', 'cli-stories', '--timeout', '120'], started.io)).toBe(0);
    const lines = started.out().trim().split('\n');
    expect(lines[0]).toBe('Launching stories as cli-stories');
    expect(lines.some((l) => /^\[#*-+\] +\d+% launching/.test(l))).toBe(true);
    expect(lines.at(-2)).toMatch(/^\[#{30}\] 100% ready$/);
    expect(lines.at(-1)).toBe(
      `Model cli-stories is ready: send requests with "model": "cli-stories" to ${cluster.server.url}/v1`,
    );
    const listed = capture();
    await list([], listed.io);
    expect(listed.out()).toMatch(
      /\ncli-stories +stories +builtin +safetensors +\S+ +none +1\/1 +ready\n/,
    );
    // A running replica holds its claim (gpu_memory_utilization 0.9 of what CUDA can use of the 24 GiB:
    // the card less the driver's reserve); one that failed would not.
    const d = capture();
    await devices([], d.io);
    expect(d.out()).toMatch(/cli-test-worker +\d +declared 24G \(declared\) +\S+ B? *21\.1 GiB +24\.0 GiB/);
    const talk = capture();
    expect(
      await chat(
        ['cli-stories', '-m', 'Once upon a time', '--max-tokens', '12', '--temperature', '0'],
        talk.io,
      ),
    ).toBe(0);
    expect(talk.out().trim().length).toBeGreaterThan(0);
    expect(await terminate(['cli-stories'], capture().io)).toBe(0);
    expect(await unregister(['stories'], capture().io)).toBe(0);
  });

  it('asks for the admin key when none is given', async () => {
    const c = capture({ PAGODA_API_KEY: '' });
    expect(await list([], c.io)).toBe(1);
    expect(c.err()).toMatch(/\(give --api-key or set PAGODA_API_KEY\) \(HTTP 401\)/);
  });
});
