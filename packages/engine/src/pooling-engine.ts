// PoolingEngine: the TypeScript face of the engine's pooling run, for embedding models
// (embed: one vector per input) and cross-encoders (score: one logit per pair).
import { InvalidEngineOptionsError, InvalidRequestError, EngineClosedError } from './errors.ts';
import { nativeModule, type NativePoolingEngine, type NativePoolingInfo, type NativePoolingInput } from './native.ts';
import { parseEngineOptions } from './options.ts';
import type { EngineOptions } from './types.ts';

export type PoolingInfo = NativePoolingInfo;
export type PoolingInput = NativePoolingInput;

export class PoolingEngine {
  private closed = false;

  private constructor(
    private readonly native: NativePoolingEngine,
    readonly info: PoolingInfo,
  ) {}

  /** Loads an embedding or rerank checkpoint; rejects with a message naming the file or option. */
  static async load(options: EngineOptions): Promise<PoolingEngine> {
    const parsed = parseEngineOptions(options);
    const native = new (nativeModule().PoolingEngine)();
    try {
      await native.load(parsed);
    } catch (err) {
      throw new InvalidEngineOptionsError((err as Error).message);
    }
    return new PoolingEngine(native, native.info());
  }

  /** One pooled vector per input (normalized when the checkpoint says so). */
  async embed(inputs: PoolingInput[]): Promise<Float32Array[]> {
    return this.call(() => this.native.embed(inputs));
  }

  /** The cross-encoder's logit per (query, document) input. */
  async score(inputs: PoolingInput[]): Promise<number[]> {
    return this.call(() => this.native.score(inputs));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }

  private async call<T>(run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new EngineClosedError('the engine is closed');
    try {
      return await run();
    } catch (err) {
      // Inputs are checked natively (length, ids, task): a refusal is the caller's fault.
      throw new InvalidRequestError((err as Error).message);
    }
  }
}
