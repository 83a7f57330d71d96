// Test helpers for the platform: a private redis-server that can be killed and restarted on the same
// port, worker processes started as a user starts them, and polling until a condition holds.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '../src/index.ts';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STORIES = join(ROOT, '../shared/models/stories260k');
const TSX = join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const MAIN = join(ROOT, 'packages/cli/src/main.ts');

export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/** A redis-server on a fixed port with append-only persistence, so a restart keeps queued jobs. */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'pagoda-redis-'));
  constructor(readonly port: number) {}

  static async create(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freeLoopbackPort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
    const { Redis } = await import('ioredis');
    await waitFor('redis to answer', async () => {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {});
      try {
        await c.connect();
        return (await c.ping()) === 'PONG';
      } finally {
        c.disconnect();
      }
    }, 10_000, 100);
  }

  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `pagoda worker` as a separate process, with a declared GPU inventory (its runners use the CPU engine). */
export function startWorkerProcess(args: { server: string; redis: string; name: string; prefix: string; devices: unknown[]; extraArgs?: string[] }): WorkerProcess {
  const child = spawn(
    process.execPath,
    ['--import', TSX, MAIN, 'worker', '--server', args.server, '--redis', args.redis, '--name', args.name, '--prefix', args.prefix, '--devices', JSON.stringify(args.devices), '--heartbeat-ms', '400', '--log-level', 'warn', ...(args.extraArgs ?? [])],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PAGODA_LOG_LEVEL: 'warn' } },
  );
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  return {
    child,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await gone;
    },
  };
}

export const GiB = 2 ** 30;

/** What a response must never show: stack frames, source files, this checkout's paths. */
export function leaksInternals(text: string): boolean {
  return /\bat [\w$.<>]+ \(|\bat (?:file:|node:|\/)|node_modules|\/packages\/|\.ts:\d+|\.js:\d+|\.mjs:\d+/.test(text) || text.includes(ROOT.replace(/\/$/, ''));
}
