// The deltas of one request, buffered between the engine's step callback (producer) and
// the caller's async iteration (consumer). Ends after the delta that finishes the request.
import type { NativeDelta } from './native.ts';
import type { GenerateDelta } from './types.ts';

export function toGenerateDelta(d: NativeDelta): GenerateDelta {
  const out: GenerateDelta = { index: d.index, token_ids: d.token_ids, usage: d.usage };
  if (d.logprobs) out.logprobs = d.logprobs;
  if (d.prompt_logprobs) out.prompt_logprobs = d.prompt_logprobs;
  if (d.finish_reason) out.finish_reason = d.finish_reason;
  if (d.stop_token_id !== undefined) out.stop_token_id = d.stop_token_id;
  return out;
}

export class RequestStream implements AsyncIterableIterator<GenerateDelta> {
  private readonly queue: GenerateDelta[] = [];
  private waiter: ((r: IteratorResult<GenerateDelta>) => void) | null = null;
  private failWaiter: ((e: Error) => void) | null = null;
  private failure: Error | null = null;
  private ended = false;
  private readonly open: Set<number>;
  private readonly lastUsage = new Map<number, GenerateDelta['usage']>();
  /** Run once when the stream ends, however it ends (e.g. detach an AbortSignal listener). */
  onEnd: (() => void) | null = null;

  constructor(
    readonly id: string,
    n: number,
    promptTokens: number,
    private readonly onCancel: (stream: RequestStream) => void,
  ) {
    this.open = new Set(Array.from({ length: n }, (_, i) => i));
    for (const i of this.open)
      this.lastUsage.set(i, { prompt_tokens: promptTokens, completion_tokens: 0, cached_tokens: 0 });
  }

  get finished(): boolean {
    return this.ended;
  }

  push(d: NativeDelta): void {
    if (this.ended) return;
    this.lastUsage.set(d.index, d.usage);
    if (d.finish_reason) this.open.delete(d.index);
    this.deliver(toGenerateDelta(d));
    if (d.request_finished) this.end();
  }

  /** Ends every output still open with finish_reason 'abort' (engine closing). */
  abortLocally(): void {
    for (const index of [...this.open]) {
      this.deliver({ index, token_ids: [], finish_reason: 'abort', usage: this.lastUsage.get(index)! });
    }
    this.open.clear();
    this.end();
  }

  fail(error: Error): void {
    if (this.ended) return;
    this.failure = error;
    this.ended = true;
    this.runOnEnd();
    if (this.failWaiter) {
      const reject = this.failWaiter;
      this.waiter = this.failWaiter = null;
      reject(error);
    }
  }

  private deliver(delta: GenerateDelta): void {
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = this.failWaiter = null;
      resolve({ value: delta, done: false });
    } else {
      this.queue.push(delta);
    }
  }

  private runOnEnd(): void {
    const f = this.onEnd;
    this.onEnd = null;
    f?.();
  }

  private end(): void {
    this.ended = true;
    this.runOnEnd();
    if (this.waiter && this.queue.length === 0) {
      const resolve = this.waiter;
      this.waiter = this.failWaiter = null;
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<GenerateDelta>> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve({ value: queued, done: false });
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  /** The consumer stopped early (break / return): the request is aborted in the engine. */
  return(): Promise<IteratorResult<GenerateDelta>> {
    if (!this.ended) this.onCancel(this);
    this.ended = true;
    this.runOnEnd();
    this.queue.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<GenerateDelta> {
    return this;
  }
}
