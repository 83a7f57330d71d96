// The engine flags that `pagoda serve` and `pagoda launch` / `pagoda plan` both take, named as vLLM's
// engine arguments name them.
import { UsageError } from './command-options.ts';

export const ENGINE_FLAGS = {
  'gpu-memory-utilization': { type: 'string' },
  'max-model-len': { type: 'string' },
  'enforce-eager': { type: 'boolean' },
  'tensor-parallel-size': { type: 'string' },
  'max-num-seqs': { type: 'string' },
  'max-num-batched-tokens': { type: 'string' },
  'block-size': { type: 'string' },
  'enable-prefix-caching': { type: 'boolean' },
  'no-enable-prefix-caching': { type: 'boolean' },
  dtype: { type: 'string' },
  'kv-cache-dtype': { type: 'string' },
  seed: { type: 'string' },
  'load-format': { type: 'string' },
} as const;

/** enable_prefix_caching from its flag pair: true, false, or undefined (the engine's default). */
export function prefixCaching(values: {
  'enable-prefix-caching'?: boolean;
  'no-enable-prefix-caching'?: boolean;
}): boolean | undefined {
  if (values['enable-prefix-caching'] && values['no-enable-prefix-caching'])
    throw new UsageError(
      '--enable-prefix-caching and --no-enable-prefix-caching contradict each other; give one',
    );
  return values['enable-prefix-caching']
    ? true
    : values['no-enable-prefix-caching']
      ? false
      : undefined;
}
