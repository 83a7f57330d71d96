// `pagoda serve <model> [flags]`: one model behind an OpenAI-compatible API, flags named as vLLM's.
import { parseArgs } from 'node:util';
import {
  BACKEND_KINDS,
  ServeOptionsSchema,
  startRunner,
  type ServeOptionsInput,
} from '@pagoda/runner';
import { describeZodError, KV_CACHE_DTYPES, parseAllowedOrigins } from '@pagoda/protocol';
import { ENGINE_FLAGS, prefixCaching } from '../engine-flags.ts';
import { commandLogger } from '../log-output.ts';

/**
 * vLLM flags that scripts written for `vllm serve` carry and that change nothing here (no model code
 * is run, so nothing to trust; logging, swap and the web server are this runner's own). They are
 * taken so such a script runs, named in a warning, and passed on to vllm by the vllm backend.
 */
const VLLM_ONLY_FLAGS = {
  'trust-remote-code': { type: 'boolean' },
  'disable-log-requests': { type: 'boolean' },
  'enable-log-requests': { type: 'boolean' },
  'disable-log-stats': { type: 'boolean' },
  'disable-uvicorn-access-log': { type: 'boolean' },
  'disable-fastapi-docs': { type: 'boolean' },
  'uvicorn-log-level': { type: 'string' },
  'swap-space': { type: 'string' },
  'max-log-len': { type: 'string' },
} as const;

const FLAGS = {
  backend: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'api-key': { type: 'string' },
  'served-model-name': { type: 'string', multiple: true },
  device: { type: 'string' },
  quantization: { type: 'string' },
  ...ENGINE_FLAGS,
  'chat-template': { type: 'string' },
  'tool-call-parser': { type: 'string' },
  'enable-auto-tool-choice': { type: 'boolean' },
  'reasoning-parser': { type: 'string' },
  ...VLLM_ONLY_FLAGS,
  'generation-config': { type: 'string' },
  'allowed-origins': { type: 'string' },
  'override-generation-config': { type: 'string' },
  'cpu-threads': { type: 'string' },
  'max-waiting-requests': { type: 'string' },
  'max-request-body-bytes': { type: 'string' },
  'remote-base-url': { type: 'string' },
  'remote-api-key': { type: 'string' },
  'backend-executable': { type: 'string' },
  'backend-start-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const USAGE = `usage: pagoda serve <model> [flags]

Serves one model over an OpenAI-compatible API (like \`vllm serve\`). <model> is a checkpoint folder
(builtin, vllm), a .gguf file (llamacpp) or the upstream model name (remote).

  --backend ${BACKEND_KINDS.join('|')}   (default builtin)
  --host H --port P --api-key KEY --served-model-name NAME [...]
  --device auto|cpu|cuda  --dtype auto|float32|bfloat16|float16  --seed N  --load-format auto|dummy
  --kv-cache-dtype ${KV_CACHE_DTYPES.join('|')}
  --max-model-len N  --max-num-seqs N  --max-num-batched-tokens N  --block-size N
  --gpu-memory-utilization F  --enforce-eager  --enable-prefix-caching | --no-enable-prefix-caching
  --tensor-parallel-size N  --quantization fp8|gptq|awq|compressed-tensors
  --chat-template FILE|TEXT
  --tool-call-parser hermes|llama3_json|mistral  --enable-auto-tool-choice  (tool_choice "auto")
  --reasoning-parser qwen3|deepseek_r1          <think> blocks into reasoning_content
  --generation-config auto|vllm|DIR   sampling defaults from generation_config.json (default auto: the model's)
  --override-generation-config JSON   e.g. '{"temperature": 0.5}' over those defaults
  --trust-remote-code --disable-log-requests --swap-space N ...   vllm serve flags with nothing to do here (warned)
  --allowed-origins LIST   web origins whose pages may call (CORS): '["https://app.example"]' or a,b (default *)
  --cpu-threads N                CPU engine threads (default: all cores but one, kept for HTTP)
  --max-waiting-requests N       requests allowed to wait before 429 (default: no bound)
  --max-request-body-bytes N     larger bodies get 413 (default 16 MiB)
  --remote-base-url URL --remote-api-key KEY           (remote backend)
  --backend-executable PATH --backend-start-timeout S  (vllm, llamacpp backends)
`;

type Values = {
  [K in keyof typeof FLAGS]?: (typeof FLAGS)[K] extends { multiple: true }
    ? string[]
    : (typeof FLAGS)[K]['type'] extends 'boolean'
      ? boolean
      : string;
};

function number(values: Values, flag: keyof Values): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n))
    throw new Error(`--${flag} takes a number, got '${String(raw)}'`);
  return n;
}

/** The vLLM-only flags given, as command-line words (for the warning and for vllm itself). */
function vllmOnlyFlags(values: Values): string[] {
  const out: string[] = [];
  for (const flag of Object.keys(VLLM_ONLY_FLAGS) as Array<keyof typeof VLLM_ONLY_FLAGS>) {
    const value = values[flag];
    if (value === undefined || value === false) continue;
    out.push(`--${flag}`, ...(typeof value === 'string' ? [value] : []));
  }
  return out;
}

