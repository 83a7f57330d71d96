// The chunks of one builtin-engine response as a hand-written async iterator: leading chunks (echo,
// role), one chunk per output event, then the usage chunk. One promise per token and no generator
// machinery, since this runs for every token of every stream.
import type { OutputEvent, PromptSet } from './prompt-outputs.ts';

export class ChunkStream<T> implements AsyncIterableIterator<T> {
  private phase: 'leading' | 'events' | 'usage' | 'done' = 'leading';

  constructor(
    private readonly leading: T[],
    private readonly set: PromptSet,
    private readonly toChunk: (event: OutputEvent) => T,
    private readonly usageChunk: () => T,
  ) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.phase === 'leading') {
      const first = this.leading.shift();
      if (first !== undefined) return Promise.resolve({ value: first, done: false });
      this.phase = 'events';
    }
    if (this.phase === 'events') {
      return this.set.next().then(async (event) => {
        if (event !== null) return { value: this.toChunk(event), done: false };
        this.phase = 'done';
        await this.set.close();
        return { value: this.usageChunk(), done: false };
      });
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  /** The consumer stopped early (client gone, error): free the engine requests. */
  async return(): Promise<IteratorResult<T>> {
    this.phase = 'done';
    await this.set.close();
    return { value: undefined, done: true };
  }
}

/**
 * A stream whose start is asynchronous (its prompts are tokenized off the event loop): the first
 * next() waits for it, so a refused request still fails before its first chunk.
 */
export class DeferredStream<T> implements AsyncIterableIterator<T> {
  private inner: Promise<AsyncIterator<T>> | null = null;
  private closed = false;

  constructor(private readonly start: () => Promise<AsyncIterable<T>>) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.closed) return { value: undefined, done: true };
    this.inner ??= this.start().then((s) => s[Symbol.asyncIterator]());
    return (await this.inner).next();
  }

  async return(): Promise<IteratorResult<T>> {
    this.closed = true;
    const inner = await this.inner?.catch(() => null);
    await inner?.return?.();
    return { value: undefined, done: true };
  }
}
