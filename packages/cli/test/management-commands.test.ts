// The management commands against a stand-in server: the requests they send, what they print, their
// exit codes, and how they report the server's refusals and an unreachable server.
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli-io.ts';
import { launchBody, parseLaunchArgv } from '../src/launch-flags.ts';
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
import { formatBytes } from '../src/format/bytes.ts';
import { ProgressLine, renderBar } from '../src/format/progress-bar.ts';
import { startFakePagoda, type FakePagoda } from './fake-pagoda.ts';

let fake: FakePagoda;
beforeAll(async () => {
  fake = await startFakePagoda();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.apiKey = undefined;
});

interface Captured {
  io: CliIo;
  out: () => string;
  err: () => string;
}

function capture(env: NodeJS.ProcessEnv = {}): Captured {
  let out = '';
  let err = '';
  return {
    io: {
      out: (t) => void (out += t),
      err: (t) => void (err += t),
      env: { PAGODA_ENDPOINT: fake.url, PAGODA_POLL_MS: '5', ...env },
      isTTY: false,
      stdinIsTTY: true,
      readStdin: async () => '',
    },
    out: () => out,
    err: () => err,
  };
}

const body = (argv: string[]) => {
  const { values, positionals } = parseLaunchArgv(argv);
  return launchBody(values, positionals);
};

describe('launch flags', () => {
  it('build the POST /v1/models body in Xinference’s names', () => {
    expect(
      body([
        'qwen2.5-instruct',
        '-s',
        '1.5',
        '-f',
        'pytorch',
        '--model-engine',
        'vllm',
        '--gpu-idx',
        '0,1',
        '--n-gpu',
        'auto',
        '-r',
        '2',
        '--max-model-len',
        '4096',
        '--enforce-eager',
        '--no-enable-prefix-caching',
      ]),
    ).toEqual({
      model_name: 'qwen2.5-instruct',
      model_size_in_billions: '1_5',
      model_format: 'pytorch',
      model_engine: 'vllm',
      gpu_idx: [0, 1],
      n_gpu: 'auto',
      replica: 2,
      max_model_len: 4096,
      enforce_eager: true,
      enable_prefix_caching: false,
    });
    expect(body(['bge-m3', '--model-type', 'embedding'])).toEqual({
      model_name: 'bge-m3',
      model_type: 'embedding',
    });
    expect(body(['bge-reranker-base', '-t', 'rerank'])).toMatchObject({ model_type: 'rerank' });
    expect(body(['--model-name', 'qwen3', '-s', '8', '--gpu-memory-utilization', '0.5'])).toEqual({
      model_name: 'qwen3',
      model_size_in_billions: 8,
      gpu_memory_utilization: 0.5,
    });
  });

  it('name the flag at fault', () => {
    expect(() => body([])).toThrow(/name the model/);
    expect(() => body(['m', '--max-model-len', 'long'])).toThrow(
      /--max-model-len takes an integer, got 'long'/,
    );
    expect(() => body(['m', '--gpu-idx', '0;1'])).toThrow(
      /--gpu-idx takes GPU indices separated by commas/,
    );
    expect(() => body(['m', '--gpu-memory-utilization', '1.5'])).toThrow(
      /^--gpu-memory-utilization: /,
    );
    expect(() => body(['m', '--block-size', '7'])).toThrow(
      /--block-size: must be one of 8, 16, 32, 64, 128/,
    );
    expect(() => body(['m', '--model-uid', 'bad uid'])).toThrow(/--model-uid: /);
    expect(() => body(['m', '--model-type', 'image'])).toThrow(/^--model-type: /);
    expect(() => body(['a', 'b'])).toThrow(/one model at a time/);
    expect(() => body(['a', '--model-name', 'b'])).toThrow(/named twice/);
  });
});

