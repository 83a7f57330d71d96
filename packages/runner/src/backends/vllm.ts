// The vllm backend: spawns `vllm serve` with the runner's own flags, on a private loopback port.
import type { Logger } from 'pino';
import type { ServeOptions } from '../serve-options.ts';
import { freePort } from './child-server.ts';
import { SpawnedBackend } from './spawned.ts';

/** `vllm serve` arguments for these options: every flag the user gave, under the same name. */
export function vllmArgs(opts: ServeOptions, port: number): string[] {
  const args = ['serve', opts.model, '--host', '127.0.0.1', '--port', String(port)];
  const flag = (name: string, value: string | number | undefined) => {
    if (value !== undefined) args.push(`--${name}`, String(value));
  };
  flag('tensor-parallel-size', opts.tensor_parallel_size);
  flag('quantization', opts.quantization);
  if (opts.enforce_eager) args.push('--enforce-eager');
  flag('gpu-memory-utilization', opts.gpu_memory_utilization);
  flag('max-model-len', opts.max_model_len);
  flag('max-num-seqs', opts.max_num_seqs);
  flag('max-num-batched-tokens', opts.max_num_batched_tokens);
  flag('block-size', opts.block_size);
  if (opts.enable_prefix_caching === true) args.push('--enable-prefix-caching');
  if (opts.enable_prefix_caching === false) args.push('--no-enable-prefix-caching');
  flag('dtype', opts.dtype);
  flag('kv-cache-dtype', opts.kv_cache_dtype);
  flag('seed', opts.seed);
  flag('load-format', opts.load_format);
  if (opts.device !== 'auto') flag('device', opts.device);
  if (opts.served_model_name.length > 0)
    args.push('--served-model-name', ...opts.served_model_name);
  flag('chat-template', opts.chat_template);
  if (opts.generation_config !== 'auto') flag('generation-config', opts.generation_config);
  if (opts.override_generation_config)
    flag('override-generation-config', JSON.stringify(opts.override_generation_config));
  args.push(...opts.vllm_only_flags);
  return args;
}

export async function createVllmBackend(opts: ServeOptions, log: Logger): Promise<SpawnedBackend> {
  const port = await freePort();
  return new SpawnedBackend({
    kind: 'vllm',
    name: 'vllm',
    executable: opts.backend_executable ?? 'vllm',
    args: vllmArgs(opts, port),
    port,
    model: opts.served_model_name[0] ?? opts.model,
    root: opts.model,
    startTimeoutMs: opts.backend_start_timeout * 1000,
    log,
  });
}
