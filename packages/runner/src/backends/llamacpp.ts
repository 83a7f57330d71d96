// The llamacpp backend: spawns `llama-server` on a GGUF file, mapping the runner's vLLM-named flags to
// llama.cpp's; flags with no llama.cpp meaning are refused by name. Its /tokenize speaks another dialect.
import type {
  DetokenizeRequest,
  DetokenizeResponse,
  TokenizeRequest,
  TokenizeResponse,
} from '@pagoda/protocol';
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { ApiError } from '../api-error.ts';
import type { ServeOptions } from '../serve-options.ts';
import { freePort } from './child-server.ts';
import { SpawnedBackend } from './spawned.ts';

/** Options llama-server has no counterpart for, with their flag names. */
export const UNSUPPORTED: Array<[keyof ServeOptions, string]> = [
  ['tensor_parallel_size', '--tensor-parallel-size'],
  ['quantization', '--quantization'],
  ['enforce_eager', '--enforce-eager'],
  ['gpu_memory_utilization', '--gpu-memory-utilization'],
  ['block_size', '--block-size'],
  ['enable_prefix_caching', '--enable-prefix-caching'],
  ['dtype', '--dtype'],
  ['kv_cache_dtype', '--kv-cache-dtype'],
  ['load_format', '--load-format'],
  ['kv_cache_dtype', '--kv-cache-dtype'],
];

/** llama-server's default for --parallel when --max-num-seqs is not given. */
const DEFAULT_SLOTS = 4;

/** `llama-server` arguments for these options; throws naming any flag llama.cpp cannot honour. */
export function llamaServerArgs(opts: ServeOptions, port: number): string[] {
  const given = UNSUPPORTED.filter(([key]) => opts[key] !== undefined).map(([, flag]) => flag);
  if (given.length > 0) {
    throw new Error(
      `the llamacpp backend does not support ${given.join(', ')}; leave ${given.length > 1 ? 'them' : 'it'} out (llama.cpp takes these from the GGUF file or decides them itself)`,
    );
  }
  if (!opts.model.toLowerCase().endsWith('.gguf')) {
    throw new Error(`the llamacpp backend serves a GGUF file; '${opts.model}' is not a .gguf path`);
  }
  const slots = opts.max_num_seqs ?? DEFAULT_SLOTS;
  const args = [
    '--model',
    opts.model,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--parallel',
    String(slots),
  ];
  // llama-server's context is shared by its slots: each slot gets ctx-size / parallel tokens.
  if (opts.max_model_len !== undefined) args.push('--ctx-size', String(opts.max_model_len * slots));
  if (opts.max_num_batched_tokens !== undefined)
    args.push('--batch-size', String(opts.max_num_batched_tokens));
  if (opts.seed !== undefined) args.push('--seed', String(opts.seed));
  args.push('--n-gpu-layers', opts.device === 'cpu' ? '0' : '999');
  if (opts.served_model_name[0]) args.push('--alias', opts.served_model_name[0]);
  if (opts.chat_template !== undefined) {
    args.push(
      existsSync(opts.chat_template) ? '--chat-template-file' : '--chat-template',
      opts.chat_template,
    );
  }
  return args;
}

class LlamaServerBackend extends SpawnedBackend {
  override async tokenize(req: TokenizeRequest): Promise<TokenizeResponse> {
    if (req.prompt === undefined)
      throw new ApiError(501, 'the llamacpp backend tokenizes prompts only, not chat messages');
    const out = (await this.postJson('/tokenize', {
      content: req.prompt,
      add_special: req.add_special_tokens ?? true,
    })) as { tokens: number[] };
    return {
      count: out.tokens.length,
      max_model_len: this.info().max_model_len ?? 0,
      tokens: out.tokens,
    };
  }

  override async detokenize(req: DetokenizeRequest): Promise<DetokenizeResponse> {
    const out = (await this.postJson('/detokenize', { tokens: req.tokens })) as { content: string };
    return { prompt: out.content };
  }
}

export async function createLlamaCppBackend(
  opts: ServeOptions,
  log: Logger,
): Promise<SpawnedBackend> {
  const port = await freePort();
  const args = llamaServerArgs(opts, port);
  return new LlamaServerBackend({
    kind: 'llamacpp',
    name: 'llama-server',
    executable: opts.backend_executable ?? 'llama-server',
    args,
    port,
    // llama-server answers to its --alias, else to the file path it was given
    model: opts.served_model_name[0] ?? opts.model,
    root: opts.model,
    startTimeoutMs: opts.backend_start_timeout * 1000,
    log,
  });
}
