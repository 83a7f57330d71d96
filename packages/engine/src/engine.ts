// Engine: the TypeScript face of the native engine. Loads a model, runs requests as async
// iterators of per-step deltas (abortable through an AbortSignal), reports stats, closes.
import { parseEngineOptions, parsePromptTokenIds, parseSamplingParams } from './options.ts';
import {
  EngineClosedError,
  EngineStepError,
  InvalidEngineOptionsError,
  InvalidRequestError,
} from './errors.ts';
import { nativeModule, type NativeDelta, type NativeEngine } from './native.ts';
import { RequestStream } from './request-stream.ts';
import type {
  EngineOptions,
  EngineStats,
  GenerateDelta,
  ModelInfo,
  SamplingParams,
  TokenConstraint,
} from './types.ts';

export interface GenerateOptions {
  signal?: AbortSignal;
  /** Engine request id (unique among running requests); generated when absent. */
  requestId?: string;
  /** Required with samplingParams.constrained: the grammar that masks each token. */
  constraint?: TokenConstraint;
}

/** A constrained request's grammar and how many tokens each output has produced. */
interface Constrained {
  constraint: TokenConstraint;
  positions: number[];
}

let nextEngineId = 0;

export class Engine {
  private readonly streams = new Map<string, RequestStream>();
  private readonly constrained = new Map<string, Constrained>();
  private nextRequest = 0;
  private closed = false;
  private failure: Error | null = null;
  private readonly idPrefix = `e${nextEngineId++}`;
  private native!: NativeEngine;

  private constructor() {}

  /** Loads the model and sizes the KV cache; rejects with a message that says what to change. */
  static async load(options: EngineOptions): Promise<Engine> {
    const parsed = parseEngineOptions(options);
    const engine = new Engine();
    engine.native = new (nativeModule().Engine)((deltas, error) => engine.onStep(deltas, error));
    try {
      await engine.native.load(parsed);
    } catch (err) {
      throw new InvalidEngineOptionsError((err as Error).message);
    }
    return engine;
  }

  /**
   * Queues a request and returns its deltas: one per engine step per output that produced
   * tokens, the last of each output carrying finish_reason. Throws InvalidRequestError at
   * once for a bad parameter or a prompt that does not fit max_model_len.
   */
  generate(
    promptTokenIds: number[],
    samplingParams: SamplingParams = {},
    options: GenerateOptions = {},
  ): AsyncIterable<GenerateDelta> {
    if (this.closed) throw new EngineClosedError(this.failure?.message ?? 'the engine is closed');
    const prompt = parsePromptTokenIds(promptTokenIds);
    const params = parseSamplingParams(samplingParams);
    const id = options.requestId ?? `${this.idPrefix}-${this.nextRequest++}`;
    if (this.streams.has(id)) throw new InvalidRequestError(`request id '${id}' is already running`);
    if (params.constrained && !options.constraint)
      throw new InvalidRequestError('a constrained request needs options.constraint');
    const stream = new RequestStream(id, params.n ?? 1, prompt.length, (s) => this.cancel(s));
    try {
      this.native.addRequest(id, prompt, params);
    } catch (err) {
      throw new InvalidRequestError((err as Error).message);
    }
    this.streams.set(id, stream);
    if (params.constrained && options.constraint) {
      const c: Constrained = { constraint: options.constraint, positions: [] };
      this.constrained.set(id, c);
      for (let i = 0; i < (params.n ?? 1); i++) this.advance(id, c, i, []);
    }
    const signal = options.signal;
    if (signal) {
      const onAbort = () => this.native.abort(id);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        stream.onEnd = () => signal.removeEventListener('abort', onAbort);
      }
    }
    return stream;
  }

  /** Aborts a running request by id; its KV blocks are free when this returns. */
  abort(requestId: string): boolean {
    return !this.closed && this.native.abort(requestId);
  }

  stats(): EngineStats {
    this.ensureOpen();
    return this.native.stats();
  }

  modelInfo(): ModelInfo {
    this.ensureOpen();
    return this.native.modelInfo();
  }

  /** Ends running requests with finish_reason 'abort', stops the engine thread, frees memory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams.values()) {
      this.native.abort(stream.id);
      stream.abortLocally();
    }
    this.streams.clear();
    for (const id of [...this.constrained.keys()]) this.release(id);
    await this.native.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new EngineClosedError(this.failure?.message ?? 'the engine is closed');
  }

  /**
   * Sends output `index`'s next mask once the constraint has it; the engine samples that
   * position only then, while this runs beside the next forward.
   */
  private advance(id: string, c: Constrained, index: number, tokens: readonly number[]): void {
    const position = (c.positions[index] ?? 0) + tokens.length;
    c.positions[index] = position;
    const send = (mask: Int32Array | null): void => {
      if (this.closed || !this.constrained.has(id)) return;
      if (mask === null) this.native.abort(id);
      else this.native.setTokenMask(id, index, position, mask);
    };
    let mask: Int32Array | null | Promise<Int32Array | null>;
    try {
      mask = c.constraint.nextMask(index, tokens);
    } catch {
      mask = null;
    }
    if (mask instanceof Promise) mask.then(send, () => send(null));
    else send(mask);
  }

  private release(id: string): void {
    const c = this.constrained.get(id);
    if (!c) return;
    this.constrained.delete(id);
    c.constraint.release?.();
  }

  private cancel(stream: RequestStream): void {
    this.release(stream.id);
    this.streams.delete(stream.id);
    if (!this.closed) this.native.abort(stream.id);
  }

  // One call per engine step, carrying every sequence's new tokens.
  private onStep(deltas: NativeDelta[], error: string | null): void {
    // Grammars first: the engine waits for these masks, not for the streams' readers.
    for (const d of deltas) {
      const c = this.constrained.get(d.request_id);
      if (c && !d.finish_reason && d.token_ids.length > 0) this.advance(d.request_id, c, d.index, d.token_ids);
    }
    for (const d of deltas) {
      const stream = this.streams.get(d.request_id);
      if (!stream) continue;
      stream.push(d);
      if (stream.finished) {
        this.streams.delete(d.request_id);
        this.release(d.request_id);
      }
    }
    if (error) {
      const failure = new EngineStepError(error);
      for (const stream of this.streams.values()) stream.fail(failure);
      this.streams.clear();
      for (const id of [...this.constrained.keys()]) this.release(id);
    }
  }
}
