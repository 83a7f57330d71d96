// Encodes long texts on a worker thread, so tokenizing a large prompt (about 20 µs a byte with
// @huggingface/tokenizers here) does not hold up the event loop that streams every other request's
// tokens. Short texts are encoded in place: for them the round trip costs more than the encoding.
import { Worker } from 'node:worker_threads';
import type { EncodeJob, EncodeReply } from './encode-worker.ts';
import type { EncodeOptions, Tokenizer } from './tokenizer.ts';

/** Texts at least this long (UTF-16 units) go to the worker. */
export const BACKGROUND_ENCODE_MIN_CHARS = 4_096;

interface Pending {
  resolve: (ids: number[]) => void;
  reject: (err: Error) => void;
}

export class BackgroundEncoder {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly dir: string,
  ) {}

  /** The ids of `text`, as Tokenizer.encode gives them. */
  encode(text: string, options: EncodeOptions = {}): Promise<number[]> {
    if (text.length < BACKGROUND_ENCODE_MIN_CHARS) return Promise.resolve(this.tokenizer.encode(text, options));
    const id = this.nextId++;
    const job: EncodeJob = { id, text, addSpecialTokens: options.addSpecialTokens ?? true };
    return new Promise<number[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.start().postMessage(job);
    });
  }

  /** Stops the worker; encodings still pending fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.failAll(new Error('the tokenizer worker was closed'));
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./encode-worker-entry.mjs', import.meta.url), { workerData: { dir: this.dir } });
    worker.unref(); // an idle tokenizer worker must not keep the process alive
    worker.on('message', (reply: EncodeReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ('error' in reply) p.reject(new Error(reply.error));
      else p.resolve(Array.from(reply.ids));
    });
    // a worker that dies fails what it held; the next encoding starts a fresh one
    worker.on('error', (err) => this.crashed(worker, err));
    worker.on('exit', (code) => this.crashed(worker, new Error(`the tokenizer worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  private crashed(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.failAll(err);
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
