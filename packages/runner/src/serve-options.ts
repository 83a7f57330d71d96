// The options of one runner (`pagoda serve`), named as vLLM names its flags; validated with zod.
import { z } from 'zod';
import { KV_CACHE_DTYPES } from '@pagoda/protocol';

export const BACKEND_KINDS = ['builtin', 'remote', 'vllm', 'llamacpp'] as const;

export const ServeOptionsSchema = z.object({
  /** Checkpoint folder (builtin, vllm), GGUF file (llamacpp), or the upstream model name (remote). */
  model: z.string().min(1),
  backend: z.enum(BACKEND_KINDS).default('builtin'),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8000),
  api_key: z.string().min(1).nullable().default(null),
  served_model_name: z.array(z.string().min(1)).default([]),
  device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
  tensor_parallel_size: z.number().int().min(1).optional(),
  /** fp8 (quantize a float checkpoint at load) or the checkpoint's own method (gptq, awq, compressed-tensors). */
  quantization: z.string().optional(),
  enforce_eager: z.boolean().optional(),
  gpu_memory_utilization: z.number().gt(0).max(1).optional(),
  max_model_len: z.number().int().min(1).optional(),
  max_num_seqs: z.number().int().min(1).optional(),
  max_num_batched_tokens: z.number().int().min(1).optional(),
  block_size: z.number().int().min(1).optional(),
  enable_prefix_caching: z.boolean().optional(),
  dtype: z
    .enum(['auto', 'float32', 'bfloat16', 'float16', 'half', 'float', 'bf16', 'fp16', 'fp32'])
    .optional(),
  /** KV cache element type; the engine refuses one it cannot keep (the server checks before launching). */
  kv_cache_dtype: z.enum(KV_CACHE_DTYPES).optional(),
  seed: z.number().int().optional(),
  load_format: z.enum(['auto', 'dummy', 'safetensors']).optional(),
  /** A template file or the template text itself. */
  chat_template: z.string().optional(),
  /** How the model writes tool calls (vLLM's --tool-call-parser); needed for tool_choice "auto". */
  tool_call_parser: z.enum(['hermes', 'llama3_json', 'mistral']).optional(),
  /** vLLM's --enable-auto-tool-choice: tool_choice "auto" (the default with tools) is allowed. */
  enable_auto_tool_choice: z.boolean().optional(),
  /** vLLM's --reasoning-parser: <think> blocks go to reasoning_content. */
  reasoning_parser: z.enum(['qwen3', 'deepseek_r1']).optional(),
  /** Flags of `vllm serve` with nothing to do here (see the CLI); the vllm backend passes them on. */
  vllm_only_flags: z.array(z.string()).default([]),
  /** vLLM's --allowed-origins: web origins whose pages may call (CORS); any by default, as vLLM. */
  allowed_origins: z.array(z.string().min(1)).default(['*']),
  /** vLLM's --generation-config: sampling defaults from generation_config.json ("auto": the model's, "vllm": none, or a folder). */
  generation_config: z.string().min(1).default('auto'),
  /** vLLM's --override-generation-config: these fields over the generation config's. */
  override_generation_config: z.record(z.string(), z.unknown()).optional(),
  /**
   * What to tell a client of a model without a chat template, after "this model has no chat
   * template: ". The platform's worker sets it (PAGODA_CHAT_TEMPLATE_ADVICE), since there the fix is
   * the model's registration, not this runner's flags.
   */
  chat_template_advice: z.string().min(1).optional(),
  /** Pagoda's own: CPU engine threads (default: all cores but one, which the HTTP event loop keeps). */
  cpu_threads: z.number().int().min(1).optional(),
  /** Pagoda's own: how many requests may wait for admission before 429 (default: no bound, as vLLM). */
  max_waiting_requests: z.number().int().min(0).default(Number.MAX_SAFE_INTEGER),
  max_request_body_bytes: z
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
  /** remote backend: the OpenAI base URL (…/v1). */
  remote_base_url: z.string().url().optional(),
  remote_api_key: z.string().optional(),
  /** vllm / llamacpp backends: the executable to spawn (default `vllm` / `llama-server` on PATH). */
  backend_executable: z.string().optional(),
  /** vllm / llamacpp backends: how long to wait for the child's /health (seconds). */
  backend_start_timeout: z.number().positive().default(600),
});
export type ServeOptionsInput = z.input<typeof ServeOptionsSchema>;
export type ServeOptions = z.output<typeof ServeOptionsSchema>;

/** vLLM's default for --max-num-seqs. */
export const DEFAULT_MAX_NUM_SEQS = 256;

/** The engine dtype for vLLM's spellings. */
export function engineDtype(
  dtype: ServeOptions['dtype'],
): 'auto' | 'float32' | 'bfloat16' | 'float16' | undefined {
  switch (dtype) {
    case 'half':
    case 'fp16':
      return 'float16';
    case 'bf16':
      return 'bfloat16';
    case 'float':
    case 'fp32':
      return 'float32';
    default:
      return dtype;
  }
}

/** The CPU engine's threads: as asked, else every core but one (the event loop's). */
export function cpuThreads(asked: number | undefined, cores: number): number {
  return asked ?? Math.max(1, cores - 1);
}
