// Benchmark (not a test): the cost of the HTTP layer. The same workload — S concurrent streams of random
// token-id prompts, ignore_eos, fixed lengths — through packages/engine directly and through a
// `pagoda serve` child process over HTTP/SSE; prints generated tokens/s of each and their ratio.
//
//   node --import tsx packages/runner/bench/http-overhead.ts [--model DIR] [--streams 64] [--requests 256]
//        [--input-len 64] [--output-len 128] [--device cpu] [--rounds 1] [--threads N]
//        [--client node|raw] [--pagoda CMD] [--out FILE.json]
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus } from 'node:os';
import { Engine } from '@pagoda/engine';
import { cpuThreads } from '../src/serve-options.ts';
import { request, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: `${REPO}../shared/models/stories260k` },
    streams: { type: 'string', default: '64' },
    requests: { type: 'string', default: '256' },
    'input-len': { type: 'string', default: '64' },
    'output-len': { type: 'string', default: '128' },
    device: { type: 'string', default: 'cpu' },
    // 'dummy': random weights from --model's config.json (give the config.json path)
    'load-format': { type: 'string', default: 'auto' },
    rounds: { type: 'string', default: '1' },
    // CPU engine threads for both paths (default: the runner's, every core but one)
    threads: { type: 'string' },
    port: { type: 'string', default: '18123' },
    // the command that acts as `pagoda` (e.g. "node serve-bundle.mjs" where tsx is not available)
    pagoda: { type: 'string' },
    // the client: 'node' (node:http) or 'raw' (a minimal keep-alive HTTP/1.1 client, less CPU per chunk)
    client: { type: 'string', default: 'node' },
    // write the figures of every round and their median as JSON here
    out: { type: 'string' },
  },
  strict: true,
});
const streams = Number(values.streams);
const total = Number(values.requests);
const inputLen = Number(values['input-len']);
const outputLen = Number(values['output-len']);
const rounds = Number(values.rounds);
const threads = cpuThreads(
  values.threads === undefined ? undefined : Number(values.threads),
  availableParallelism(),
);

/** Deterministic prompts of ordinary token ids (3..vocab-1 avoids <unk>, <s>, </s> of Llama tokenizers). */
function prompts(vocab: number): number[][] {
  let x = 12345;
  const next = () => ((x = (x * 1103515245 + 12345) % 2147483648), x);
  return Array.from({ length: total }, () =>
    Array.from({ length: inputLen }, () => 3 + (next() % (vocab - 3))),
  );
}