describe('pagoda launch', () => {
  it('posts the launch and draws progress until the model is ready', async () => {
    fake.progress = [
      { progress: 0, status: 'pending' },
      {
        progress: 0.3,
        status: 'launching',
        replicas: [{ status: 'downloading', progress: 0.3, phase: 'download' }],
      },
      {
        progress: 0.7,
        status: 'launching',
        replicas: [{ status: 'loading', progress: 0.7, phase: 'load' }],
      },
      { progress: 1, status: 'ready' },
    ];
    const c = capture({ PAGODA_API_KEY: 'admin-key' });
    expect(await launch(['qwen3', '-s', '0.6', '--model-uid', 'q3'], c.io)).toBe(0);
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/models',
      body: { model_name: 'qwen3', model_uid: 'q3', model_size_in_billions: '0_6' },
      authorization: 'Bearer admin-key',
    });
    const lines = c.out().trim().split('\n');
    expect(lines[0]).toBe('Launching qwen3 as q3');
    expect(lines).toContain(`${renderBar(0.3)} launching (download)`);
    expect(lines).toContain(`${renderBar(0.7)} launching (load)`);
    expect(lines).toContain(`${renderBar(1)} ready`);
    expect(lines.at(-1)).toBe(
      `Model q3 is ready: send requests with "model": "q3" to ${fake.url}/v1`,
    );
  });

  it('exits 1 with the replica’s last error when the launch fails', async () => {
    fake.progress = [
      {
        progress: 0.5,
        status: 'failed',
        replicas: [{ status: 'failed', last_error: 'CUDA out of memory' }],
      },
    ];
    const c = capture();
    expect(await launch(['qwen3', '-u', 'q3'], c.io)).toBe(1);
    expect(c.err()).toBe('Model q3 failed to start: CUDA out of memory\n');
  });

  it('returns at once with --no-wait, and reports a model that vanished while starting', async () => {
    const quick = capture();
    expect(await launch(['qwen3', '-u', 'q9', '--no-wait'], quick.io)).toBe(0);
    expect(quick.out()).toBe('q9\n');
    fake.progress = [];
    const gone = capture();
    expect(await launch(['qwen3', '-u', 'q9'], gone.io)).toBe(1);
    expect(gone.err()).toMatch(/Model q9 is gone .*model 'q9' is not launched/);
  });

  it('says how to fix a missing key, and an unreachable server', async () => {
    fake.apiKey = 'secret';
    const denied = capture();
    expect(await list([], denied.io)).toBe(1);
    expect(denied.err()).toBe(
      'pagoda list: this route needs an admin API key (give --api-key or set PAGODA_API_KEY) (HTTP 401)\n',
    );
    const allowed = capture();
    expect(await list(['--api-key', 'secret'], allowed.io)).toBe(0);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const down = capture();
    expect(await list(['-e', `http://127.0.0.1:${port}`], down.io)).toBe(1);
    expect(down.err()).toMatch(
      /cannot reach the Pagoda server at http:\/\/127.0.0.1:\d+ \(ECONNREFUSED\); is it running\? Point --endpoint or PAGODA_ENDPOINT at it/,
    );
  });

  it('rejects unknown flags with the usage and exit code 2', async () => {
    const c = capture();
    expect(await launch(['qwen3', '--gpus', '2'], c.io)).toBe(2);
    expect(c.err()).toMatch(/Unknown option '--gpus'[\s\S]*usage: pagoda launch/);
  });
});

describe('pagoda list / terminate', () => {
  it('tabulates launched models with ready replicas', async () => {
    fake.models = [
      {
        model_uid: 'q3',
        model_name: 'qwen3',
        model_engine: 'builtin',
        model_format: 'safetensors',
        model_size_in_billions: 0.6,
        quantization: 'none',
        replica: 2,
        status: 'degraded',
        replicas: [{ status: 'ready' }, { status: 'loading' }],
      },
    ];
    const c = capture();
    expect(await list([], c.io)).toBe(0);
    expect(c.out()).toBe(
      'UID  MODEL  ENGINE   FORMAT       SIZE (B)  QUANT  READY  STATUS\nq3   qwen3  builtin  safetensors  0.6       none   1/2    degraded\n',
    );
    fake.models = [];
    const empty = capture();
    await list([], empty.io);
    expect(empty.out()).toMatch(/No models are launched/);
  });

  it('says why a model failed, from its last error or its replicas’ (a JSON log line read as its message)', async () => {
    const failed = {
      model_name: 'm',
      model_engine: 'builtin',
      model_format: 'safetensors',
      model_size_in_billions: 1,
      quantization: 'none',
      replica: 1,
    };
    fake.models = [
      {
        ...failed,
        model_uid: 'a',
        status: 'failed',
        last_error: 'starting runner\nmodel_path: /gone does not exist',
        replicas: [],
      },
      {
        ...failed,
        model_uid: 'b',
        status: 'failed',
        last_error: null,
        replicas: [
          {
            index: 0,
            status: 'failed',
            last_error: '{"level":50,"msg":"load failed","err":{"message":"out of memory"}}',
          },
        ],
      },
    ];
    const c = capture();
    expect(await list([], c.io)).toBe(0);
    expect(c.out().split('\n').slice(3)).toEqual([
      'a failed: model_path: /gone does not exist',
      'b failed: replica 0 (failed): load failed: out of memory',
      '',
    ]);
  });

  it('terminates each uid and surfaces the server’s 404', async () => {
    const c = capture();
    expect(await terminate(['a', 'b'], c.io)).toBe(0);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'DELETE /v1/models/a',
      'DELETE /v1/models/b',
    ]);
    const missing = capture();
    expect(await terminate(['missing'], missing.io)).toBe(1);
    expect(missing.err()).toBe(
      "pagoda terminate: model 'missing' is not launched; see GET /v1/models (HTTP 404)\n",
    );
    expect(await terminate([], capture().io)).toBe(2);
  });
});

