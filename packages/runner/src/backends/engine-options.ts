// What the builtin backends (generative and pooling) tell packages/engine, from the serve options.
import { availableParallelism } from 'node:os';
import type { EngineOptions } from '@pagoda/engine';
import { cpuThreads, engineDtype, type ServeOptions } from '../serve-options.ts';

/** What every engine takes: the model and how to load it, its length limits, seed and CPU threads. */
export function baseEngineOptions(o: ServeOptions, model: string): EngineOptions {
  return {
    model,
    load_format: o.load_format === 'safetensors' ? 'auto' : o.load_format,
    dtype: engineDtype(o.dtype),
    // "auto" runs on the GPU when the engine was built with CUDA and one is visible.
    device: o.device,
    max_model_len: o.max_model_len,
    max_num_batched_tokens: o.max_num_batched_tokens,
    seed: o.seed,
    num_threads: cpuThreads(o.cpu_threads, availableParallelism()),
  };
}

/** `options` without its undefined entries, so the engine's own defaults apply to them. */
export function definedOptions<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}