/** Runs `work` for every prompt with at most `streams` in flight; returns generated tokens/s. */
async function drive(
  all: number[][],
  work: (ids: number[]) => Promise<number>,
): Promise<{ tps: number; tokens: number; seconds: number }> {
  let nextIdx = 0;
  let tokens = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (nextIdx < all.length) {
        const got = await work(all[nextIdx++]!);
        tokens += got; // not `tokens += await …`: that reads `tokens` before the await
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { tps: tokens / seconds, tokens, seconds };
}

const engineOptions = {
  model: values.model!,
  device: values.device as 'cpu' | 'cuda' | 'auto',
  max_num_seqs: streams,
  num_threads: threads,
  load_format: values['load-format'] as 'auto' | 'dummy',
};
const params = { max_tokens: outputLen, temperature: 0, ignore_eos: true };

async function direct(all: number[][]) {
  const engine = await Engine.load(engineOptions);
  try {
    const cpu0 = cpuSample(process.pid);
    const result = await drive(all, async (ids) => {
      let n = 0;
      for await (const d of engine.generate(ids, params, {})) n += d.token_ids.length;
      return n;
    });
    return { ...result, cpu: cpuBusy(process.pid, cpu0, result.seconds) };
  } finally {
    await engine.close();
  }
}

/** CPU seconds (user + system) of a process or thread from a /proc stat file (Linux). */
function statCpuSeconds(path: string): number {
  const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** CPU seconds so far of a process: in all, on its main (JavaScript) thread, on its busiest other thread. */
interface CpuSample {
  total: number;
  main: number;
  threads: Map<string, number>;
}
function cpuSample(pid: number): CpuSample {
  const threads = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(tid, statCpuSeconds(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return {
    total: statCpuSeconds(`/proc/${pid}/stat`),
    main: threads.get(String(pid)) ?? 0,
    threads,
  };
}

/** Busy fractions over an interval: the whole process, its JavaScript thread, its busiest other thread (the engine's). */
function cpuBusy(pid: number, before: CpuSample, seconds: number) {
  const after = cpuSample(pid);
  let engine = 0;
  for (const [tid, t] of after.threads)
    if (tid !== String(pid)) engine = Math.max(engine, t - (before.threads.get(tid) ?? 0));
  return {
    process: (after.total - before.total) / seconds,
    js: (after.main - before.main) / seconds,
    engine: engine / seconds,
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

/**
 * One streamed completion over node:http with a minimal SSE scan (fetch's web streams cost more per
 * chunk than the server spends producing it, and the client must not be what limits the figure).
 * Returns the completion tokens the final usage event reports.
 */
function completionBody(ids: number[]): string {
  return JSON.stringify({
    model: 'm',
    prompt: ids,
    ...params,
    stream: true,
    stream_options: { include_usage: true },
  });
}

function streamCompletion(port: string, ids: number[]): Promise<number> {
  const body = completionBody(ids);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/completions',
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        let tail = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          // only the last event matters (usage); keep enough of the stream to find it
          tail = (tail + text).slice(-4096);
        });
        res.on('end', () => {
          const m = /"completion_tokens":(\d+)/.exec(tail.slice(tail.lastIndexOf('"usage"')));
          if (!m || !tail.includes('data: [DONE]'))
            return reject(new Error('stream ended without usage and [DONE]'));
          resolve(Number(m[1]));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The lighter client (--client raw): one keep-alive TCP connection per stream speaking just enough
 * HTTP/1.1 for one streamed POST at a time, with no HTTP parser or stream objects per chunk. On a
 * machine with few cores the client shares them with the runner and the engine, so its own cost
 * per chunk shows up in the figure it measures; this keeps that cost near a socket read per chunk.
 */
class RawConnection {
  private tail = '';
  private head = '';
  private waiting: { resolve: (n: number) => void; reject: (e: Error) => void } | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.onData(text));
    socket.on('error', (err) => this.finish(err));
    socket.on('close', () => this.finish(new Error('the runner closed the connection')));
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** POSTs a completion request; resolves with the completion tokens of the final usage event. */
  post(body: string): Promise<number> {
    this.tail = '';
    this.head = '';
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(
        `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(text: string): void {
    if (this.head.length < 16) this.head += text.slice(0, 16);
    this.tail = (this.tail + text).slice(-4096);
    // the zero-length chunk ends a chunked body; SSE payloads end in "\n\n", never in this
    if (!this.tail.endsWith('\r\n0\r\n\r\n')) return;
    if (!this.head.startsWith('HTTP/1.1 200')) return this.finish(new Error(this.head));
    const m = /"completion_tokens":(\d+)/.exec(this.tail.slice(this.tail.lastIndexOf('"usage"')));
    if (!m || !this.tail.includes('data: [DONE]'))
      return this.finish(new Error('stream ended without usage and [DONE]'));
    const w = this.waiting;
    this.waiting = null;
    w?.resolve(Number(m[1]));
  }

  private finish(err: Error): void {
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }
}

/** streamCompletion over a pool of RawConnections (one per concurrent stream at most). */
function rawClient(port: number) {
  const idle: RawConnection[] = [];
  const all: RawConnection[] = [];
  return {
    async stream(ids: number[]): Promise<number> {
      let conn = idle.pop();
      if (!conn) all.push((conn = await RawConnection.open(port)));
      const n = await conn.post(completionBody(ids));
      idle.push(conn);
      return n;
    },
    close: () => all.forEach((c) => c.close()),
  };
}

async function overHttp(all: number[][]) {
  const url = `http://127.0.0.1:${values.port}`;
  const [command, ...prefix] = (values.pagoda ?? `${REPO}bin/pagoda`).split(' ');
  const child = spawn(
    command!,
    [
      ...prefix,
      'serve',
      values.model!,
      '--port',
      values.port!,
      '--device',
      values.device!,
      '--max-num-seqs',
      String(streams),
      '--served-model-name',
      'm',
      '--cpu-threads',
      String(threads),
      '--load-format',
      values['load-format']!,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PAGODA_LOG_LEVEL: 'warn' },
    },
  );
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error('pagoda serve exited');
      const ok = await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const server0 = cpuSample(child.pid!);
    const client0 = cpuSample(process.pid);
    const raw = values.client === 'raw' ? rawClient(Number(values.port)) : null;
    const result = await drive(all, (ids) =>
      raw ? raw.stream(ids) : streamCompletion(values.port!, ids),
    );
    raw?.close();
    const runner = cpuBusy(child.pid!, server0, result.seconds);
    const client = cpuBusy(process.pid, client0, result.seconds);
    return { ...result, cpu: runner, clientCpu: client.process };
  } finally {
    child.kill('SIGTERM');
  }
}

const configPath = values.model!.endsWith('.json') ? values.model! : `${values.model}/config.json`;
const vocab = JSON.parse(readFileSync(configPath, 'utf8')).vocab_size as number;
const all = prompts(vocab);
console.log(
  `workload: ${total} requests, ${streams} concurrent streams, ${inputLen} in / ${outputLen} out (ignore_eos), model ${values.model}, device ${values.device}, ${threads} engine threads, ${values.client} client`,
);
const pct = (f: number) => `${(100 * f).toFixed(0)}%`;
const results: Array<{
  direct: number;
  http: number;
  ratio: number;
  perEngineCpu: number;
  detail: unknown;
}> = [];
for (let r = 0; r < rounds; r++) {
  const d = await direct(all);
  const h = await overHttp(all);
  console.log(
    `direct engine : ${d.tps.toFixed(0)} tok/s (${d.tokens} tokens in ${d.seconds.toFixed(2)} s; CPU busy: engine thread ${pct(d.cpu.engine)}, JS ${pct(d.cpu.js)})`,
  );
  console.log(
    `through HTTP  : ${h.tps.toFixed(0)} tok/s (${h.tokens} tokens in ${h.seconds.toFixed(2)} s; CPU busy: runner ${pct(h.cpu.process)} = engine thread ${pct(h.cpu.engine)} + JS ${pct(h.cpu.js)} + other; client ${pct(h.clientCpu)})`,
  );
  const perToken = (busy: number) => ((1e6 * busy * h.seconds) / h.tokens).toFixed(1);
  console.log(
    `per generated token: runner JS thread ${perToken(h.cpu.js)} µs, runner in all ${perToken(h.cpu.process)} µs, client ${perToken(h.clientCpu)} µs of CPU`,
  );
  const ratio = h.tps / d.tps;
  // Tokens per CPU-second of the engine thread: what HTTP costs the engine's own work, apart from
  // how much of a core other processes (builds, the client) left it in this round.
  const perEngineCpu = h.tps / h.cpu.engine / (d.tps / d.cpu.engine);
  console.log(
    `ratio HTTP/direct: ${ratio.toFixed(3)} (per engine-thread CPU second: ${perEngineCpu.toFixed(3)})`,
  );
  results.push({ direct: d.tps, http: h.tps, ratio, perEngineCpu, detail: { direct: d, http: h } });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ratios = results.map((r) => r.ratio);
const summary = {
  ratio_median: median(ratios),
  ratio_min: Math.min(...ratios),
  ratio_max: Math.max(...ratios),
  ratio_per_engine_cpu_median: median(results.map((r) => r.perEngineCpu)),
  direct_tps_median: median(results.map((r) => r.direct)),
  http_tps_median: median(results.map((r) => r.http)),
};
if (rounds > 1)
  console.log(
    `${rounds} rounds: ratio median ${summary.ratio_median.toFixed(3)} (min ${summary.ratio_min.toFixed(3)}, max ${summary.ratio_max.toFixed(3)}), per engine-thread CPU second ${summary.ratio_per_engine_cpu_median.toFixed(3)}; median tok/s direct ${summary.direct_tps_median.toFixed(0)}, HTTP ${summary.http_tps_median.toFixed(0)}`,
  );
if (values.out) {
  const workload = {
    requests: total,
    streams,
    input_len: inputLen,
    output_len: outputLen,
    model: values.model,
    device: values.device,
    engine_threads: threads,
  };
  const machine = {
    cpus: availableParallelism(),
    cpu_model: cpus()[0]?.model ?? null,
    node: process.version,
  };
  writeFileSync(
    values.out,
    JSON.stringify(
      { date: new Date().toISOString(), workload, machine, summary, rounds: results },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${values.out}`);
}
