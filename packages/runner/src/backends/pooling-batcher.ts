// Batching across concurrent pooling requests: calls that arrive while the engine is busy (or in
// the same tick) are merged into one engine call, which the engine packs into as few forwards as
// its token budget allows, then each caller gets its own slice back. A merged call that fails is
// retried request by request, so one bad input fails only its own request.

/** One engine call over a list of inputs, results in input order. */
export type PoolingCall<I, O> = (inputs: I[]) => Promise<O[]>;

interface Pending<I, O> {
  inputs: I[];
  resolve: (out: O[]) => void;
  reject: (err: unknown) => void;
}

export class PoolingBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private busy = false;
  /** Engine calls made so far (each one or more requests). */
  calls = 0;

  /** `maxInputs` caps one merged call (the queue flushes in several calls beyond it). */
  constructor(
    private readonly call: PoolingCall<I, O>,
    private readonly maxInputs = 4096,
  ) {}

  run(inputs: I[]): Promise<O[]> {
    return new Promise<O[]>((resolve, reject) => {
      this.queue.push({ inputs, resolve, reject });
      // Requests arriving in the same tick join this one.
      if (!this.busy) setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0) {
        const group: Pending<I, O>[] = [];
        let count = 0;
        while (this.queue.length > 0 && (group.length === 0 || count + this.queue[0]!.inputs.length <= this.maxInputs)) {
          const next = this.queue.shift()!;
          group.push(next);
          count += next.inputs.length;
        }
        await this.runGroup(group);
      }
    } finally {
      this.busy = false;
    }
  }

  private async runGroup(group: Pending<I, O>[]): Promise<void> {
    if (group.length === 1) {
      const [only] = group;
      this.calls++;
      await this.call(only!.inputs).then(only!.resolve, only!.reject);
      return;
    }
    let out: O[];
    try {
      this.calls++;
      out = await this.call(group.flatMap((p) => p.inputs));
    } catch {
      // Which request was at fault is unknown: each runs alone and gets its own result.
      for (const p of group) {
        this.calls++;
        await this.call(p.inputs).then(p.resolve, p.reject);
      }
      return;
    }
    let at = 0;
    for (const p of group) {
      p.resolve(out.slice(at, at + p.inputs.length));
      at += p.inputs.length;
    }
  }
}
