// Owns this worker's replicas: fetches model files, starts each runner on a free port, notices its
// exit at once and restarts it with back-off up to a limit (then reports it failed with its last log
// lines), and tells listeners every state change and every batch of log lines.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { LaunchJob, ReplicaReport, ReplicaState } from '@pagoda/protocol';
import { LogTail } from './log_tail.ts';
import { resolveModelFiles } from './model_files.ts';
import { freePort, releasePort } from './ports.ts';
import { runnerArgv, runnerEnv } from './runner_command.ts';
import { RunnerProcess } from './runner_process.ts';

export interface SupervisorOptions {
  /** Address runners bind to and the server reaches them on. */
  host: string;
  /** Download cache (default: the download module's). */
  cacheDir: string | undefined;
  declaredGpus: boolean;
  log: Logger;
  runnerCommand?: string[];
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Consecutive crashes restarted before the replica is failed. */
  maxRestarts?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A runner ready this long has its crash count forgiven. */
  stableMs?: number;
}

interface Managed {
  job: LaunchJob;
  status: ReplicaState;
  progress: number;
  phase: string | null;
  port: number | null;
  proc: RunnerProcess | null;
  restarts: number;
  crashes: number;
  lastError: string | null;
  tail: LogTail;
  pendingLines: string[];
  stopping: boolean;
  readyAt: number | null;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController;
}

export interface SupervisorEvents {
  update: [report: ReplicaReport];
  logs: [replicaId: string, modelUid: string, lines: string[]];
}

/** Progress milestones of a start after the files are in place (download takes 0 .. 0.5). */
const PROGRESS = { spawned: 0.55, loading: 0.7, warmup: 0.9, ready: 1 } as const;

/** A runner's pino line that says how far loading went. */
function loadPhase(line: string): keyof typeof PROGRESS | null {
  if (!line.startsWith('{')) return null;
  if (line.includes('"model loaded')) return 'warmup';
  if (line.includes('loading the model')) return 'loading';
  return null;
}

