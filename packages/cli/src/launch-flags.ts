// The flags of `pagoda launch` and `pagoda plan`, named as Xinference's CLI and vLLM's engine
// arguments name them, turned into a POST /v1/models body and checked against its schema.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeZodError, KV_CACHE_DTYPES, LaunchRequestSchema, type LaunchRequest } from '@pagoda/protocol';
import { CONNECTION_FLAGS, CONNECTION_HELP, numberFlag, UsageError } from './command-options.ts';
import { ENGINE_FLAGS, prefixCaching } from './engine-flags.ts';

export const LAUNCH_FLAGS = {
  ...CONNECTION_FLAGS,
  'model-name': { type: 'string', short: 'n' },
  'model-uid': { type: 'string', short: 'u' },
  'model-type': { type: 'string', short: 't' },
  'model-engine': { type: 'string' },
  'model-format': { type: 'string', short: 'f' },
  'size-in-billions': { type: 'string', short: 's' },
  quantization: { type: 'string', short: 'q' },
  'n-gpu': { type: 'string' },
  'gpu-idx': { type: 'string' },
  'worker-ip': { type: 'string' },
  replica: { type: 'string', short: 'r' },
  'model-path': { type: 'string' },
  ...ENGINE_FLAGS,
  'request-limits': { type: 'string' },
} as const;

export const LAUNCH_FLAGS_HELP = `  -n, --model-name NAME           catalog or registered model (or give it as the first argument)
  -u, --model-uid UID             the name clients use in "model" (default: chosen by the server)
  -t, --model-type LLM|embedding|rerank   checked against the model (Xinference's flag; optional)
  --model-engine builtin|vllm|llama.cpp|remote   (default builtin)
  -f, --model-format safetensors|gguf|awq|gptq|fp8   -s, --size-in-billions N   -q, --quantization Q
  --n-gpu N|auto   --gpu-idx 0,1   --worker-ip HOST   -r, --replica N   --model-path DIR
  --gpu-memory-utilization F  --max-model-len N  --enforce-eager  --tensor-parallel-size N
  --max-num-seqs N  --max-num-batched-tokens N  --block-size N  --dtype D  --kv-cache-dtype ${KV_CACHE_DTYPES.join('|')}
  --enable-prefix-caching | --no-enable-prefix-caching  --seed N  --load-format auto|dummy
  --request-limits N              requests in flight before the proxy answers 429
${CONNECTION_HELP}`;

type Flags = typeof LAUNCH_FLAGS;
export type LaunchValues = {
  [K in keyof Flags]?: Flags[K]['type'] extends 'boolean' ? boolean : string;
};

function gpuIdx(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p)))
    throw new UsageError(
      `--gpu-idx takes GPU indices separated by commas (e.g. 0,1), got '${raw}'`,
    );
  return parts.map(Number);
}

function flagName(param: string): string {
  const byParam: Record<string, string> = { model_size_in_billions: 'size-in-billions' };
  return `--${byParam[param] ?? param.replace(/_/g, '-')}`;
}

/** The launch body from parsed flags and positionals; throws UsageError naming the flag at fault. */
export function launchBody(values: LaunchValues, positionals: string[]): LaunchRequest {
  if (positionals.length > 1)
    throw new UsageError(`one model at a time; got ${positionals.join(' ')}`);
  const name = values['model-name'] ?? positionals[0];
  if (!name)
    throw new UsageError('name the model: pagoda launch <model_name> (see `pagoda registrations`)');
  if (values['model-name'] && positionals[0] && positionals[0] !== values['model-name']) {
    throw new UsageError(
      `the model is named twice: '${positionals[0]}' and --model-name '${values['model-name']}'`,
    );
  }
  const enablePrefixCaching = prefixCaching(values);
  const nGpu = values['n-gpu'];
  const size = values['size-in-billions'];
  const candidate: Record<string, unknown> = {
    model_name: name,
    model_uid: values['model-uid'],
    model_type: values['model-type'],
    model_engine: values['model-engine'],
    model_format: values['model-format'],
    model_size_in_billions:
      size === undefined
        ? undefined
        : /^\d+(\.\d+)?$/.test(size) && size.includes('.')
          ? size.replace('.', '_')
          : /^\d+$/.test(size)
            ? Number(size)
            : size,
    quantization: values.quantization,
    n_gpu:
      nGpu === undefined
        ? undefined
        : nGpu === 'auto'
          ? 'auto'
          : numberFlag(nGpu, 'n-gpu', { integer: true }),
    gpu_idx: gpuIdx(values['gpu-idx']),
    worker_ip: values['worker-ip'],
    replica: numberFlag(values.replica, 'replica', { integer: true }),
    model_path: values['model-path'] === undefined ? undefined : resolve(values['model-path']),
    gpu_memory_utilization: numberFlag(values['gpu-memory-utilization'], 'gpu-memory-utilization'),
    max_model_len: numberFlag(values['max-model-len'], 'max-model-len', { integer: true }),
    enforce_eager: values['enforce-eager'],
    tensor_parallel_size: numberFlag(values['tensor-parallel-size'], 'tensor-parallel-size', {
      integer: true,
    }),
    max_num_seqs: numberFlag(values['max-num-seqs'], 'max-num-seqs', { integer: true }),
    max_num_batched_tokens: numberFlag(values['max-num-batched-tokens'], 'max-num-batched-tokens', {
      integer: true,
    }),
    block_size: numberFlag(values['block-size'], 'block-size', { integer: true }),
    enable_prefix_caching: enablePrefixCaching,
    dtype: values.dtype,
    kv_cache_dtype: values['kv-cache-dtype'],
    seed: numberFlag(values.seed, 'seed', { integer: true }),
    load_format: values['load-format'],
    request_limits: numberFlag(values['request-limits'], 'request-limits', { integer: true }),
  };
  const body = Object.fromEntries(Object.entries(candidate).filter(([, v]) => v !== undefined));
  const checked = LaunchRequestSchema.safeParse(body);
  if (!checked.success) {
    const { message, param } = describeZodError(checked.error);
    throw new UsageError(
      param ? `${flagName(param)}: ${message.replace(`'${param}': `, '')}` : message,
    );
  }
  return checked.data;
}

export function parseLaunchArgv(argv: string[]): { values: LaunchValues; positionals: string[] } {
  return parseArgs({ args: argv, options: LAUNCH_FLAGS, strict: true, allowPositionals: true }) as {
    values: LaunchValues;
    positionals: string[];
  };
}
