// Admission: at most `maxRunning` sequences in the backend at once, the rest wait in FIFO order; a request
// that would make the waiting queue longer than `maxWaiting` is refused (HTTP 429).
import { ApiError } from './api-error.ts';

interface Waiter {
  seqs: number;
  grant: () => void;
  fail: (err: Error) => void;
}

export class Admission {
  private running = 0;
  private runningRequests = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly maxRunning: number,
    private readonly maxWaiting: number,
  ) {}

  numRunning(): number {
    return this.runningRequests;
  }

  numWaiting(): number {
    return this.queue.length;
  }

  /** Resolves with a release function once the request may run; aborting the signal gives up its place. */
  async acquire(seqs: number, signal: AbortSignal): Promise<() => void> {
    if (seqs > this.maxRunning) {
      throw new ApiError(
        400,
        `n=${seqs} exceeds --max-num-seqs ${this.maxRunning}; lower n or raise --max-num-seqs`,
        'n',
      );
    }
    if (this.queue.length === 0 && this.running + seqs <= this.maxRunning) return this.take(seqs);
    if (this.queue.length >= this.maxWaiting) {
      throw new ApiError(
        429,
        `the server is busy: ${this.queue.length} requests are already waiting (--max-waiting-requests ${this.maxWaiting}); retry later`,
        null,
        undefined,
        'queue_full',
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        seqs,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.take(seqs));
        },
        fail: reject,
      };
      const onAbort = () => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        reject(new ApiError(499, 'client closed the request while it waited'));
        this.drain();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private take(seqs: number): () => void {
    this.running += seqs;
    this.runningRequests += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= seqs;
      this.runningRequests -= 1;
      this.drain();
    };
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (this.running + next.seqs > this.maxRunning) return;
      this.queue.shift();
      next.grant();
    }
  }
}
