// One attempt at running one runner: spawned under runner_guard.sh (so it dies with the worker),
// its output split into lines, /health polled until ready, and its exit noticed the moment it
// happens.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { lineSplitter } from './log-tail.ts';

const GUARD = fileURLToPath(new URL('./runner_guard.sh', import.meta.url));
const PID_LINE = /^pagoda-runner-pid (\d+)$/;

export interface RunnerProcessEvents {
  line: [line: string];
  ready: [];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

export class RunnerProcess extends EventEmitter<RunnerProcessEvents> {
  private readonly child: ChildProcess;
  private healthTimer: NodeJS.Timeout | undefined;
  private exited = false;
  /** The runner's own pid (the guard's child), once the guard has said it. */
  runnerPid: number | null = null;

  constructor(
    argv: string[],
    env: NodeJS.ProcessEnv,
    readonly healthUrl: string,
    private readonly pollMs = 250,
  ) {
    super();
    // stdin is a pipe we never write: when this process dies the guard sees EOF and stops the runner.
    this.child = spawn('bash', [GUARD, ...argv], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const onLine = (line: string) => {
      const pid = PID_LINE.exec(line);
      if (pid) this.runnerPid = Number(pid[1]);
      else this.emit('line', line);
    };
    this.child.stdout!.on('data', lineSplitter(onLine));
    this.child.stderr!.on('data', lineSplitter(onLine));
    this.child.stdin!.on('error', () => {});
    this.child.once('error', (err) => {
      this.emit('line', `could not start the runner: ${err.message}`);
      this.finish(null, null);
    });
    this.child.once('exit', (code, signal) => this.finish(code, signal));
    this.healthTimer = setTimeout(() => void this.pollHealth(), this.pollMs);
  }

  get pid(): number | null {
    return this.runnerPid ?? this.child.pid ?? null;
  }

  get running(): boolean {
    return !this.exited;
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    clearTimeout(this.healthTimer);
    this.child.stdin?.destroy();
    this.emit('exit', code, signal);
  }

  private async pollHealth(): Promise<void> {
    if (this.exited) return;
    try {
      const res = await fetch(this.healthUrl, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      if (res.ok && !this.exited) {
        this.emit('ready');
        return;
      }
    } catch {
      // not listening yet
    }
    if (!this.exited) this.healthTimer = setTimeout(() => void this.pollHealth(), this.pollMs);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.runnerPid) {
        try {
          process.kill(this.runnerPid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      this.child.kill('SIGKILL');
    }, graceMs);
    await gone;
    clearTimeout(timer);
  }
}
