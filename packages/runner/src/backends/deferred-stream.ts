// An async iterable whose source is made asynchronously on the first next(): work that must finish
// before the stream starts (compiling a grammar) fails that first next(), before any header is sent.
export class DeferredStream<T> implements AsyncIterableIterator<T> {
  private source: AsyncIterator<T> | null = null;

  constructor(private readonly make: () => Promise<AsyncIterable<T>>) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    this.source ??= (await this.make())[Symbol.asyncIterator]();
    return this.source.next();
  }

  async return(): Promise<IteratorResult<T>> {
    await this.source?.return?.();
    return { value: undefined, done: true };
  }
}
