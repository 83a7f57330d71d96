// Sends the benchmark's requests: Poisson arrivals at a rate (or all at once), at most --max-concurrency
// in flight, with progress on stderr.
import { performance } from 'node:perf_hooks';
import type { BenchRequest } from './dataset.ts';
import { sendRequest, type RequestResult, type RequestTarget } from './request.ts';
import { Rng } from './rng.ts';

export interface LoadOptions {
  requestRate: number; // Infinity: all at once
  maxConcurrency: number | null;
  seed: number;
  progress: (done: number, total: number) => void;
}

export async function runLoad(
  target: RequestTarget,
  requests: BenchRequest[],
  opts: LoadOptions,
): Promise<{ results: RequestResult[]; durationS: number }> {
  const rng = new Rng(opts.seed ^ 0x9e3779b9);
  const slots = new Slots(opts.maxConcurrency ?? Infinity);
  const start = performance.now();
  let done = 0;
  const pending: Array<Promise<RequestResult>> = [];
  for (const [i, req] of requests.entries()) {
    if (i > 0 && Number.isFinite(opts.requestRate))
      await sleep(rng.exponential(opts.requestRate) * 1000);
    pending.push(
      slots
        .run(() => sendRequest(target, req))
        .then((r) => {
          opts.progress(++done, requests.length);
          return r;
        }),
    );
  }
  const results = await Promise.all(pending);
  return { results, durationS: (performance.now() - start) / 1000 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A counting semaphore: at most `limit` tasks run at once, the rest start in order. */
class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot straight to the next waiter, so the count never overshoots.
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}