describe('registrations', () => {
  it('registers a folder, refuses two sources, and shows the server’s reason', async () => {
    const c = capture();
    expect(
      await register(
        [
          'mine',
          '--model-path',
          '/models/mine',
          '--context-length',
          '2048',
          '--chat-template',
          '{{ messages }}',
        ],
        c.io,
      ),
    ).toBe(0);
    expect(fake.requests[0]).toMatchObject({
      path: '/v1/model_registrations/LLM',
      body: {
        model_name: 'mine',
        model_path: '/models/mine',
        context_length: 2048,
        chat_template: '{{ messages }}',
      },
    });
    expect(c.out()).toMatch(/Registered mine; launch it with `pagoda launch mine`/);
    expect(await register(['mine', '--model-path', 'a', '--hf-repo-id', 'o/n'], capture().io)).toBe(
      2,
    );
    const bad = capture();
    expect(await register(['bad', '--model-path', '/nowhere'], bad.io)).toBe(1);
    expect(bad.err()).toBe('pagoda register: model_path: /nowhere does not exist (HTTP 400)\n');
  });

  it('names --model-path when a folder follows the name, and sends nothing', async () => {
    const before = fake.requests.length;
    const folder = capture();
    expect(await register(['mine', process.cwd()], folder.io)).toBe(2);
    expect(folder.err()).toContain(
      `give the checkpoint folder with --model-path: pagoda register mine --model-path ${process.cwd()}`,
    );
    const two = capture();
    expect(await register(['mine', 'not-a-folder-here'], two.io)).toBe(2);
    expect(two.err()).toContain('one model at a time; got mine not-a-folder-here');
    expect(fake.requests.length).toBe(before);
  });

  it('sends a relative --model-path as the folder it names from the current directory', async () => {
    expect(await register(['rel', '--model-path', 'models/rel'], capture().io)).toBe(0);
    expect(fake.requests.at(-1)!.body).toEqual({
      model_name: 'rel',
      model_path: join(process.cwd(), 'models', 'rel'),
    });
  });

  it('--update sends only the flags given as a PATCH, and says how to restart a launched model', async () => {
    const c = capture();
    expect(await register(['mine', '--update', '--chat-template', '{{ x }}'], c.io)).toBe(0);
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'PATCH',
      path: '/v1/model_registrations/LLM/mine',
      body: { chat_template: '{{ x }}' },
    });
    expect(c.out()).toBe(
      'Updated mine. It is launched as mine, which keeps the old settings: `pagoda terminate mine`, then `pagoda launch mine`\n',
    );
  });

  it('lists built-in and custom models, and unregisters', async () => {
    fake.registrations = [
      {
        model_name: 'qwen3',
        source: 'builtin',
        model_ability: ['chat', 'generate'],
        context_length: 40960,
        model_specs: [
          { model_format: 'safetensors', model_size_in_billions: 0.6 },
          { model_format: 'safetensors', model_size_in_billions: 8 },
          { model_format: 'gguf', model_size_in_billions: 8 },
        ],
      },
      {
        model_name: 'mine',
        is_builtin: false,
        model_family: 'LlamaForCausalLM',
        model_ability: ['generate'],
        context_length: 2048,
      },
    ];
    const all = capture();
    expect(await registrations([], all.io)).toBe(0);
    expect(all.out()).toMatch(
      /^MODEL +SOURCE +ABILITIES +CONTEXT +FAMILY \/ FORMATS\nqwen3 +builtin +chat,generate +40960 +safetensors 0.6\/8B, gguf 8B\nmine +custom +generate +2048 +LlamaForCausalLM\n$/,
    );
    const custom = capture();
    await registrations(['--custom'], custom.io);
    expect(custom.out().split('\n').length).toBe(3);
    const gone = capture();
    expect(await unregister(['mine'], gone.io)).toBe(0);
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: '/v1/model_registrations/LLM/mine',
    });
    // -t is Xinference's short flag for the type, on every registration command
    await registrations(['-t', 'embedding'], capture().io);
    expect(fake.requests.at(-1)!.path).toMatch(/^\/v1\/model_registrations\/embedding/);
    expect(await unregister(['mine', '-t', 'rerank'], capture().io)).toBe(0);
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: '/v1/model_registrations/rerank/mine',
    });
    expect(await register(['e', '-t', 'embedding', '--model-path', '/m/e'], capture().io)).toBe(0);
    expect(fake.requests.at(-1)!.path).toBe('/v1/model_registrations/embedding');
  });
});

