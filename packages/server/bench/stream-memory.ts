// Benchmark (not a test): memory under 1,000 concurrent streams through the proxy on the CPU engine.
// A server (in this process), a worker and one stories260k runner; a client process opens the streams.
// Prints server and runner RSS and heap before, every second during, and 60 s after; the reference is
// the "before" figure of the same run. Run with --expose-gc: before and after are read after a full
// collection, in this process directly and in the runner through gc-on-signal.mjs (SIGUSR2), so
// garbage not yet collected is not taken for a leak.
//
//   node --expose-gc --import tsx packages/server/bench/stream-memory.ts [--streams 1000]
//        [--max-tokens 64] [--after 60] [--rounds 1] [--prefix-caching on|off] [--out bench/results/FILE.json]
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startOneWorkerCluster, TEMPLATE } from '../test/one-worker-cluster.ts';
import { STORIES, waitFor } from '../test/platform-helpers.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    'max-tokens': { type: 'string', default: '64' },
    after: { type: 'string', default: '60' },
    // repeat streams + wait: memory that climbs again each round is a leak, a plateau is not
    rounds: { type: 'string', default: '1' },
    // 'off' launches the runner without prefix caching: with it on, the cache keeps freed KV blocks'
    // data, so the KV pool's resident pages stay at what the cache holds (at most the peak in use);
    // off, the engine gives every block's pages back when idle
    'prefix-caching': { type: 'string', default: 'on' },
    out: { type: 'string' },
  },
  strict: true,
});
const STREAMS = Number(values.streams);
const AFTER_S = Number(values.after);
const ROUNDS = Number(values.rounds);
const UID = 'memory';
const MiB = 2 ** 20;

interface Sample {
  round: number;
  t: number;
  phase: 'before' | 'during' | 'after';
  server_rss_mib: number;
  server_heap_mib: number;
  runner_rss_mib: number;
  runner_heap_mib: number;
  runner_external_mib: number;
  // where the runner's RSS is: its KV pool mapping (committed as blocks are first used) and
  // the V8 heap's committed pages; the rest is code, malloc and stacks
  runner_kv_pool_rss_mib: number;
  runner_heap_committed_mib: number;
}

// RSS of the runner's largest writable mapping: the CPU engine's KV pool (an anonymous mapping
// of the whole KV budget, far larger than any other writable one).
function kvPoolRss(pid: number): number {
  let largest = { size: 0, rss: 0 };
  let size = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    // V8 reserves larger regions, but inaccessible (---p): only writable mappings count
    if (range) size = line.split(' ')[1] === 'rw-p' ? parseInt(range[2]!, 16) - parseInt(range[1]!, 16) : 0;
    else if (line.startsWith('Rss:') && size > largest.size) largest = { size, rss: Number(line.split(/\s+/)[1]) * 1024 };
  }
  return largest.rss;
}

const gc = (globalThis as { gc?: () => void }).gc;
const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

async function runnerMemory(url: string): Promise<{ rss: number; heap: number; heapCommitted: number; external: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rss: read('process_resident_memory_bytes'),
    heap: read('nodejs_heap_size_used_bytes'),
    heapCommitted: read('nodejs_heap_size_total_bytes'),
    external: read('nodejs_external_memory_bytes'),
  };
}

