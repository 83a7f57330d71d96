// A backend that runs a child OpenAI server and talks to it as a remote: shared by vllm and llamacpp.
import type { Logger } from 'pino';
import { ApiError } from '../api-error.ts';
import type { Backend, GenerateContext } from '../backend.ts';
import { ChildServer } from './child-server.ts';
import { RemoteBackend } from './remote.ts';

export interface SpawnedBackendOptions {
  kind: 'vllm' | 'llamacpp';
  name: string;
  executable: string;
  args: string[];
  port: number;
  /** The model name the child serves. */
  model: string;
  root: string;
  startTimeoutMs: number;
  log: Logger;
  env?: NodeJS.ProcessEnv;
}

export class SpawnedBackend extends RemoteBackend {
  override readonly kind: Backend['kind'];
  readonly child: ChildServer;
  private readonly root: string;

  constructor(opts: SpawnedBackendOptions) {
    super({
      baseUrl: `http://127.0.0.1:${opts.port}/v1`,
      model: opts.model,
      readyTimeoutMs: 30_000,
    });
    this.kind = opts.kind;
    this.root = opts.root;
    this.child = new ChildServer({
      name: opts.name,
      executable: opts.executable,
      args: opts.args,
      port: opts.port,
      env: opts.env,
      startTimeoutMs: opts.startTimeoutMs,
      log: opts.log,
      onCrash: (message) => {
        opts.log.error(message);
        this.fail(message);
      },
    });
  }

  override info() {
    return { ...super.info(), root: this.root };
  }

  override async load(): Promise<void> {
    try {
      await this.child.start();
    } catch (err) {
      this.fail((err as Error).message);
      throw err;
    }
    await super.load();
  }

  /** A crashed child answers 503 at once instead of a connection error. */
  private checkAlive(): void {
    if (this.current === 'failed')
      throw new ApiError(503, this.why ?? 'the backend process is not running');
  }

  override chat(req: Parameters<RemoteBackend['chat']>[0], ctx: GenerateContext) {
    this.checkAlive();
    return super.chat(req, ctx);
  }

  override completions(req: Parameters<RemoteBackend['completions']>[0], ctx: GenerateContext) {
    this.checkAlive();
    return super.completions(req, ctx);
  }

  protected override unreachable(err: unknown): ApiError {
    if (this.current === 'failed')
      return new ApiError(503, this.why ?? 'the backend process exited');
    return super.unreachable(err);
  }

  override async shutdown(): Promise<void> {
    await super.shutdown();
    await this.child.stop();
  }
}
