// The native addon's shape as this package uses it, loaded once through @pagoda/native.
import { createRequire } from 'node:module';
import type { EngineStats, GenerateDelta, ModelInfo } from './types.ts';

/** One sequence's output of one engine step as the addon delivers it: the delta, addressed. */
export interface NativeDelta extends GenerateDelta {
  request_id: string;
  request_finished: boolean;
}

export type NativeStepCallback = (deltas: NativeDelta[], error: string | null) => void;

export interface NativeEngine {
  load(options: object): Promise<void>;
  addRequest(id: string, promptTokenIds: number[], params: object): void;
  abort(id: string): boolean;
  setTokenMask(id: string, index: number, position: number, mask: Int32Array): void;
  stats(): EngineStats;
  modelInfo(): ModelInfo;
  close(): Promise<void>;
}

/** One input of a pooling call: token ids and, for BERT pairs, their token type ids. */
export interface NativePoolingInput {
  token_ids: number[];
  token_type_ids?: number[];
}

export interface NativePoolingInfo {
  architecture: string;
  task: 'embed' | 'score';
  hidden_size: number;
  max_input_tokens: number;
  pooling: string;
  normalize: boolean;
  device: string;
}

export interface NativePoolingEngine {
  load(options: object): Promise<void>;
  info(): NativePoolingInfo;
  embed(inputs: NativePoolingInput[]): Promise<Float32Array[]>;
  score(inputs: NativePoolingInput[]): Promise<number[]>;
  close(): void;
}

interface NativeModule {
  Engine: new (onStep: NativeStepCallback) => NativeEngine;
  PoolingEngine: new () => NativePoolingEngine;
}

let cached: NativeModule | null = null;

export function nativeModule(): NativeModule {
  if (!cached) cached = createRequire(import.meta.url)('@pagoda/native') as NativeModule;
  return cached;
}