async function main(): Promise<void> {
  // every process started from here (worker, runner, clients) can be told to collect its garbage
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, '--expose-gc', `--import=${REPO}packages/server/bench/gc-on-signal.mjs`].filter(Boolean).join(' ');
  const cluster = await startOneWorkerCluster('memory', { workerLostMs: 600_000 });
  try {
    const registered = await cluster.api('POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE });
    if (registered.status !== 201) throw new Error(`register: ${JSON.stringify(registered.json)}`);
    const launched = await cluster.api('POST', '/v1/models', {
      model_name: 'stories',
      model_uid: UID,
      gpu_memory_utilization: 0.5,
      enable_prefix_caching: values['prefix-caching'] !== 'off',
    });
    if (launched.status >= 300) throw new Error(`launch: ${JSON.stringify(launched.json)}`);
    const endpoint = await waitFor('the replica to be ready', async () => cluster.server.platform.table.endpoints(UID)[0], 120_000, 100);

    const replica = await cluster.server.platform.db.prisma.replica.findFirst({ where: { instance: { uid: UID }, status: 'ready' } });
    const runnerPid = replica?.pid;
    if (!runnerPid) throw new Error('the runner has no pid');
    const samples: Sample[] = [];
    const started = Date.now();
    let round = 0;
    const sample = async (phase: Sample['phase'], collect: boolean) => {
      if (collect) {
        gc?.();
        process.kill(runnerPid, 'SIGUSR2');
        await new Promise((r) => setTimeout(r, 500));
      }
      const own = process.memoryUsage();
      const runner = await runnerMemory(endpoint.url);
      const s: Sample = {
        round,
        t: Math.round((Date.now() - started) / 100) / 10,
        phase,
        server_rss_mib: mib(own.rss),
        server_heap_mib: mib(own.heapUsed),
        runner_rss_mib: mib(runner.rss),
        runner_heap_mib: mib(runner.heap),
        runner_external_mib: mib(runner.external),
        runner_kv_pool_rss_mib: mib(kvPoolRss(runnerPid)),
        runner_heap_committed_mib: mib(runner.heapCommitted),
      };
      samples.push(s);
      console.log(`round ${round} ${phase.padEnd(6)} t=${String(s.t).padStart(6)}s  server rss ${s.server_rss_mib} MiB heap ${s.server_heap_mib} MiB   runner rss ${s.runner_rss_mib} MiB (kv pool ${s.runner_kv_pool_rss_mib}) heap ${s.runner_heap_mib} MiB (committed ${s.runner_heap_committed_mib}) external ${s.runner_external_mib} MiB`);
      return s;
    };

    // warm-up: the first requests load code and fill caches that are not a leak
    const clients = (streams: number) =>
      new Promise<{ finished: number; failed: number; events: number }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', `${REPO}packages/server/bench/stream-clients.ts`, cluster.server.url, UID, String(streams), values['max-tokens']], {
          cwd: REPO,
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`clients exited ${code}`))));
      });
    await clients(50);
    await new Promise((r) => setTimeout(r, 2_000));
    const before = await sample('before', true);

    const runs: Array<{ finished: number; failed: number; events: number; seconds: number }> = [];
    for (round = 1; round <= ROUNDS; round++) {
      const roundStart = Date.now();
      const run = clients(STREAMS);
      let done = false;
      const ticking = (async () => {
        while (!done) {
          await new Promise((r) => setTimeout(r, 1_000));
          if (!done) await sample('during', false);
        }
      })();
      const result = await run;
      const seconds = Math.round((Date.now() - roundStart) / 100) / 10;
      done = true;
      await ticking;
      runs.push({ ...result, seconds });
      console.log(`${STREAMS} streams: ${result.finished} finished, ${result.failed} failed, ${result.events} events in ${seconds} s`);
      const ended = Date.now();
      while (Date.now() - ended < AFTER_S * 1000) {
        await new Promise((r) => setTimeout(r, 10_000));
        await sample('after', Date.now() - ended >= AFTER_S * 1000);
      }
    }
    const after = samples[samples.length - 1]!;
    const during = samples.filter((s) => s.phase === 'during');
    const peak = (key: keyof Sample) => Math.max(...during.map((s) => s[key] as number));
    const figures = Object.fromEntries(
      (['server_rss_mib', 'server_heap_mib', 'runner_rss_mib', 'runner_kv_pool_rss_mib', 'runner_heap_mib', 'runner_heap_committed_mib', 'runner_external_mib'] as const).map((key) => [
        key,
        { before: before[key], peak: peak(key), after: after[key], after_over_before: Math.round((after[key] / before[key]) * 1000) / 1000 },
      ]),
    );
    console.log('\nmemory (MiB): before / peak during / 60 s after  (after / before)');
    for (const [key, f] of Object.entries(figures)) console.log(`  ${key.padEnd(16)} ${f.before} / ${f.peak} / ${f.after}  (${f.after_over_before})`);

    const report = {
      benchmark: 'stream-memory',
      what: `${STREAMS} concurrent streaming completions (max_tokens ${values['max-tokens']}, ignore_eos) through the server's proxy to one CPU-engine runner of stories260k`,
      prefix_caching: values['prefix-caching'] !== 'off',
      cores: availableParallelism(),
      node: process.version,
      server_heap_after_gc: gc !== undefined,
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim(),
      rounds: runs,
      after_seconds: AFTER_S,
      // the figure 60 s after each round, after a full collection
      after_each_round: samples.filter((s, i) => s.phase === 'after' && samples[i + 1]?.phase !== 'after'),
      figures,
      samples,
    };
    if (values.out) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await cluster.close();
  }
}

await main();