/** How long a terminate for a replica this worker has not seen yet bars its launch (jobs can cross). */
const CANCEL_MEMORY_MS = 10 * 60_000;

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly replicas = new Map<string, Managed>();
  /** Replicas terminated before their launch job arrived: id → when. Their launch must not start a runner. */
  private readonly cancelled = new Map<string, number>();
  private closed = false;
  private readonly flushTimer: NodeJS.Timeout;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.flushTimer = setInterval(() => this.flushLogs(), 200);
  }

  snapshot(): ReplicaReport[] {
    return [...this.replicas.values()].map((m) => this.report(m));
  }

  has(replicaId: string): boolean {
    return this.replicas.has(replicaId);
  }

  /** Starts a replica; a launch for one already here (a re-sent job) changes nothing. */
  launch(job: LaunchJob): void {
    if (this.closed || this.cancelled.has(job.replica_id)) {
      // Terminated already (the terminate job overtook this one) or shutting down: never start it.
      this.emit('update', { replica_id: job.replica_id, model_uid: job.model_uid, status: 'stopped', progress: 0, phase: 'cancelled', pid: null, port: null, restarts: 0, last_error: null });
      return;
    }
    const known = this.replicas.get(job.replica_id);
    if (known && known.status !== 'failed') return;
    if (known) this.replicas.delete(job.replica_id);
    const m: Managed = {
      job,
      status: 'scheduled',
      progress: 0,
      phase: 'accepted',
      port: null,
      proc: null,
      restarts: 0,
      crashes: 0,
      lastError: null,
      tail: new LogTail(50),
      pendingLines: [],
      stopping: false,
      readyAt: null,
      timer: undefined,
      abort: new AbortController(),
    };
    this.replicas.set(job.replica_id, m);
    this.set(m, { status: 'scheduled', phase: 'accepted' });
    void this.fetchAndStart(m);
  }

  async terminate(replicaId: string): Promise<void> {
    const m = this.replicas.get(replicaId);
    if (!m) {
      this.rememberCancelled(replicaId);
      return;
    }
    m.stopping = true;
    m.abort.abort();
    clearTimeout(m.timer);
    await m.proc?.stop();
    this.replicas.delete(replicaId);
    if (m.port !== null) releasePort(m.port);
    this.set(m, { status: 'stopped', phase: 'stopped' });
  }

  private rememberCancelled(replicaId: string): void {
    const now = Date.now();
    for (const [id, at] of this.cancelled) if (now - at > CANCEL_MEMORY_MS) this.cancelled.delete(id);
    this.cancelled.set(replicaId, now);
  }

  async stopAll(): Promise<void> {
    this.closed = true;
    clearInterval(this.flushTimer);
    await Promise.all([...this.replicas.keys()].map((id) => this.terminate(id)));
  }

  private report(m: Managed): ReplicaReport {
    return {
      replica_id: m.job.replica_id,
      model_uid: m.job.model_uid,
      status: m.status,
      progress: m.progress,
      phase: m.phase,
      pid: m.proc?.running ? m.proc.pid : null,
      port: m.port,
      restarts: m.restarts,
      last_error: m.lastError,
    };
  }

  private set(m: Managed, change: Partial<Pick<Managed, 'status' | 'progress' | 'phase' | 'lastError'>>): void {
    Object.assign(m, change);
    this.emit('update', this.report(m));
  }

  private line(m: Managed, line: string): void {
    m.tail.push(line);
    m.pendingLines.push(line);
    const phase = loadPhase(line);
    if (phase && m.status === 'loading' && PROGRESS[phase] > m.progress) this.set(m, { progress: PROGRESS[phase], phase: phase === 'warmup' ? 'warm-up' : 'loading' });
  }

  private flushLogs(): void {
    for (const m of this.replicas.values()) {
      if (m.pendingLines.length === 0) continue;
      this.emit('logs', m.job.replica_id, m.job.model_uid, m.pendingLines.splice(0));
    }
  }

  private async fetchAndStart(m: Managed): Promise<void> {
    let path: string;
    try {
      const needsDownload = !m.job.source.model_path;
      if (needsDownload) this.set(m, { status: 'downloading', phase: 'download', progress: 0 });
      let lastSent = 0;
      path = await resolveModelFiles(m.job, this.opts.cacheDir, (fraction) => {
        const progress = Math.min(0.5, fraction * 0.5);
        if (progress - lastSent >= 0.01 || fraction >= 1) {
          lastSent = progress;
          this.set(m, { progress, phase: `download ${Math.round(fraction * 100)}%` });
        }
      }, m.abort.signal);
    } catch (err) {
      if (m.stopping) return;
      this.set(m, { status: 'failed', phase: 'download failed', lastError: (err as Error).message });
      return;
    }
    if (!m.stopping) await this.spawn(m, path);
  }

  private async spawn(m: Managed, modelPath: string): Promise<void> {
    const { host } = this.opts;
    if (m.port === null) m.port = await freePort(host);
    // terminate() may have run while the port was found: it saw no process to stop, so start none.
    if (m.stopping) {
      releasePort(m.port);
      return;
    }
    const argv = runnerArgv({ job: m.job, modelPath, host, port: m.port, command: this.opts.runnerCommand, extraArgs: this.opts.extraArgs, declaredGpus: this.opts.declaredGpus });
    const env = runnerEnv(m.job, this.opts.env ?? process.env, this.opts.declaredGpus);
    this.opts.log.info({ replica: m.job.replica_id, model: m.job.model_uid, argv }, 'starting runner');
    const proc = new RunnerProcess(argv, env, `http://${host.includes(':') ? `[${host}]` : host}:${m.port}/health`);
    m.proc = proc;
    m.readyAt = null;
    this.set(m, { status: 'loading', phase: 'starting', progress: PROGRESS.spawned });
    proc.on('line', (line) => this.line(m, line));
    proc.once('ready', () => {
      if (m.proc !== proc || m.stopping) return;
      m.readyAt = Date.now();
      this.set(m, { status: 'ready', phase: 'ready', progress: PROGRESS.ready, lastError: null });
    });
    proc.once('exit', (code, signal) => this.exited(m, proc, modelPath, code, signal));
  }

  private exited(m: Managed, proc: RunnerProcess, modelPath: string, code: number | null, signal: NodeJS.Signals | null): void {
    if (m.proc !== proc || m.stopping) return;
    const stable = m.readyAt !== null && Date.now() - m.readyAt >= (this.opts.stableMs ?? 60_000);
    m.crashes = stable ? 1 : m.crashes + 1;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const max = this.opts.maxRestarts ?? 5;
    if (m.crashes > max) {
      const lines = m.tail.last(20).join('\n');
      this.set(m, { status: 'failed', phase: 'failed', lastError: `the runner ${how} ${m.crashes} times in a row; gave up after ${max} restarts. Last log lines:\n${lines}` });
      this.opts.log.error({ replica: m.job.replica_id, code, signal }, 'runner failed for good');
      return;
    }
    const delay = Math.min((this.opts.backoffMs ?? 1_000) * 2 ** (m.crashes - 1), this.opts.maxBackoffMs ?? 30_000);
    m.restarts += 1;
    this.opts.log.warn({ replica: m.job.replica_id, code, signal, delay }, 'runner exited; restarting');
    this.set(m, { status: 'loading', progress: 0.5, phase: `restarting in ${(delay / 1000).toFixed(1)} s (${m.crashes} of ${max})`, lastError: `the runner ${how}` });
    m.timer = setTimeout(() => {
      if (!m.stopping) void this.spawn(m, modelPath);
    }, delay);
  }
}