function origins(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseAllowedOrigins(raw);
  } catch (err) {
    throw new Error(`--allowed-origins: ${(err as Error).message}`, { cause: err });
  }
}

function jsonObject(values: Values, flag: keyof Values): Record<string, unknown> | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(raw));
  } catch {
    parsed = null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`--${flag} takes a JSON object, got '${String(raw)}'`);
  return parsed as Record<string, unknown>;
}

/** The runner's options from the command line; throws with the offending flag named. */
export function serveOptionsFromArgv(argv: string[]): ServeOptionsInput | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    options: FLAGS,
    strict: true,
    allowPositionals: true,
  }) as { values: Values; positionals: string[] };
  if (values.help) return 'help';
  if (positionals.length !== 1) {
    throw new Error(
      positionals.length === 0
        ? 'give the model to serve: pagoda serve <model path> [flags]'
        : `one model per runner; got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  const enablePrefixCaching = prefixCaching(values);
  const input: ServeOptionsInput = {
    model: positionals[0]!,
    backend: values.backend as ServeOptionsInput['backend'],
    host: values.host,
    port: number(values, 'port'),
    // PAGODA_SERVE_API_KEY: how a worker hands its runner the replica's secret without showing it in argv.
    api_key: values['api-key'] ?? (process.env.PAGODA_SERVE_API_KEY || null),
    served_model_name: values['served-model-name'],
    device: values.device as ServeOptionsInput['device'],
    tensor_parallel_size: number(values, 'tensor-parallel-size'),
    quantization: values.quantization,
    enforce_eager: values['enforce-eager'],
    gpu_memory_utilization: number(values, 'gpu-memory-utilization'),
    max_model_len: number(values, 'max-model-len'),
    max_num_seqs: number(values, 'max-num-seqs'),
    max_num_batched_tokens: number(values, 'max-num-batched-tokens'),
    block_size: number(values, 'block-size'),
    enable_prefix_caching: enablePrefixCaching,
    dtype: values.dtype as ServeOptionsInput['dtype'],
    kv_cache_dtype: values['kv-cache-dtype'] as ServeOptionsInput['kv_cache_dtype'],
    seed: number(values, 'seed'),
    load_format: values['load-format'] as ServeOptionsInput['load_format'],
    chat_template: values['chat-template'],
    tool_call_parser: values['tool-call-parser'] as ServeOptionsInput['tool_call_parser'],
    enable_auto_tool_choice: values['enable-auto-tool-choice'],
    reasoning_parser: values['reasoning-parser'] as ServeOptionsInput['reasoning_parser'],
    generation_config: values['generation-config'],
    vllm_only_flags: vllmOnlyFlags(values),
    allowed_origins: origins(values['allowed-origins']),
    override_generation_config: jsonObject(values, 'override-generation-config'),
    chat_template_advice: process.env.PAGODA_CHAT_TEMPLATE_ADVICE || undefined,
    cpu_threads: number(values, 'cpu-threads'),
    max_waiting_requests: number(values, 'max-waiting-requests'),
    max_request_body_bytes: number(values, 'max-request-body-bytes'),
    remote_base_url: values['remote-base-url'],
    remote_api_key: values['remote-api-key'],
    backend_executable: values['backend-executable'],
    backend_start_timeout: number(values, 'backend-start-timeout'),
  };
  const checked = ServeOptionsSchema.safeParse(input);
  if (!checked.success) {
    const { message, param } = describeZodError(checked.error);
    throw new Error(
      param ? `--${param.replace(/_/g, '-')}: ${message.replace(`'${param}': `, '')}` : message,
    );
  }
  return input;
}

export async function run(argv: string[]): Promise<number> {
  let input: ServeOptionsInput | 'help';
  try {
    input = serveOptionsFromArgv(argv);
  } catch (err) {
    process.stderr.write(`pagoda serve: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (input === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  // Readable lines on a terminal; JSON lines under a worker, which reads them for load progress.
  const log = commandLogger('runner', process.env.PAGODA_LOG_LEVEL, process.stderr);
  if (input.vllm_only_flags?.length && input.backend !== 'vllm')
    log.warn({ flags: input.vllm_only_flags }, 'vLLM flags that change nothing here, ignored');
  const runner = await startRunner(input, log);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await runner.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  try {
    await runner.loaded;
  } catch (err) {
    process.stderr.write(`pagoda serve: ${(err as Error).message}\n`);
    await runner.close();
    return 1;
  }
  process.stdout.write(
    `pagoda serve: ${runner.options.served_model_name[0] ?? runner.options.model} ready at ${runner.url}/v1\n`,
  );
  // Serve until a signal ends the process.
  await new Promise<never>(() => {});
  return 0;
}
