// A child OpenAI server process (vLLM, llama-server): spawn on a free loopback port, wait for /health,
// notice a crash at once, stop with SIGTERM then SIGKILL. Keeps the last lines of its output for errors.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { Logger } from 'pino';

const KEPT_LINES = 40;

export interface ChildServerOptions {
  /** What to call it in messages, e.g. "vllm". */
  name: string;
  executable: string;
  args: string[];
  port: number;
  env?: NodeJS.ProcessEnv;
  startTimeoutMs: number;
  stopGraceMs?: number;
  log: Logger;
  /** Called once if the process exits after it was ready. */
  onCrash: (message: string) => void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

export class ChildServer {
  private child: ChildProcess | null = null;
  private readonly tail: string[] = [];
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private ready = false;
  private stopping = false;
  private exitWaiters: Array<() => void> = [];

  constructor(private readonly opts: ChildServerOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns and resolves once GET /health answers 200; rejects if the process exits or the wait times out. */
  async start(): Promise<void> {
    const { name, executable, args } = this.opts;
    this.opts.log.info({ executable, args }, `starting ${name}`);
    const child = spawn(executable, args, {
      env: this.opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (err) => {
        // A process that never started emits no 'exit': record it as gone so nothing waits on it.
        this.exited ??= { code: null, signal: null };
        reject(
          new Error(
            `cannot start ${name} (${executable}): ${err.message}; install it or point --backend-executable at it`,
          ),
        );
      }),
    );
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.keep(line);
      });
    }
    child.once('exit', (code, signal) => {
      this.exited = { code, signal };
      for (const w of this.exitWaiters) w();
      this.exitWaiters = [];
      if (this.ready && !this.stopping)
        this.opts.onCrash(
          `${name} exited unexpectedly (${describeExit(code, signal)}); last output:\n${this.lastOutput()}`,
        );
    });
    const healthy = this.waitHealthy();
    healthy.catch(() => {}); // when the spawn error wins the race, this one's rejection is expected
    await Promise.race([healthy, spawnError]);
    this.ready = true;
  }

  private keep(line: string): void {
    this.tail.push(line);
    if (this.tail.length > KEPT_LINES) this.tail.shift();
    this.opts.log.debug({ child: this.opts.name }, line);
  }

  lastOutput(): string {
    return this.tail.join('\n');
  }

  private async waitHealthy(): Promise<void> {
    const { name, port, startTimeoutMs } = this.opts;
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) {
        throw new Error(
          `${name} exited before it was ready (${describeExit(this.exited.code, this.exited.signal)}); last output:\n${this.lastOutput()}`,
        );
      }
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`, {
          signal: AbortSignal.timeout(2000),
        });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await this.stop();
    throw new Error(
      `${name} did not answer GET /health within ${startTimeoutMs / 1000} s; it was stopped. Last output:\n${this.lastOutput()}`,
    );
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    this.stopping = true;
    const gone = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.opts.stopGraceMs ?? 10_000);
    await gone;
    clearTimeout(timer);
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}