describe('pagoda plan', () => {
  const GiB = 2 ** 30;
  const gpu = {
    worker: 'w1',
    index: 0,
    total: 24 * GiB,
    weights: 16 * GiB,
    activations: 0.5 * GiB,
    cuda_graphs: 0.5 * GiB,
    overhead: 0.5 * GiB,
    kv_cache: 4 * GiB,
    kv_cache_tokens: 32768,
    claim: 21.6 * GiB,
    free_after: 2.4 * GiB,
  };

  it('prints each GPU’s share and exits 0 when it fits', async () => {
    const planned = {
      fits: true,
      message: 'fits: 1 replica on w1 GPU 0',
      replicas: [{ replica: 0, worker: 'w1', gpus: [gpu] }],
      suggestions: [],
    };
    fake.plan = [
      200,
      {
        model_name: 'llama-3-instruct',
        fits: true,
        message: planned.message,
        replicas: [{ worker: 'w1', gpu_idx: [0], bytes_per_device: gpu.claim }],
        plan: planned,
      },
    ];
    const c = capture();
    expect(await plan(['llama-3-instruct', '-s', '8'], c.io)).toBe(0);
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      path: '/api/plan',
      body: { model_name: 'llama-3-instruct', model_size_in_billions: 8 },
    });
    expect(c.out()).toMatch(
      /^fits: 1 replica on w1 GPU 0\n\nREPLICA +WORKER +GPU +TOTAL +WEIGHTS +ACTIVATIONS +CUDA GRAPHS +KV CACHE +KV TOKENS +CLAIM +FREE AFTER\n0 +w1 +0 +24\.0 GiB +16\.0 GiB +512 MiB +512 MiB +4\.00 GiB +32768 +21\.6 GiB +2\.40 GiB\n/,
    );
  });

  it('prints where CPU replicas go when the plan has no GPU numbers', async () => {
    fake.plan = [
      200,
      {
        fits: true,
        device: 'cpu',
        message: 'fits on the CPU of w1',
        replicas: [{ worker: 'w1', gpu_idx: [], bytes_per_device: 3 * 2 ** 20 }],
        plan: null,
      },
    ];
    const c = capture();
    expect(await plan(['tiny', '--n-gpu', '0'], c.io)).toBe(0);
    expect(c.out()).toBe(
      'fits on the CPU of w1\n\nREPLICA  WORKER  DEVICE  CLAIM\n0        w1      cpu     3.00 MiB\n',
    );
  });

  it('prints the refusal with the flags that would fit, from a 200 or an error carrying the plan', async () => {
    const refused = {
      fits: false,
      message: 'The model does not fit: GPU 0 holds 42000 tokens',
      breakdown: gpu,
      suggestions: [
        { setting: 'max_model_len', value: 42000, message: 'lower max_model_len to <= 42000' },
      ],
    };
    fake.plan = [200, refused];
    const c = capture();
    expect(await plan(['llama-3.1-instruct'], c.io)).toBe(1);
    expect(c.out()).toMatch(/\(roomiest GPU\)/);
    expect(c.out()).toMatch(
      /Would fit with:\n {2}--max-model-len 42000 {4}\(lower max_model_len to <= 42000\)\n$/,
    );
    fake.plan = [409, { error: { message: refused.message }, plan: refused }];
    const carried = capture();
    expect(await plan(['llama-3.1-instruct'], carried.io)).toBe(1);
    expect(carried.out()).toMatch(/--max-model-len 42000/);
  });
});

describe('pagoda chat', () => {
  it('streams the reply of one message, or waits for it with --no-stream', async () => {
    const c = capture();
    expect(
      await chat(['q3', '-m', 'there', '--system', 'be brief', '--max-tokens', '16'], c.io),
    ).toBe(0);
    expect(c.out()).toBe('Hello from there\n');
    expect(fake.requests[0]!.body).toMatchObject({
      model: 'q3',
      stream: true,
      max_tokens: 16,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'there' },
      ],
    });
    const whole = capture();
    expect(await chat(['q3', '-m', 'you', '--no-stream'], whole.io)).toBe(0);
    expect(whole.out()).toBe('Hello from you\n');
  });

  it('reads the message from standard input when it is not a terminal', async () => {
    const c = capture();
    c.io.stdinIsTTY = false;
    c.io.readStdin = async () => 'piped\n';
    expect(await chat(['q3'], c.io)).toBe(0);
    expect(c.out()).toBe('Hello from piped\n');
  });
});

describe('pagoda workers / devices', () => {
  it('tabulates workers with their GPUs and heartbeat age', async () => {
    fake.workers = [
      {
        worker: 'gpu-a',
        host: 'a.local',
        address: '10.0.0.1',
        status: 'alive',
        gpus: 8,
        replicas: 2,
        last_heartbeat: new Date(Date.now() - 3000).toISOString(),
      },
      {
        worker_id: 'gpu-b',
        host: 'b.local',
        address: '10.0.0.2',
        status: 'lost',
        devices: [
          { kind: 'cpu', index: -1 },
          { kind: 'gpu', index: 0, declared: true },
        ],
        replicas: [{}],
        last_heartbeat: new Date(Date.now() - 3 * 3600_000).toISOString(),
      },
    ];
    const c = capture();
    expect(await workers([], c.io)).toBe(0);
    expect(c.out()).toMatch(
      /^WORKER +HOST +ADDRESS +STATUS +GPUS +REPLICAS +HEARTBEAT\ngpu-a +a\.local +10\.0\.0\.1 +alive +8 +2 +[34]s ago\ngpu-b +b\.local +10\.0\.0\.2 +lost +1 \(declared\) +1 +3h ago\n$/,
    );
  });

  it('lists GPUs flat or grouped per worker, with memory used, claimed and total', async () => {
    fake.devices = [
      {
        worker_id: 'gpu-a',
        devices: [
          { kind: 'cpu', index: -1, name: 'cpu' },
          {
            kind: 'gpu',
            index: 0,
            name: 'H100',
            memory_total: 80 * 2 ** 30,
            memory_used: 2 ** 30,
            memory_claimed: 72 * 2 ** 30,
            utilization: 35,
          },
        ],
      },
      {
        worker: 'gpu-b',
        kind: 'gpu',
        index: 1,
        name: 'L4',
        memory_total: 24 * 2 ** 30,
        memory_used: 0,
        utilization: 0,
      },
    ];
    const c = capture();
    expect(await devices([], c.io)).toBe(0);
    expect(c.out()).toBe(
      'WORKER  GPU  NAME  USED      CLAIMED   TOTAL     UTIL\ngpu-a   0    H100  1.00 GiB  72.0 GiB  80.0 GiB  35%\ngpu-b   1    L4    0 B       -         24.0 GiB  0%\n',
    );
    const all = capture();
    await devices(['--all'], all.io);
    expect(all.out()).toMatch(/gpu-a +cpu +cpu/);
  });

  it('redraws the progress bar in place on a terminal and prints changes elsewhere', () => {
    let tty = '';
    const onTty = new ProgressLine((t) => void (tty += t), true);
    onTty.update(0.5, 'loading');
    onTty.update(0.5, 'loading');
    onTty.update(1, 'ready');
    onTty.finish();
    expect(tty).toBe(`\r\x1b[2K${renderBar(0.5)} loading\r\x1b[2K${renderBar(1)} ready\n`);
    let piped = '';
    const offTty = new ProgressLine((t) => void (piped += t), false);
    offTty.update(0.25, 'downloading');
    offTty.update(0.25, 'downloading');
    offTty.finish();
    expect(piped).toBe(`${renderBar(0.25)} downloading\n`);
    expect(renderBar(0.5, 10)).toBe('[#####-----]  50%');
  });

  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(16.06e9)).toBe('15.0 GiB');
    expect(formatBytes(undefined)).toBe('-');
  });
});
